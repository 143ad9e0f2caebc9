"""The glue between PostgresLogParser and its C path.

**The C path** (the optional ``_speedups`` extension, ``_speedups_pg.c``): stderr buffers in RDS's
``%t:%r:%u@%d:[%p]:`` or Debian's ``%m [%p] %q%u@%d `` layout are scanned by ``pg_starts`` (the same
entry starts as the regexes, with each matched line's fields as offsets); ``banners`` then runs
``pg_region``, which classifies, folds parse/bind durations into the same ``_prepared`` dict and writes
the events' columns (and class ids, by a C port of fingerprint_pg) into Arrow buffers, as the MySQL
path does. What it is not sure to read exactly as the Python code (a numeric zone offset anywhere in
the buffer: the whole buffer; a ``log_statement`` line and the lone duration paired with it, an
unreadable prefix, an IPv6 or non-ASCII client, odd numbers: that entry) it leaves to the Python
code (postgres.py), in file order, so the pairing state sees every entry in order. The columns go to
the sink at the first of their events (``parse_entry``, or ``parse_run`` for runs of consecutive
events), so the rows keep the file's order; tests/slowlog/test_speedups_pg.py compares both paths.

PostgresLogParser calls ``pg_starts`` itself, through its module's name for it (tests switch the C path
off by setting ``postgres._c_pg_starts`` to None); what runs ``pg_region`` and hands its segments to
the sink is ``NativePath``, a mixin of the parser.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..fingerprint_pg import fingerprint_pg_cached
from .base import BATCH_ROWS, NativeClasses, RecordSink, native_arrays
from .postgres_prefix import DEBIAN_PREFIX, RDS_PREFIX

try:  # the optional C accelerator: stderr logs in a known layout scanned, paired and built as Arrow buffers
    from .._speedups import ClassTable as _ClassTable
    from .._speedups import pg_region as _c_pg_region
    from .._speedups import pg_starts as _c_pg_starts
except ImportError:  # pragma: no cover - no compiler on this machine
    _ClassTable = _c_pg_region = _c_pg_starts = None

# log_line_prefix layouts the C scan (pg_starts / pg_region) reads, by its layout number
_NATIVE_LAYOUTS = {RDS_PREFIX: 0, DEBIAN_PREFIX: 1}
# regions with at most this many skipped entries hand their event runs to base._consume's parse_run
_RUN_MAX_RANGES = 16


def _fingerprint_pg_raw(query: bytes) -> bytes:
    """The C ClassTable's fallback: fingerprint_pg_cached of the query as the Python path decodes it."""
    return fingerprint_pg_cached(query.decode("utf-8", "replace")).encode("utf-8")


class NativePath:
    """PostgresLogParser's C path, a mixin: banners() over the scan of ``starts`` (``_scan``), and the
    column segments it builds, handed to the sink in file order by parse_entry / ``parse_run``."""

    def _native_banners(self, buf: bytes, end: int, ranges: list, events: dict) -> None:
        """banners() over the C scan: pg_region does the entries it reads exactly (skipped ranges,
        parse/bind folding, the events' columns) on the same pending/prepared dicts, and stops at
        each one it leaves to Python (log_statement lines, unreadable prefixes, odd fields), which
        _pair() does before the C pass resumes: the state sees the entries in file order."""
        if self._classes is None:
            self._classes = NativeClasses(_ClassTable(_fingerprint_pg_raw, kind="postgres"))
        table, lines = self._classes.table, self._scan
        segments = self._segments
        k = 0
        while True:
            k, declined, declined_end, seg = _c_pg_region(
                buf, lines, k, end, self._pending, self._prepared, BATCH_ROWS, table, ranges)
            if seg is not None:
                n, cols, xmap, tmap, ids = seg
                segments.append((n, native_arrays(n, cols, xmap, tmap, ids, self._classes),
                                 memoryview(cols[13][1]).cast("q")))  # source_offset: the entry starts
            if declined >= 0:
                self._pair(buf, declined, declined_end, ranges, events)
                k += 1
            elif seg is None or seg[0] < BATCH_ROWS:
                break
        self._next_segment(0)
        if segments and len(ranges) <= _RUN_MAX_RANGES:
            # base._consume hands runs of consecutive events to parse_run in one call; but with
            # skipped ranges it copies the rest of its point list for every run and every skipped
            # entry, so a region with many of them (extended protocol: parse, bind, execute ...)
            # takes the per-entry path (parse_entry below) instead
            self.parse_run = self._parse_run

    def _next_segment(self, index: int) -> None:
        self._seg_index, self._row = index, 0
        self._seg_starts = self._segments[index][2] if index < len(self._segments) else None

    def _emit_segment(self, sink: RecordSink) -> None:
        """The current segment's events to the sink, their offsets made absolute."""
        n, arrays, starts = self._segments[self._seg_index]
        arrays = dict(arrays)
        arrays["source_offset"] = pa.array(np.frombuffer(starts, np.int64) + sink.base_offset)
        sink.add_arrays(n, arrays)

    def _parse_run(self, buf: bytes, points: list[int], i: int, sink: RecordSink) -> tuple[int, int, int]:
        """base._consume's run hook: the consecutive events of the current segment from points[i]
        (index after them, their bytes, their number); (i, 0, 0) where no C event starts."""
        starts = self._seg_starts
        first = self._row
        if starts is None or buf is not self._buf or points[i] != starts[first]:
            return i, 0, 0
        n, last = len(starts), len(points) - 1
        j, row = i, first
        while row < n and j < last and points[j] == starts[row]:
            j += 1
            row += 1
        if not first:
            self._emit_segment(sink)
        if row == n:
            self._next_segment(self._seg_index + 1)
        else:
            self._row = row
        # each event ends where the next point is (the next entry, or the cut)
        return j, points[j] - points[i], row - first
