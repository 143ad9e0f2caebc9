"""The engine-independent half of parsing: chunked streaming, byte accounting, Arrow batching.

An engine module supplies an `EntryParser`: where entries start in a buffer (`starts`), which
lines are server banners (`banner`), and how one entry becomes an event (`parse_entry`). This
module reads the input in large chunks, cuts them at entry starts, and accounts every byte as an
event, a skipped banner/blank, or a rejected piece, so nothing is lost silently.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import accumulate, chain
from operator import itemgetter
from typing import BinaryIO, Iterator

import numpy as np
import pyarrow as pa

from ..events import EVENT_SCHEMA
from ..fingerprint import checksum as _checksum
from ..fingerprint import checksum_raw as _checksum_raw
from ..fingerprint import fingerprint as _fingerprint

CHUNK_SIZE = 2 << 20
BATCH_ROWS = 8192  # rows per record batch: big enough for Arrow, small enough for flat memory
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)
MAX_SAMPLES = 5
SAMPLE_CHARS = 200


@dataclass(frozen=True)
class ThrottleSummary:
    """A server's count of statements it left out of the log (MySQL's `throttle: N 'index not used'
    warning(s) suppressed.`): a valid record but no statement, so never an event or a class.
    parse_entry returns it instead of adding an event; ParseStats counts it, its bytes skipped."""
    suppressed: int  # the statements it stands for
    query_time: float  # their summed time as the server reports it (seconds; 0.0 when absent)


@dataclass
class ParseStats:
    source_file: str | None = None
    engine: str | None = None
    bytes_total: int = 0
    events: int = 0
    event_bytes: int = 0
    skipped_bytes: int = 0  # banners, blank lines, log lines that are not statements
    rejected: int = 0
    rejected_bytes: int = 0
    rejected_samples: list[str] = field(default_factory=list)
    # Compressed input no event could come from (damaged, cut short, junk, past the decompression
    # limit: decompress.py); not in bytes_total, which counts decompressed bytes. One line per stretch.
    lost_bytes: int = 0
    input_errors: list[str] = field(default_factory=list)
    # ThrottleSummary records (their bytes are in skipped_bytes), the statements they say the server
    # did not log, and those statements' summed time: neither events nor rejected
    throttled_summaries: int = 0
    throttled_suppressed: int = 0
    throttled_query_time: float = 0.0

    def reject(self, piece: bytes, offset: int) -> None:
        self.rejected += 1
        self.rejected_bytes += len(piece)
        if len(self.rejected_samples) < MAX_SAMPLES:
            text = piece[:SAMPLE_CHARS].decode("utf-8", "replace").replace("\n", "\\n")
            self.rejected_samples.append(f"@{offset}: {text}")

    def skip_summary(self, summary: ThrottleSummary, nbytes: int) -> None:
        self.skipped_bytes += nbytes
        self.throttled_summaries += 1
        self.throttled_suppressed += summary.suppressed
        self.throttled_query_time += summary.query_time

    @property
    def accounted(self) -> bool:
        return self.bytes_total == self.event_bytes + self.skipped_bytes + self.rejected_bytes

    def merge(self, other: "ParseStats") -> None:
        for name in ("bytes_total", "events", "event_bytes", "skipped_bytes", "rejected", "rejected_bytes",
                     "lost_bytes", "throttled_summaries", "throttled_suppressed", "throttled_query_time"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.input_errors.extend(other.input_errors)
        room = MAX_SAMPLES - len(self.rejected_samples)
        self.rejected_samples.extend(other.rejected_samples[:room])

    def as_dict(self) -> dict:
        return {
            "source_file": self.source_file,
            "engine": self.engine,
            "bytes_total": self.bytes_total,
            "events": self.events,
            "event_bytes": self.event_bytes,
            "skipped_bytes": self.skipped_bytes,
            "rejected": self.rejected,
            "rejected_bytes": self.rejected_bytes,
            "rejected_samples": list(self.rejected_samples),
            "lost_bytes": self.lost_bytes,
            "input_errors": list(self.input_errors),
            "throttled_summaries": self.throttled_summaries,
            "throttled_suppressed": self.throttled_suppressed,
            "throttled_query_time": self.throttled_query_time,
        }


class FingerprintCache:
    """query -> (fingerprint, checksum); fingerprint -> checksum. Bounded, cleared when full.

    The per-row path's cache (PostgreSQL, Redis, and MySQL entries outside the C runs, whose
    classes the C ClassTable keeps)."""

    def __init__(self, max_queries: int = 50_000) -> None:
        self.max_queries = max_queries
        self.by_query: dict[str, tuple[str, str]] = {}
        self.by_fp: dict[str, str] = {}

    def lookup(self, query: str, fingerprint_fn=_fingerprint) -> tuple[str, str]:
        hit = self.by_query.get(query)
        if hit is not None:
            return hit
        fp = fingerprint_fn(query)
        cs = self.by_fp.get(fp)
        if cs is None:
            if len(self.by_fp) >= self.max_queries:
                self.by_fp.clear()
            cs = self.by_fp[fp] = _checksum(fp)
        if len(self.by_query) >= self.max_queries:
            self.by_query.clear()
        hit = self.by_query[query] = (fp, cs)
        return hit


_LIST_COLUMNS = (
    "ts", "user", "host", "ip", "db", "thread_id", "query_time", "lock_time", "rows_sent",
    "rows_examined", "rows_affected", "bytes_sent", "query", "extra", "extra_text",
    "source_offset", "source_length",
)


class RecordSink:
    """Collects events column-wise and turns them into EVENT_SCHEMA record batches."""

    def __init__(self, *, instance, engine, source_file, base_offset=0, batch_rows=BATCH_ROWS,
                 fingerprint_fn=_fingerprint, cache: FingerprintCache | None = None) -> None:
        self.instance = instance
        self.engine = engine
        self.source_file = source_file
        self.base_offset = base_offset
        self.batch_rows = batch_rows
        self.fingerprint_fn = fingerprint_fn
        self.cache = cache or FingerprintCache()
        self._rows: list[tuple] = []
        self.ready: list[pa.RecordBatch] = []

    def __len__(self) -> int:
        return len(self._rows)

    def append_row(self, row: tuple) -> None:
        """Fast path: one tuple in _LIST_COLUMNS order, source_offset already absolute."""
        self._rows.append(row)
        if len(self._rows) >= self.batch_rows:
            self.flush()

    def add_arrays(self, n: int, arrays: dict) -> None:
        """A native parser's ready columns (every EVENT_SCHEMA column but the constant ones) as
        one batch; rows gathered before it are flushed first, so batches keep the file's order."""
        self.flush()
        columns = []
        for f in EVENT_SCHEMA:
            array = arrays.get(f.name)
            if array is None:
                array = pa.repeat(pa.scalar(getattr(self, f.name), f.type), n)
            columns.append(array)
        self.ready.append(pa.RecordBatch.from_arrays(columns, schema=EVENT_SCHEMA))

    def add(self, *, ts=None, user=None, host=None, ip=None, db=None, thread_id=None, query_time=None,
            lock_time=None, rows_sent=None, rows_examined=None, rows_affected=None, bytes_sent=None,
            query="", extra=None, extra_text=None, source_offset=0, source_length=0) -> None:
        """Keyword form for engines; source_offset is relative to the current chunk; ts a datetime."""
        if ts is not None and ts.__class__ is not int:
            ts = (ts - _EPOCH) // _ONE_US
        self.append_row((ts, user, host, ip, db, thread_id, query_time, lock_time, rows_sent, rows_examined,
                         rows_affected, bytes_sent, query, extra or None, extra_text or None,
                         self.base_offset + source_offset, source_length))

    def flush(self) -> None:
        rows = self._rows
        n = len(rows)
        if not n:
            return
        self._rows = []
        # column-wise views of the row tuples (zip(*rows) over 30k rows is several times slower)
        columns = {name: list(map(itemgetter(i), rows)) for i, name in enumerate(_LIST_COLUMNS)}
        lookup = self.cache.lookup
        known = self.cache.by_query.get
        fn = self.fingerprint_fn
        pairs = [known(q) or lookup(q, fn) for q in columns["query"]]
        arrays = []
        for f in EVENT_SCHEMA:
            name = f.name
            if name == "instance":
                arrays.append(pa.array([self.instance] * n, f.type))
            elif name == "engine":
                arrays.append(pa.array([self.engine] * n, f.type))
            elif name == "source_file":
                arrays.append(pa.array([self.source_file] * n, f.type))
            elif name == "fingerprint":
                arrays.append(pa.array([p[0] for p in pairs], f.type))
            elif name == "checksum":
                arrays.append(pa.array([p[1] for p in pairs], f.type))
            elif name in ("extra", "extra_text"):
                arrays.append(_map_array(columns[name], f.type))
            elif name == "ts":
                arrays.append(pa.array(columns["ts"], pa.int64()).cast(f.type))
            else:
                arrays.append(pa.array(columns[name], f.type))
        self.ready.append(pa.RecordBatch.from_arrays(arrays, schema=EVENT_SCHEMA))


