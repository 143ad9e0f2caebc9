"""PostgreSQL server log parser (``log_min_duration_statement`` / ``log_duration``): stderr with any
``log_line_prefix``, syslog, csvlog and jsonlog (``detect_format``, from the first lines).

**stderr.** One entry starts at each line that begins with the server's ``log_line_prefix`` followed
by a severity (``LOG:``, ``ERROR:``, ``FATAL:`` ...). Continuation lines of a multi-line statement
(the server indents them with a tab) and the secondary lines of the same message (``DETAIL:``,
``HINT:``, ``CONTEXT:``, ``STATEMENT:``, ``QUERY:``, ``LOCATION:`` of the same pid) belong to the
entry before; the SQLSTATE that ``log_error_verbosity = verbose`` writes after the severity is not
part of the message. A line that starts with a timestamp but that the prefix does not read is an entry of
its own (skipped when it names a severity and is not a query, else rejected): never glued onto the
statement before it.

The prefix is given in ``log_line_prefix`` syntax (constructor argument ``prefix`` or the environment
variable ``SLOWLOG_PG_PREFIX``), or detected from the first lines (postgres_prefix.py). syslog, csvlog
and jsonlog records are read as postgres_formats.py says; Cloud SQL JSON exports and Heroku logplex
lines are recognised and rejected whole, ``format_error`` naming the format (first rejected sample).

What becomes an event (one per **execution**, as pgBadger and pg_stat_statements count):

* ``LOG:  duration: X ms  statement: Q`` and ``duration: X ms  execute <name>: Q`` (``extra_text["step"]``
  says which; the prepared statement's name is ``extra_text["statement_name"]``; the message's
  ``DETAIL:  parameters: $1 = ...`` goes to ``extra_text["parameters"]``).
* ``duration: X ms  parse|bind <name>: Q`` (extended protocol) are not events: their durations wait,
  per pid and statement name, for the execute of that statement and land on it as
  ``extra["parse_time"]`` / ``extra["bind_time"]`` (seconds, summed if repeated). A driver that parses
  ``<unnamed>`` and executes a named statement (PDO) gets the unnamed one's. Never executed: skipped.
* ``LOG:  duration: X ms`` alone (``log_duration``, or ``log_min_duration_statement`` for a statement
  that ``log_statement`` already printed): an event only when an earlier ``LOG:  statement: Q`` /
  ``LOG:  execute <name>: Q`` of the same pid is waiting for its duration; that statement is the
  event's query (pgBadger counts the two lines as two queries). Nothing to pair: skipped.

Everything else (checkpoints, connections, autovacuum, ``ERROR:`` + ``STATEMENT:``, auto_explain
``duration: .. plan:`` entries, statements that never get a duration) is *skipped* (counted in
``ParseStats.skipped_bytes``), not rejected. Bytes before the first entry are rejected.

Fields: ``ts`` from ``%t``/``%m``/``%n`` (csv/json: the record's time; syslog without one: the
header's, in the current year) converted to UTC (the zone abbreviation or ``+hh[mm]`` offset the
server printed; an unknown abbreviation is taken as UTC); ``user``, ``db``; ``host`` = client host
from ``%r``/``%h`` (``ip`` too when it is an address), the client port in ``extra["port"]``;
``thread_id`` = pid; ``query_time`` in seconds; ``query`` exactly as logged (stderr continuation lines
keep the server's tab). Classes use ``fingerprint_pg`` (see fingerprint_pg.py), memoized per query
shape (``fingerprint_pg_cached``).

How skipping works with the engine-independent streamer (base.py): ``banners()`` is the hook that
``_consume`` calls exactly once per consumed region, in file order, before the entries of that region
are parsed; this parser classifies every entry there, returns the non-event ones (counted as
skipped), does the statement/duration pairing and the parse/bind folding, and keeps the finished
events for ``parse_entry``.

The optional C path (postgres_native.py) reads stderr logs in RDS's or Debian's layout: it finds
the same entries, pairs and folds them on the same state and builds the same events as columns,
leaving to this module's code, in file order, every entry it is not sure to read exactly alike.

The modules: this one (the parser: entries, pairing, events); postgres_prefix.py (log_line_prefix,
layouts, detection); postgres_formats.py (syslog, csvlog, jsonlog; ``detect_format``,
``looks_like_postgres``); postgres_fields.py (an event's fields: times and zones, clients);
postgres_native.py (the C path glue). The names they export are importable from here too.
"""
from __future__ import annotations

