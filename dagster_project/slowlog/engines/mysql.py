"""MySQL-family slow log parser: MySQL 5.x/8.x, MariaDB, Percona Server, Aurora MySQL, RDS.

Follows Percona Toolkit's SlowLogParser where it matters for parity (which lines are attributes,
what the query text is, `use`/`SET timestamp` as attributes, `# administrator command:` as an
event, ts/db inheritance), with one deliberate difference: entries are split at their header
lines (`# Time:` / `# User@Host:`) rather than at ";\\n#", so a garbage line or a query without a
trailing semicolon cannot swallow the next entry.

Edge cases measured against pt-query-digest and Percona's Go parser (issue 14; tests in
tests/slowlog/engines/test_mysql_edge_cases.py): a Windows banner (`C:\\...\\mysqld.exe, Version:`) is a banner;
a file that starts mid-entry gives no event for the headless fragment (rejected, with a sample);
a first header line that lost its '#' is read; `# Query_time:` above `# Time:` is one entry; Percona
Server 8's `  Tmp_tables: ...` line without '#' is a header line.

Works on bytes: offsets are byte offsets and only the query and a few fields are decoded.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from ..fingerprint import fingerprint_raw
from .base import EntryParser, NativeClasses, RecordSink, ThrottleSummary, native_arrays
from .mysql_throttle import throttle_summary

# An entry starts at one of these lines (MariaDB and MySQL 5.1 omit `# Time:` when the second
# did not change; then `# User@Host:` opens the entry).
ENTRY_START = re.compile(rb"^# (?:Time|User@Host): ", re.M)
# Logs without those lines (some Percona/old formats) still separate entries by ";\n#" as pt does;
# a `use`/`SET` line ending in ";" is an attribute, not the end of an entry (see starts()).
# Lines the server prints when the log is opened (server start, FLUSH LOGS); on Windows the binary
# is `C:\...\mysqld.exe, Version: ...` (pt's own pattern misses it and glues it onto a query).
BANNER_LINE = re.compile(
    rb"^(?:T[cC][pP]\s[pP]ort:\s+\d+|[^\n#]*(?:mysqld|mariadbd)(?:\.exe)?,\sVersion.*(?:started\swith:|embedded\slibrary)|"
    rb"Time\s+Id\s+Command).*(?:\n|\Z)",
    re.M,
)
# A `# Name: value` header line (pt's cheap test for an attribute line).
_PROP_START = re.compile(rb"# +[A-Z][A-Za-z_]+: \S")
# The first line of a file that lost its leading '#' (" Time: ...", " User@Host: ...", " Query_time: ..."):
# pt prepends the '#' and reads it, so do we.
_HEADLESS_FIRST = re.compile(rb" +(?:User@Host|[A-Z][A-Za-z_]+): \S")
# Percona Server 8 (PS-7492 / PMM-7137) writes `  Tmp_tables: 1  Tmp_disk_tables: 0  Tmp_table_sizes: 0`
# on a line of its own without the '#': a header line all the same.
_CONT_LINE = re.compile(rb"(?: +[A-Z][A-Za-z_]+: +\S+)+[ \r]*")
_USER_HOST = re.compile(rb"# User@Host: ([^\[]+|\[[^\[]+\]).*?@ (\S*) \[(.*?)\]\s*(?:Id:\s*(\d+))?")
_PROPERTY_LINE = re.compile(rb"# +[A-Z][A-Za-z_]+: \S+")
_PROPERTY = re.compile(rb"(\w+):\s+(\S+|\Z)")
_EMPTY_SCHEMA = re.compile(rb"Schema:\s+(?=\w+: )")
_OLD_TS = re.compile(rb"(\d\d)(\d\d)(\d\d)\s+(\d{1,2}):(\d\d):(\d\d)")
_SETTING_SPLIT = re.compile(rb",|\s*=\s*")
_META_SET = (b"SET last_insert_id", b"SET insert_id", b"SET timestamp")

# Columns of the event schema that come straight from `# Name: value` attributes.
_INT_COLUMNS = {
    b"Rows_sent": "rows_sent",
    b"Rows_examined": "rows_examined",
    b"Rows_affected": "rows_affected",
    b"Bytes_sent": "bytes_sent",
    b"Thread_id": "thread_id",
}
_FLOAT_COLUMNS = {b"Query_time": "query_time", b"Lock_time": "lock_time"}
_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_ONE_US = timedelta(microseconds=1)
_MAX_US = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=_UTC) - _EPOCH) // _ONE_US

try:  # the optional C accelerator: runs of common-shape entries parsed straight into Arrow buffers
    from .._speedups import ClassTable as _ClassTable
    from .._speedups import mysql_columns as _c_columns
    from .._speedups import mysql_starts as _c_starts
except ImportError:  # pragma: no cover - no compiler on this machine
    _c_starts = _c_columns = _ClassTable = None


def _to_us(value: datetime) -> int:
    """Timestamps travel as UTC epoch microseconds (what the Arrow column stores)."""
    return (value - _EPOCH) // _ONE_US


def _epoch_us(seconds: int):
    us = seconds * 1_000_000
    return us if -_MAX_US <= us <= _MAX_US else None


def _number(raw: bytes):
    try:
        return float(raw)
    except ValueError:
        if raw in (b"Yes", b"yes", b"YES"):
            return 1.0
        if raw in (b"No", b"no", b"NO"):
            return 0.0
        return None


class MySQLSlowLogParser(EntryParser):
    engine = "mysql"
    entry_start = ENTRY_START
    banner = BANNER_LINE
    # cheap pre-checks before the banner regex runs over a buffer: every banner line contains one
    banner_hints = (b"Version", b"Command", b"port:", b"Port:")

    def __init__(self) -> None:
        self._last_ts = None
        self._last_db = None
        self._ts_cache: dict[bytes, datetime | None] = {}
        self._banner_lines: tuple[bytes | None, list[int]] = (None, [])
        self._classes: NativeClasses | None = None  # the C path's query -> class table, made on first use

    def starts(self, buf: bytes, begin: int, end: int) -> list[int]:
        """Offsets in buf[begin:end] where an entry starts (the C scan's reference: mysql_starts).

        A line by line walk. An entry starts at a `# Time:` or `# User@Host:` line, at the '#' of
        every ";\\n#" whose line is not a `use`/`SET` attribute (pt's separator), and at `begin` when
        it holds a '#' line (or a first header line that lost its '#'). Inside one header block (the
        '#' lines since the last start, no query line between) a `# Time:` line opens no new entry
        when only attribute lines came before it, nor a `# User@Host:` line when no User@Host and no
        `# administrator command:` came before it: `# Query_time: ...` then `# Time: ...` is one
        entry (its timestamp kept), as in pt. `# Name: value` lines right above a Time/User@Host line
        that opens an entry after a non-'#' line (a banner, a query without ';') belong to it.
        """
        if begin == 0 and _c_starts is not None:
            out, candidates = _c_starts(buf, end)
            self._banner_lines = (buf, candidates)  # where banners() needs to try its regex
            return out
        out: list[int] = []
        in_head = seen_time = seen_uh = seen_admin = prev_semi = False
        pend = -1  # first of the attribute lines right above, outside a header block
        ls = begin
        while ls < end:
            nl = buf.find(b"\n", ls, end)
            le = end if nl < 0 else nl
            c = buf[ls]
            start = -1
            if c == 35:  # '#'
                is_time = buf.startswith(b"# Time: ", ls, end)
                is_uh = not is_time and buf.startswith(b"# User@Host: ", ls, end)
                if is_time or is_uh:
                    if in_head and not seen_admin and not seen_uh and (is_uh or not seen_time):
                        pass  # the same entry's header
                    else:
                        start = pend if not in_head and pend >= 0 else ls
                        in_head, seen_time, seen_uh, seen_admin = True, False, False, False
                    if is_time:
                        seen_time = True
                    else:
                        seen_uh = True
                elif ls == begin or prev_semi:
                    start = ls
                    in_head, seen_time, seen_uh = True, False, False
                    seen_admin = buf.startswith(b"# administrator command:", ls, end)
                elif buf.startswith(b"# administrator command:", ls, end):
                    seen_admin = in_head
                    pend = -1
                elif not in_head:  # attribute lines outside a header block may belong to the next entry
                    if not _PROP_START.match(buf, ls, le):
                        pend = -1
                    elif pend < 0:
                        pend = ls
            elif c == 32 and ls == begin and _HEADLESS_FIRST.match(buf, ls, le):
                start = ls
                in_head, seen_admin = True, False
                seen_time = buf.startswith(b" Time: ", ls, end)
                seen_uh = buf.startswith(b" User@Host: ", ls, end)
            elif not (in_head and c == 32 and _CONT_LINE.fullmatch(buf, ls, le)):
                in_head = False
                pend = -1
            if start >= 0:
                pend = -1
                if not out or out[-1] != start:
                    out.append(start)
            if nl < 0:
                break
            # ";\n#" / ";\r\n#": this line ends with ';' and is not a use/SET attribute
            k = le - 1 if le > ls and buf[le - 1] == 13 else le
            prev_semi = k > ls and buf[k - 1] == 59 and not buf.startswith((b"use ", b"SET "), ls, end)
            ls = nl + 1
        return out

    @staticmethod
    def resync_start(buf: bytes, pos: int, floor: int) -> bool:
        """For a scan that begins mid-file (parallel.py's split points; buf's lines up to `floor` are
        not whole): True when the start `pos` that starts() found is one the whole file has too.
        A start depends on the header lines above it, so only one whose previous line is inside the
        window and is neither a '#' line nor an indented one (no header block reaches across it)."""
        prev = buf.rfind(b"\n", 0, pos - 1) + 1
        return pos > 0 and prev > floor and buf[prev] not in (35, 32)

    def banners(self, buf: bytes, begin: int, end: int) -> list[tuple[int, int]]:
        seen, candidates = self._banner_lines
        if seen is not buf or begin != 0:
            return super().banners(buf, begin, end)
        out: list[tuple[int, int]] = []
        for pos in candidates:  # what finditer would find: every banner starts at a candidate
            if pos >= end:
                break
            if out and pos < out[-1][1]:
                continue
            m = self.banner.match(buf, pos, end)
            if m:
                out.append((m.start(), m.end()))
        return out

    def parse_run(self, buf: bytes, points: list[int], i: int, sink: RecordSink) -> tuple[int, int, int]:
        """Native fast path over consecutive entries points[i], points[i+1], ...; returns
        (index of the first entry not parsed, event bytes, events). 0 events when unavailable."""
        if _c_columns is None:
            return i, 0, 0
        if self._classes is None:
            self._classes = NativeClasses(_ClassTable(fingerprint_raw))
        j, nbytes, n, self._last_ts, self._last_db, cols, xmap, tmap, ids = _c_columns(
            buf, points, i, sink.base_offset, self._last_ts, self._last_db, sink.batch_rows, self._classes.table)
        if n:
            sink.add_arrays(n, native_arrays(n, cols, xmap, tmap, ids, self._classes))
        return j, nbytes, n

    def parse_entry(self, buf: bytes, start: int, end: int, sink: RecordSink) -> bool | ThrottleSummary:
        """Parse one entry; return False when it is not a slow-log entry (rejected), a
        ThrottleSummary when it is the server's count of statements it did not log (mysql_throttle.py).

        The line-by-line reference implementation of pt's rules (and the C path's oracle): runs of
        common-shape entries are taken by `parse_run` before this is called; what reaches here is
        anything else, or everything without the accelerator.
        """
        ts = None
        set_ts = None
        iso_ts = None
        user = host = ip = db = schema = None
        thread_id = None
        props: list[tuple[bytes, bytes]] = []
        got_db = got_set = is_admin = False
        query = None
        pos = start
        while pos < end:
            nl = buf.find(b"\n", pos, end)
            line_end = end if nl < 0 else nl
            next_pos = end if nl < 0 else nl + 1
            first = buf[pos]
            if first == 32 and (_HEADLESS_FIRST.match(buf, pos, line_end) if pos == start
                                else _CONT_LINE.fullmatch(buf, pos, line_end)):
                line = buf[pos:line_end].rstrip(b"\r")
                if pos != start:  # Percona Server 8's attribute line without '#'
                    props.extend(_PROPERTY.findall(line))
                    pos = next_pos
                    continue
                first, line = 35, b"#" + line  # a first header line that lost its '#' (pt: the same)
            else:
                line = None
            if first == 35:  # '#'
                if line is None:
                    line = buf[pos:line_end].rstrip(b"\r")
                if line.startswith(b"# Time: "):
                    raw = line[8:].strip()
                    uh = line.find(b"# User@Host:", 8)
                    if uh > 0:
                        raw = line[8:uh].strip()
                        user, host, ip, tid = self._user_host(line[uh:])
                        if tid is not None:
                            thread_id = tid
                    if raw[:1] != b"":
                        if b"-" in raw[:5]:
                            iso_ts = self._iso_ts(raw.split()[0])
                        else:
                            ts = self._old_ts(raw)
                elif line.startswith(b"# User@Host: "):
                    user, host, ip, tid = self._user_host(line)
                    if tid is not None:
                        thread_id = tid
                elif line.startswith(b"# administrator command:"):
                    # pt: "# administrator command: Quit;" is the event's argument.
                    query = line[2:].rstrip().rstrip(b";").decode("utf-8", "replace")
                    is_admin = True
                    break
                elif _PROPERTY_LINE.match(line):
                    if b"Schema:" in line and _EMPTY_SCHEMA.search(line):
                        line = _EMPTY_SCHEMA.sub(b"", line)
                    props.extend(_PROPERTY.findall(line))
                # any other comment line ("# No InnoDB statistics ...", MariaDB "# explain:") is ignored
            elif not got_db and buf.startswith(b"use ", pos):
                line = buf[pos:line_end]
                semi = line.find(b";")
                name = line[4 : semi if semi >= 0 else len(line)]
                if name:  # pt: m/^use ([^;]+)/ -- "use ;" names no database
                    db = name.decode("utf-8", "replace")
                    got_db = True
            elif buf.startswith(b"SET ", pos) and buf.startswith(_META_SET, pos):
                if not got_set:
                    line = buf[pos:line_end].rstrip(b"\r")
                    setting = line[4:].split(b";", 1)[0].strip()
                    parts = _SETTING_SPLIT.split(setting)
                    for i in range(0, len(parts) - 1, 2):
                        if parts[i] == b"timestamp":
                            try:
                                set_ts = int(parts[i + 1])
                            except ValueError:
                                pass
                    got_set = True
            elif buf.startswith(b"use ", pos):
                pass  # a second `use` line: pt ignores it too
            else:
                raw_query = buf[pos:end].rstrip()
                if raw_query.endswith(b";"):
                    raw_query = raw_query[:-1]
                query = raw_query.decode("utf-8", "replace")
                break
            pos = next_pos

        if not buf.endswith(b"\n", start, end) and not buf[start:end].rstrip(b" \t\r").endswith(b";"):
            return False  # the last entry of a cut file (no final newline, no final ';'): rejected
        if is_admin and user is None and ts is None and iso_ts is None and not any(n == b"Query_time" for n, _ in props):
            # the tail of an entry whose header is not in this file (it starts mid-entry): pt and
            # Percona's Go parser report no event for it, and it has no time, user or duration
            return False
        if query is None:
            if not any(name == b"Query_time" for name, _ in props):
                return False  # e.g. a file cut inside the header block
            query = "/* No query */"  # headers, then the next entry: pt reports it like this
        # Attributes -> columns.
        qt = lt = None
        cols: dict[str, int] = {}
        extra: list[tuple[str, float]] = []
        extra_text: list[tuple[str, str]] = []
        for name, raw in props:
            if name == b"Query_time":
                try:
                    qt = float(raw)
                except ValueError:
                    pass
            elif name == b"Lock_time":
                try:
                    lt = float(raw)
                except ValueError:
                    pass
            elif name in _INT_COLUMNS:
                try:
                    cols[_INT_COLUMNS[name]] = int(raw)
                except ValueError:
                    pass
            elif name == b"Schema":
                schema = raw.decode("utf-8", "replace")
            else:
                num = _number(raw)
                if num is not None:
                    extra.append((name.decode("ascii", "replace"), num))
                else:
                    extra_text.append((name.decode("ascii", "replace"), raw.decode("utf-8", "replace")))
        if qt is None and user is None and ts is None and iso_ts is None and not props and not is_admin:
            return False  # no header at all: not a slow-log entry
        if thread_id is not None and "thread_id" not in cols:
            cols["thread_id"] = thread_id
        if db is None:
            db = schema if schema else self._last_db
        self._last_db = db
        when = iso_ts
        if when is None and set_ts is not None:
            when = _epoch_us(set_ts)
        if when is None:
            when = ts
        if when is None:
            when = self._last_ts
        self._last_ts = when  # a throttle summary's `# Time:` / `use` are the log's state all the same
        if query.startswith("throttle: ") and (summary := throttle_summary(query, qt)):
            return summary
        sink.add(
            ts=when,
            user=user,
            host=host,
            ip=ip,
            db=db,
            query_time=qt,
            lock_time=lt,
            query=query,
            extra=extra,
            extra_text=extra_text,
            source_offset=start,
            source_length=end - start,
            **cols,
        )
        return True

    @staticmethod
    def _user_host(line: bytes):
        m = _USER_HOST.match(line)
        if not m:
            return None, None, None, None
        user, host, ip, tid = m.groups()
        host = host or ip  # skip-name-resolve leaves host empty (pt does the same)
        return (user.decode("utf-8", "replace"), host.decode("utf-8", "replace"), ip.decode("utf-8", "replace"),
                int(tid) if tid else None)

    def _iso_ts(self, raw: bytes):
        cached = self._ts_cache.get(raw)
        if cached is not None or raw in self._ts_cache:
            return cached
        text = raw.decode("ascii", "replace")
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
            value = _to_us(value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC))
        except (ValueError, OverflowError):
            value = None
        if len(self._ts_cache) > 4096:
            self._ts_cache.clear()
        self._ts_cache[raw] = value
        return value

    def _old_ts(self, raw: bytes):
        # "071015 21:43:52" / MariaDB "261125  2:01:08": server-local time; taken as UTC (RDS runs UTC).
        cached = self._ts_cache.get(raw)
        if cached is not None or raw in self._ts_cache:
            return cached
        m = _OLD_TS.match(raw)
        value = None
        if m:
            yy, mo, dd, hh, mi, ss = (int(g) for g in m.groups())
            try:
                value = _to_us(datetime(2000 + yy, mo, dd, hh, mi, ss, tzinfo=_UTC))
            except ValueError:
                value = None
        if len(self._ts_cache) > 4096:
            self._ts_cache.clear()
        self._ts_cache[raw] = value
        return value


def format_entry(event: dict) -> bytes:
    """Write one event back as a MySQL 5.7+/8.0 slow-log entry (what the server itself prints).

    The inverse of the parser for the fields MySQL writes; used to build logs and by the
    round-trip property test.
    """
    ts = event.get("ts")
    lines = []
    if ts is not None:
        lines.append("# Time: " + ts.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    tid = event.get("thread_id")
    user = event.get("user") or ""
    lines.append(f"# User@Host: {user}[{user}] @ {event.get('host') or ''} [{event.get('ip') or ''}]"
                 + (f"  Id: {tid}" if tid is not None else ""))
    lines.append(f"# Query_time: {event.get('query_time') or 0:.6f}  Lock_time: {event.get('lock_time') or 0:.6f} "
                 f"Rows_sent: {event.get('rows_sent') or 0}  Rows_examined: {event.get('rows_examined') or 0}")
    if event.get("db"):
        lines.append(f"use {event['db']};")
    if ts is not None:
        lines.append(f"SET timestamp={int(ts.timestamp())};")
    lines.append(f"{event['query']};")
    return ("\n".join(lines) + "\n").encode("utf-8")