def sink_for(parser: "EntryParser", **kwargs) -> RecordSink:
    """The RecordSink for a parser: engines with their own query classes (postgres, redis) name
    their fingerprint function in the class attribute `fingerprint_fn`; MySQL uses pt's."""
    return RecordSink(engine=parser.engine, fingerprint_fn=getattr(parser, "fingerprint_fn", None) or _fingerprint,
                      **kwargs)


def _map_array(rows, map_type) -> pa.MapArray:
    """Lists of (key, value) pairs or dicts (or None) -> MapArray, built from flat arrays:
    converting nested Python lists directly is ~10x slower."""
    rows = [r.items() if r.__class__ is dict else r for r in rows]
    mask = [r is None for r in rows]
    if all(mask):
        return pa.nulls(len(rows), map_type)
    offsets = list(accumulate((len(r) if r else 0 for r in rows), initial=0))
    flat = list(chain.from_iterable(r for r in rows if r))
    keys = [k for k, _ in flat]  # (zip(*flat) is ~15x slower on 100k pairs)
    values = [v for _, v in flat]
    return pa.MapArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(keys, map_type.key_type),
                                   pa.array(values, map_type.item_type), type=map_type, mask=pa.array(mask))


# -- the native parsers' columns (mysql_columns and pg_region in _speedups.c) -----------------------