import os
import re
from datetime import datetime

from ..fingerprint_pg import fingerprint_pg_cached
from .base import EntryParser, NativeClasses, RecordSink
from .postgres_fields import _UTC, FieldReader
from .postgres_formats import (
    _CSV_PID,
    _JSON_START,
    _SYSLOG_HEAD,
    SyslogLayout,
    csv_starts,
    detect_format,
    looks_like_postgres,
    read_record,
    record_body,
    syslog_text,
)
# _c_pg_starts is called through this module's name for it: tests set postgres._c_pg_starts = None
# to run the Python path alone
from .postgres_native import _NATIVE_LAYOUTS, NativePath, _c_pg_starts
from .postgres_prefix import (
    _LINE_TS,
    _LOOSE_LEVEL,
    DEBIAN_PREFIX,
    KNOWN_PREFIXES,
    PRIMARY_LEVELS,
    RDS_PREFIX,
    SECONDARY_LEVELS,
    GenericLayout,
    Layout,
    _detect,
    detect_layout,
    prefix_regex,
)

# the engine's public names, wherever they are defined (imported from here by the registry, parse.py
# and the tests)
__all__ = [
    "DEBIAN_PREFIX", "KNOWN_PREFIXES", "PRIMARY_LEVELS", "RDS_PREFIX", "SECONDARY_LEVELS", "GenericLayout",
    "Layout", "PostgresLogParser", "SyslogLayout", "detect_format", "detect_layout", "looks_like_postgres",
    "prefix_regex",
]

_DURATION = re.compile(rb"duration: (?P<ms>\d+(?:\.\d*)?) ms")
_STEP = re.compile(rb"[ \t]+(?P<step>statement|execute|parse|bind)(?: (?P<name>[^\n]*?))?:(?: |(?=\r?\n)|\Z)")
_STMT_ONLY = re.compile(rb"(?P<step>statement|execute)(?: (?P<name>[^\n]*?))?:(?: |(?=\r?\n)|\Z)")
_PARAMS = b"parameters: "
_TAIL_BLANK = re.compile(rb"[ \t\r]*(?:\n|\Z)")

_SKIP, _EVENT, _DURATION_ONLY, _STATEMENT, _PREPARE = range(5)


def _stmt_key(name: bytes | None) -> bytes:
    """The prepared statement a parse/bind/execute line is about: 'P_1' of 'P_1/C_2' (portal after
    the slash), 'fetch from S_3' -> 'S_3', '<unnamed>' for the unnamed statement."""
    if not name:
        return b"<unnamed>"
    if name.startswith(b"fetch from "):
        name = name[11:]
    return name.split(b"/", 1)[0]