# Their column order (the C_* enum of _speedups.c); the map columns' keys and values follow.
NATIVE_COLUMNS = ("ts", "user", "host", "ip", "db", "thread_id", "query_time", "lock_time", "rows_sent",
                  "rows_examined", "rows_affected", "bytes_sent", "query", "source_offset", "source_length")
_NATIVE_TYPES = tuple(pa.int64() if name == "ts" else EVENT_SCHEMA.field(name).type for name in NATIVE_COLUMNS)


def _buffer(raw):
    return None if raw is None else pa.py_buffer(raw)


def _from_buffers(arrow_type, n, col) -> pa.Array:
    bitmap, values, data = col
    if n is None:  # map entries: as many as values
        n = len(values) // 4 - 1 if data is not None else len(values) // 8
    buffers = [_buffer(bitmap), pa.py_buffer(values)] + ([pa.py_buffer(data)] if data is not None else [])
    return pa.Array.from_buffers(arrow_type, n, buffers)


class NativeClasses:
    """A C ClassTable (query -> class id) and its classes as fingerprint / checksum strings, each
    class decoded and hashed once."""

    def __init__(self, table) -> None:
        self.table = table
        self._generation = -1
        self._fp: list[str] = []  # class id -> fingerprint text / checksum
        self._cs: list[str] = []

    def columns(self, ids: bytes) -> tuple[pa.Array, pa.Array]:
        """The fingerprint and checksum columns of rows given as int32 class ids."""
        table = self.table
        if table.generation != self._generation:  # the C table was cleared (bounded): ids restarted
            self._generation = table.generation
            self._fp, self._cs = [], []
        for raw in table.fps[len(self._fp):]:  # classes new since the last call
            self._fp.append(raw.decode("utf-8", "replace"))
            self._cs.append(_checksum_raw(raw))
        used, local = np.unique(np.frombuffer(ids, np.int32), return_inverse=True)
        local = pa.array(local.astype(np.int32, copy=False))
        used = used.tolist()
        return (pa.array([self._fp[c] for c in used], pa.string()).take(local),
                pa.array([self._cs[c] for c in used], pa.string()).take(local))


def native_arrays(n: int, cols, xmap, tmap, ids, classes: NativeClasses) -> dict[str, pa.Array]:
    """A native parser's buffers as Arrow arrays (zero copy), plus fingerprint/checksum by class:
    what RecordSink.add_arrays takes."""
    out = {name: _from_buffers(_NATIVE_TYPES[k], n, cols[k]) for k, name in enumerate(NATIVE_COLUMNS)}
    out["ts"] = out["ts"].view(EVENT_SCHEMA.field("ts").type)
    # the map columns: (validity, offsets) over their key and value columns
    for name, offsets, keys, values in (("extra", xmap, cols[15], cols[16]), ("extra_text", tmap, cols[17], cols[18])):
        map_type = EVENT_SCHEMA.field(name).type
        entries = pa.StructArray.from_arrays(
            [_from_buffers(map_type.key_type, None, keys), _from_buffers(map_type.item_type, None, values)],
            fields=[map_type.key_field, map_type.item_field])
        out[name] = pa.Array.from_buffers(map_type, n, [_buffer(offsets[0]), pa.py_buffer(offsets[1])],
                                          children=[entries])
    out["fingerprint"], out["checksum"] = classes.columns(ids)
    return out


class EntryParser:
    """Engine hook: subclasses define entry starts, banners and how to parse one entry."""

    engine = "unknown"
    banner: re.Pattern | None = None
    banner_hints: tuple[bytes, ...] = ()

    def starts(self, buf: bytes, begin: int, end: int) -> list[int]:
        raise NotImplementedError

    def parse_entry(self, buf: bytes, start: int, end: int, sink: RecordSink) -> bool | ThrottleSummary:
        """True: one event added to sink; False: not an entry (rejected); a ThrottleSummary: skipped."""
        raise NotImplementedError

    def banners(self, buf: bytes, begin: int, end: int) -> list[tuple[int, int]]:
        if self.banner is None or not any(h in buf for h in self.banner_hints):
            return []
        return [(m.start(), m.end()) for m in self.banner.finditer(buf, begin, end)]


_BLANK = re.compile(rb"\s*\Z")


def stream(fileobj: BinaryIO, parser: EntryParser, sink: RecordSink, stats: ParseStats,
           chunk_size: int = CHUNK_SIZE, start_offset: int = 0) -> Iterator[pa.RecordBatch]:
    """Parse a binary stream; yield record batches as they fill up, then the remainder.

    start_offset: file offset of the stream's first byte (when parsing a range of a file).
    """
    carry = b""
    offset = start_offset  # file offset of carry[0]
    while True:
        data = fileobj.read(chunk_size)
        eof = not data
        stats.bytes_total += len(data)
        buf = carry + data if carry else data
        if not buf:
            break
        starts = parser.starts(buf, 0, len(buf))
        if eof:
            cut = len(buf)
        elif len(starts) >= 2 or (starts and starts[-1] > 0):
            cut = starts[-1]  # the last entry may continue in the next chunk
            starts = starts[:-1]
        elif len(buf) > 8 * chunk_size:
            # No entry start in a huge run of bytes: account it (it is garbage) up to its last line.
            nl = buf.rfind(b"\n")
            cut = nl + 1 if nl > 0 else len(buf)
        else:
            carry = buf
            continue
        sink.base_offset = offset
        _consume(buf, cut, starts, parser, sink, stats)
        yield from sink.ready
        sink.ready.clear()
        carry = buf[cut:]
        offset += cut
        if eof:
            break
    sink.flush()
    yield from sink.ready
    sink.ready.clear()
    # A parser that recognised a format it does not read says so in one line, first of the samples.
    note = getattr(parser, "format_error", None)
    if note and stats.rejected and note not in stats.rejected_samples:
        stats.rejected_samples.insert(0, note)
        del stats.rejected_samples[MAX_SAMPLES:]


def _consume(buf: bytes, cut: int, starts: list[int], parser: EntryParser, sink: RecordSink,
             stats: ParseStats) -> None:
    """Account buf[:cut]: entries at `starts`, banners skipped, anything else rejected or blank."""
    banners = parser.banners(buf, 0, cut)
    if banners:
        in_banner = set()
        points = {0, cut, *starts}
        for b_start, b_end in banners:
            points.update((b_start, b_end))
            in_banner.add(b_start)
        points = sorted(p for p in points if p <= cut)
    else:
        in_banner = ()
        points = [0, *starts, cut] if not starts or starts[0] != 0 else [*starts, cut]
    entry_starts = set(starts)
    base = sink.base_offset
    events = 0
    # Engines with a native fast path parse runs of consecutive entries in one call; whatever
    # it stops at (an unusual entry, a gap, a banner) takes the per-entry path below.
    run = getattr(parser, "parse_run", None)
    # runs must stop at banner boundaries: give the native path only the stretch of points up
    # to the next one that is not an entry start
    stops = [k for k, p in enumerate(points) if p not in entry_starts] if banners else None
    i, last = 0, len(points) - 1
    while i < last:
        pos, nxt = points[i], points[i + 1]
        if run is not None and pos in entry_starts:
            if stops is None:
                j, nbytes, count = run(buf, points, i, sink)
            else:
                stop = next(k for k in stops if k > i)
                j, nbytes, count = run(buf, points[i : stop + 1], 0, sink)
                j += i
            stats.event_bytes += nbytes
            events += count
            if j > i:
                i = j
                continue
        i += 1
        if nxt <= pos:
            continue
        if pos in in_banner:
            stats.skipped_bytes += nxt - pos
        elif pos in entry_starts and (parsed := parser.parse_entry(buf, pos, nxt, sink)):
            if parsed.__class__ is ThrottleSummary:
                stats.skip_summary(parsed, nxt - pos)
            else:
                stats.event_bytes += nxt - pos
                events += 1
        elif _BLANK.match(buf, pos, nxt):
            stats.skipped_bytes += nxt - pos
        else:
            stats.reject(buf[pos:nxt], base + pos)
    stats.events += events