class PostgresLogParser(NativePath, FieldReader, EntryParser):
    """See the module docstring. One instance per file (it keeps the per-pid pairing state); the C
    path's methods come from NativePath, the fields' from FieldReader."""

    engine = "postgres"
    fingerprint_fn = staticmethod(fingerprint_pg_cached)  # = fingerprint_pg, memoized per statement shape

    def __init__(self, prefix: str | None = None, log_format: str | None = None) -> None:
        prefix = prefix if prefix is not None else os.environ.get("SLOWLOG_PG_PREFIX") or None
        self.layout: Layout | None = Layout(prefix) if prefix else None
        self.format: str | None = log_format or ("stderr" if prefix else None)
        self.format_error: str | None = None  # one line naming a format this parser does not read
        self._tentative = False
        self._buf = None
        self._starts: list[int] = []
        self._matches: dict[int, object] = {}
        self._events: dict[int, tuple] = {}
        self._pending: dict[bytes | None, tuple] = {}
        self._prepared: dict[bytes | None, dict[bytes, list]] = {}
        self._ts_cache: dict[tuple, datetime | None] = {}
        self._host_cache: dict[bytes, tuple] = {}
        self._prefix_cache: dict[bytes, tuple] = {}
        self._year = datetime.now(_UTC).year
        # the C path (stderr buffers in a _NATIVE_LAYOUTS layout): the scan's line records of the buffer
        # (None: the Python path reads it), the class table, and the events of the current region
        # as column segments, handed to the sink in file order by parse_entry / parse_run
        self._scan: bytes | None = None
        self._classes: NativeClasses | None = None
        self._segments: list[tuple] = []
        self._seg_index = 0
        self._seg_starts = None  # the current segment's entry starts (relative), _row: the next one
        self._row = 0
        self.parse_run = None  # base._consume's native hook: set by banners() when it can take whole runs

    # -- entry boundaries ---------------------------------------------------------------------
    def starts(self, buf: bytes, begin: int, end: int) -> list[int]:
        self._scan = None
        if self.format is None or self._tentative:
            fmt = detect_format(buf)
            self.format = fmt
            if fmt in ("cloudsql-json", "logplex"):
                self.format_error = (f"postgres: {fmt} format is not supported (export the server's own "
                                     f"stderr, syslog, csvlog or jsonlog file); every line rejected")
        fmt = self.format
        if fmt == "csvlog":
            out = csv_starts(buf, begin, end)
        elif fmt == "jsonlog":
            out = [m.start() for m in _JSON_START.finditer(buf, begin, end)]
            self._matches = {}
        elif fmt in ("cloudsql-json", "logplex"):
            out = []
            self._matches = {}
        else:
            out = self._prefixed_starts(buf, begin, end)
        self._buf, self._starts = buf, out
        return out

    def _prefixed_starts(self, buf: bytes, begin: int, end: int) -> list[int]:
        layout = self.layout
        if layout is None or self._tentative:
            # Detected on the first buffer; a small one (tiny chunks, a short log) is looked at again
            # with the next buffer until enough prefixed lines were seen.
            if self.format == "syslog":
                layout = SyslogLayout(with_seq=bool(re.search(rb"(?m)^" + _SYSLOG_HEAD + rb"\[\d+-1\]", buf[: 1 << 20])))
                seen = len(buf[: 1 << 16].split(b"\n"))
            else:
                layout, seen = _detect(buf)
            if self.layout is not None and (layout.prefix, type(layout)) != (self.layout.prefix, type(self.layout)):
                self._prefix_cache.clear()  # fields memoized by prefix text were read by the other layout
            self.layout = layout
            self._tentative = seen < 50 and len(buf) < 65536
        native = _NATIVE_LAYOUTS.get(layout.prefix) if _c_pg_starts is not None and not layout.generic else None
        if native is not None and begin == 0 and end == len(buf):
            scanned = _c_pg_starts(buf, native)  # None: a line it does not decide; the regexes below do
            if scanned is not None:
                out, self._scan = scanned
                self._matches = {}
                return out
        out: list[int] = []
        matches: dict[int, object] = {}
        last_pid = None
        pid_of = layout.pid
        # a strict prefix names its pid group: read it directly (this loop runs once per log line)
        pid_group = "spid" if getattr(layout, "syslog", False) else ("pid" if not layout.generic and layout.has_pid else None)
        secondary = SECONDARY_LEVELS
        merged: list[int] = []
        for m in layout.regex.finditer(buf, begin, end):
            pos = m.start()
            if pid_group is not None:
                level, pid = m.group("level", pid_group)
            else:
                level, pid = m.group("level"), pid_of(m)
            if level in secondary and out:
                if pid is None or last_pid is None or pid == last_pid:
                    merged.append(pos)  # DETAIL/HINT/CONTEXT/STATEMENT... of the entry before
                    continue
            out.append(pos)
            matches[pos] = m
            last_pid = pid
        if not getattr(layout, "syslog", False):
            # A line that starts like a log line (a timestamp) but whose prefix the layout does not
            # read (a client without a database, a changed log_line_prefix) is an entry of its own,
            # never glued onto the statement before it: skipped if it names a severity, else rejected.
            # (complete lines only: the last one of a buffer may still be growing)
            lines = {t.start() for t in _LINE_TS.finditer(buf, begin, end)}
            extra = [p for p in lines.difference(matches, merged) if buf.find(b"\n", p, end) >= 0]
            if extra:
                for p in extra:
                    matches[p] = None
                out = sorted(set(out).union(extra))
        self._matches = matches
        return out

    # -- records: (level, message bytes, where the message starts) ---------------------------------
    def _record(self, buf: bytes, s: int, e: int):
        """(level, data, pos, handle): the message is data[pos:]; handle is what _body/_fields need.
        None: an entry whose prefix or record cannot be read."""
        fmt = self.format
        if fmt in ("jsonlog", "csvlog"):
            return read_record(fmt, buf, s, e)
        # (the C scan keeps no match objects: the few entries it leaves to Python are matched again)
        m = self._matches.get(s) if self._scan is None else self.layout.regex.match(buf, s)
        if m is None:
            return None
        return (m.group("level"), buf, m.end(), m)

    def _body(self, buf: bytes, e: int, data: bytes, qstart: int, handle) -> tuple[str, str | None]:
        """The statement text and DETAIL parameters of an entry."""
        fmt = self.format
        if fmt in ("jsonlog", "csvlog"):
            return record_body(fmt, data, qstart, handle)
        nl = buf.find(b"\n", qstart, e)
        qend = e
        params = None
        if nl >= 0 and nl + 1 < e:
            secondary = list(self.layout.regex.finditer(buf, nl + 1, e))
            if secondary:
                qend = secondary[0].start()
                for i, sm in enumerate(secondary):
                    if sm.group("level") == b"DETAIL" and buf.startswith(_PARAMS, sm.end()):
                        pend = secondary[i + 1].start() if i + 1 < len(secondary) else e
                        params = self._text(buf, sm, sm.end() + len(_PARAMS), pend).rstrip().decode("utf-8", "replace")
                        break
        return self._text(buf, handle, qstart, qend).rstrip().decode("utf-8", "replace"), params

    def _text(self, buf: bytes, m, start: int, end: int) -> bytes:
        """buf[start:end] as the server wrote the message (syslog: see syslog_text)."""
        if not getattr(self.layout, "syslog", False):
            return buf[start:end]
        return syslog_text(self.layout, buf, m, start, end)

    # -- pairing and classification (called once per consumed region, in file order) ---------------
    def banners(self, buf: bytes, begin: int, end: int) -> list[tuple[int, int]]:
        """Non-event entries of buf[begin:end] (skipped bytes). Builds the events of the region:
        log_statement lines paired with their lone durations, parse/bind folded into the execute.

        Called exactly once per consumed region, in file order (see the module docstring)."""
        if buf is not self._buf:
            self.starts(buf, 0, len(buf))
        ranges: list[tuple[int, int]] = []
        events: dict[int, tuple] = {}
        self._events = events
        self.parse_run = None
        self._segments, self._seg_starts = [], None
        if self._scan is not None and begin == 0:
            self._native_banners(buf, end, ranges, events)
            return ranges
        starts = self._starts
        n = len(starts)
        for idx in range(n):
            s = starts[idx]
            if s < begin:
                continue
            if s >= end:
                break
            e = starts[idx + 1] if idx + 1 < n else len(buf)
            if e > end:
                e = end
            self._pair(buf, s, e, ranges, events)
        return ranges

    def _pair(self, buf: bytes, s: int, e: int, ranges: list, events: dict) -> None:
        """One entry of banners(): a skipped range, a statement or parse/bind that waits, or an event."""
        pending = self._pending
        prepared = self._prepared
        rec = self._record(buf, s, e)
        if rec is None:
            if self.format in ("stderr", "syslog"):
                le = buf.find(b"\n", s, e)
                head = buf[s : e if le < 0 else le]
                if _LOOSE_LEVEL.search(head) and b"duration: " not in head and not _STMT_ONLY.search(head):
                    ranges.append((s, e))  # a FATAL/ERROR/LOG line of an unreadable prefix: not a query
            return  # else rejected by parse_entry (counted, with a sample)
        level, data, pos, handle = rec
        kind, ms, step, name, qstart = self._classify(level, data, pos)
        if kind == _SKIP:
            ranges.append((s, e))
            return
        pid = self._pid(handle)
        if kind == _STATEMENT:
            if len(pending) > 100_000:
                pending.clear()
            query, params = self._body(buf, e, data, qstart, handle)
            pending[pid] = (step, name, query, params)
            ranges.append((s, e))
            return
        if kind == _PREPARE:
            # parse / bind: not an execution; the duration waits for the execute of that statement
            if len(prepared) > 100_000:
                prepared.clear()
            slot = prepared.setdefault(pid, {}).setdefault(_stmt_key(name), [None, None])
            i = 0 if step == b"parse" else 1
            slot[i] = ms if slot[i] is None else slot[i] + ms
            ranges.append((s, e))
            return
        if kind == _DURATION_ONLY:
            stmt = pending.pop(pid, None)
            if stmt is None:
                ranges.append((s, e))  # nothing to pair (a parse/bind under log_duration ...)
                return
            step, name, query, params = stmt
        else:
            query, params = self._body(buf, e, data, qstart, handle)
        prep = None
        if step == b"execute" and pid in prepared:
            # the execute of that statement gets its parse/bind durations; a driver that parses
            # unnamed and executes named (PDO) gets the unnamed one's
            waiting = prepared[pid]
            prep = waiting.pop(_stmt_key(name), None) or waiting.pop(b"<unnamed>", None)
            if not waiting:
                del prepared[pid]
        events[s] = (handle, ms, step, name, query, params, prep)

    @staticmethod
    def _classify(level: bytes, data: bytes, msg: int) -> tuple:
        """(kind, ms, step, name, query start) of a message."""
        if level != b"LOG":
            return _SKIP, None, None, None, 0
        if data.startswith(b"duration: ", msg):
            d = _DURATION.match(data, msg)
            if d is None:
                return _SKIP, None, None, None, 0
            try:
                ms = float(d.group("ms"))
            except ValueError:
                return _SKIP, None, None, None, 0
            sm = _STEP.match(data, d.end())
            if sm:
                step = sm.group("step")
                kind = _PREPARE if step in (b"parse", b"bind") else _EVENT
                return kind, ms, step, sm.group("name"), sm.end()
            if _TAIL_BLANK.match(data, d.end()):
                return _DURATION_ONLY, ms, None, None, 0
            return _SKIP, None, None, None, 0  # auto_explain "plan:", fastpath function calls ...
        if data.startswith((b"statement: ", b"execute "), msg):
            sm = _STMT_ONLY.match(data, msg)
            if sm:
                return _STATEMENT, None, sm.group("step"), sm.group("name"), sm.end()
        return _SKIP, None, None, None, 0

    def _pid(self, handle):
        fmt = self.format
        if fmt == "jsonlog":
            return str(handle.get("pid")).encode()
        if fmt == "csvlog":
            return handle[_CSV_PID].encode()
        return self.layout.pid(handle)

    # -- one entry -> one event -------------------------------------------------------------------
    def parse_entry(self, buf: bytes, start: int, end: int, sink: RecordSink) -> bool:
        starts = self._seg_starts
        if starts is not None and starts[self._row] == start and buf is self._buf:
            # an event of the C path: its segment goes to the sink at its first entry (file order)
            if not self._row:
                self._emit_segment(sink)
            self._row += 1
            if self._row == len(starts):
                self._next_segment(self._seg_index + 1)
            return True
        ev = self._events.pop(start, None) if buf is self._buf else None
        if ev is None:
            return False
        handle, ms, step, name, query, params, prep = ev
        ts, user, host, ip, db, pid, extra, app = self._fields(buf, start, handle)
        extra_text = {"step": step.decode("ascii")}
        if name:
            extra_text["statement_name"] = name.decode("utf-8", "replace")
        if params is not None:
            extra_text["parameters"] = params
        if app is not None:
            extra_text["application"] = app
        if prep is not None:
            extra = dict(extra) if extra else {}
            if prep[0] is not None:
                extra["parse_time"] = prep[0] / 1000.0
            if prep[1] is not None:
                extra["bind_time"] = prep[1] / 1000.0
        sink.add(
            ts=ts,
            user=user,
            host=host,
            ip=ip,
            db=db,
            thread_id=pid,
            query_time=ms / 1000.0,
            query=query,
            extra=extra,
            extra_text=extra_text,
            source_offset=start,
            source_length=end - start,
        )
        return True
