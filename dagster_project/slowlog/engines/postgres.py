"""PostgreSQL server log parser (``log_min_duration_statement`` / ``log_duration``): stderr with any
``log_line_prefix``, syslog, csvlog and jsonlog (``detect_format``, from the first lines).

**stderr.** One entry starts at each line that begins with the server's ``log_line_prefix`` followed
by a severity (``LOG:``, ``ERROR:``, ``FATAL:`` ...). Continuation lines of a multi-line statement
(the server indents them with a tab) and the secondary lines of the same message (``DETAIL:``,
``HINT:``, ``CONTEXT:``, ``STATEMENT:``, ``QUERY:``, ``LOCATION:`` of the same pid) belong to the
entry before. A line that starts with a timestamp but that the prefix does not read is an entry of
its own (skipped when it names a severity and is not a query, else rejected): never glued onto the
statement before it.

The prefix is given in ``log_line_prefix`` syntax (constructor argument ``prefix`` or the environment
variable ``SLOWLOG_PG_PREFIX``), or detected: the RDS / Aurora layout ``%t:%r:%u@%d:[%p]:``, Debian's
default ``%m [%p] %q%u@%d ``, pgBadger's usual ``%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ``;
any other prefix that starts with a timestamp is read by a lenient layout (``[pid]``,
``user=``/``usr=``, ``db=``, ``app=``, ``client=``/``host=`` and ``user@db`` where present).

**syslog** (``SyslogLayout``): each line has a syslog header (``Mon dd hh:mm:ss host ident[pid]:`` or
RFC 3339) and PostgreSQL's ``[line-part]`` number; a message's parts are the lines of the same pid and
line number (other processes' lines may come between them), headers stripped, rsyslog's ``#ooo``
escapes (``#011`` tab, ``#012`` newline) decoded. **csvlog**: one record per CSV row (quoted fields
may span lines). **jsonlog**: one JSON object per line. Cloud SQL JSON exports and Heroku logplex
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
"""
from __future__ import annotations

import csv
import io
import ipaddress
import json
import os
import re
from datetime import datetime, timedelta, timezone

from ..fingerprint_pg import fingerprint_pg_cached
from .base import EntryParser, RecordSink

_UTC = timezone.utc

PRIMARY_LEVELS = (b"LOG", b"ERROR", b"WARNING", b"FATAL", b"PANIC", b"NOTICE", b"INFO",
                  b"DEBUG", b"DEBUG1", b"DEBUG2", b"DEBUG3", b"DEBUG4", b"DEBUG5")
SECONDARY_LEVELS = frozenset((b"DETAIL", b"HINT", b"CONTEXT", b"STATEMENT", b"QUERY", b"LOCATION"))
_LEVEL = (rb"(?P<level>LOG|ERROR|WARNING|FATAL|PANIC|NOTICE|INFO|DEBUG[1-5]?|"
          rb"DETAIL|HINT|CONTEXT|STATEMENT|QUERY|LOCATION):(?:[ \t]+|(?=\r?\n)|\Z)")

RDS_PREFIX = "%t:%r:%u@%d:[%p]:"
DEBIAN_PREFIX = "%m [%p] %q%u@%d "
# Tried in this order when no prefix is configured; the first that matches every prefixed line of
# the sample wins, else the lenient layout is used.
KNOWN_PREFIXES = (
    RDS_PREFIX,
    DEBIAN_PREFIX,
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%t [%p]: [%l-1] user=%u,db=%d ",
    "%t [%p]: db=%d,user=%u,app=%a,client=%h ",
)

_TS = r"(?P<ts>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?)(?:[ ]?(?P<tz>[A-Za-z]{1,5}|[+-]\d\d(?::?\d\d)?)\b)?"
_TS_ANON = r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:[ ]?(?:[A-Za-z]{1,5}|[+-]\d\d(?::?\d\d)?)\b)?"

_DURATION = re.compile(rb"duration: (?P<ms>\d+(?:\.\d*)?) ms")
_STEP = re.compile(rb"[ \t]+(?P<step>statement|execute|parse|bind)(?: (?P<name>[^\n]*?))?:(?: |(?=\r?\n)|\Z)")
_STMT_ONLY = re.compile(rb"(?P<step>statement|execute)(?: (?P<name>[^\n]*?))?:(?: |(?=\r?\n)|\Z)")
_PARAMS = b"parameters: "
_TAIL_BLANK = re.compile(rb"[ \t\r]*(?:\n|\Z)")

# Zone abbreviations PostgreSQL prints (tzdata); numeric ones (+03, -0330) are parsed directly.
# Ambiguous ones take their most common meaning: IST = India (+05:30), CST = US Central.
_TZ_MINUTES = {
    "UTC": 0, "GMT": 0, "UCT": 0, "UT": 0, "Z": 0, "WET": 0, "WEST": 60, "BST": 60, "IST": 330,
    "CET": 60, "CEST": 120, "MET": 60, "MEST": 120, "EET": 120, "EEST": 180, "MSK": 180, "MSD": 240,
    "EST": -300, "EDT": -240, "CST": -360, "CDT": -300, "MST": -420, "MDT": -360, "PST": -480,
    "PDT": -420, "AKST": -540, "AKDT": -480, "HST": -600, "HDT": -540, "AST": -240, "ADT": -180,
    "NST": -210, "NDT": -150, "JST": 540, "KST": 540, "HKT": 480, "SGT": 480, "AWST": 480,
    "ACST": 570, "ACDT": 630, "AEST": 600, "AEDT": 660, "NZST": 720, "NZDT": 780, "SAST": 120,
    "CAT": 120, "EAT": 180, "WAT": 60, "PKT": 300, "WIB": 420, "WITA": 480, "WIT": 540, "PHT": 480,
    "PHST": 480, "ICT": 420, "NPT": 345, "BRT": -180, "ART": -180, "CLT": -240, "CLST": -180,
    "UYT": -180, "COT": -300, "PET": -300, "ChST": 600, "SST": -660,
}

# -- log_line_prefix -> regex ---------------------------------------------------------------------

_ESCAPE = re.compile(r"%(-?\d+)?(.)", re.S)


def _text_group(name: str, next_literal: str | None) -> str:
    excl = "\\n" + (re.escape(next_literal) if next_literal and next_literal not in "\n" else "")
    return f"(?P<{name}>[^{excl}]*?)"


def prefix_regex(prefix: str) -> str:
    """A log_line_prefix (e.g. '%t:%r:%u@%d:[%p]:') as a regex for the start of a log line."""
    parts: list[str] = []
    optional_open = False
    used: set[str] = set()
    pos = 0
    while pos < len(prefix):
        m = _ESCAPE.search(prefix, pos)
        literal = prefix[pos : m.start()] if m else prefix[pos:]
        parts.append("".join(r"[ \t]+" if ch == " " else re.escape(ch) for ch in literal))
        if not m:
            break
        pos = m.end()
        pad, esc = m.group(1), m.group(2)
        nxt = prefix[pos] if pos < len(prefix) and prefix[pos] != "%" else None
        if esc == "q":
            parts.append("(?:")
            optional_open = True
            continue
        if esc == "%":
            parts.append("%")
            continue
        if esc in ("t", "m"):
            rx = _TS if "ts" not in used else _TS_ANON
            used.add("ts")
        elif esc == "n":
            rx = r"(?P<epoch>\d+(?:\.\d+)?)"
        elif esc == "s":
            rx = _TS_ANON
        elif esc == "u":
            rx = _text_group("user", nxt)
        elif esc == "d":
            rx = _text_group("db", nxt)
        elif esc == "a":
            rx = r"(?P<app>[^\n]*?)"
        elif esc == "r":
            rx = r"(?P<remote>\[local\]|[^\s()]*?\(\d+\)|[^\s:()]*)"
        elif esc == "h":
            rx = r"(?P<rhost>\[local\]|[^\s]*?)"
        elif esc == "p":
            rx = r"(?P<pid>\d+)"
        elif esc == "P":
            rx = r"\d*"
        elif esc in ("l", "x"):
            rx = r"\d*"
        elif esc == "c":
            rx = r"[0-9a-f]+\.[0-9a-f]+"
        elif esc == "v":
            rx = r"(?:\d+/\d+)?"
        elif esc == "e":
            rx = r"[0-9A-Z]{5}"
        elif esc == "Q":
            rx = r"-?\d+"
        else:  # %b backend type, %i command tag, anything newer
            rx = r"[^\n]*?"
        for name in ("user", "db", "app", "remote", "rhost", "pid", "epoch"):
            if f"(?P<{name}>" in rx:
                if name in used:
                    rx = rx.replace(f"(?P<{name}>", "(?:")
                used.add(name)
        if pad:
            rx = r"[ \t]*" + rx + r"[ \t]*"
        parts.append(rx)
    if optional_open:
        parts.append(")?")
    text = "".join(parts)
    # trailing blanks of the prefix are optional before the severity
    while text.endswith(r"[ \t]+"):
        text = text[: -len(r"[ \t]+")]
    return text


def _ip_of(host: str | None) -> str | None:
    """The client host as an address, when it is one (not a name, not ``[local]``)."""
    if not host or host == "[local]":
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


class Layout:
    """A compiled prefix: `regex` matches a prefixed line up to the message; `fields(m)` reads it."""

    generic = False

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.regex = re.compile(b"(?m)^" + prefix_regex(prefix).encode() + rb"[ \t]*" + _LEVEL)
        groups = self.regex.groupindex
        self.has_pid = "pid" in groups

    def pid(self, m) -> bytes | None:
        return m.group("pid") if self.has_pid else None

    def fields(self, m) -> dict:
        g = m.groupdict()
        out = {"ts": g.get("ts"), "tz": g.get("tz"), "epoch": g.get("epoch"), "pid": g.get("pid"),
               "user": g.get("user"), "db": g.get("db"), "app": g.get("app"),
               "remote": g.get("remote"), "rhost": g.get("rhost")}
        return out


_G_RDS = re.compile(rb"^:(?P<remote>\[local\]|[^\s()]*?\(\d+\)|[^\s:()]*):(?P<user>[^:@\n]*)@(?P<db>[^:\n]*):"
                    rb"\[(?P<pid>\d+)\]:$")
_G_PID = re.compile(rb"\[(\d+)\]")
_G_USER = re.compile(rb"\b(?:user|usr|username)=([^,\s\]\[]*(?:\[unknown\])?)")
_G_DB = re.compile(rb"\b(?:db|database|dbname)=([^,\s\]\[]*(?:\[unknown\])?)")
_G_APP = re.compile(rb"\b(?:app|appli|application|application_name)=([^,\]]*?)(?=,\w+=|[\s\]]*\Z|\])")
_G_HOST = re.compile(rb"\b(?:client|host|remote|client_addr)=([^,\s\]]*)")
_G_AT = re.compile(rb"(?:^|\s)([^\s=@\[\]:]+|\[unknown\])@([^\s=@\[\]:]+|\[unknown\])(?=\s|$)")


class GenericLayout(Layout):
    """Any prefix that starts with a timestamp; fields picked from what the prefix looks like."""

    generic = True
    has_pid = True

    def __init__(self, with_ts: bool = True) -> None:
        self.prefix = None
        head = _TS if with_ts else ""
        self.regex = re.compile(
            b"(?m)^" + head.encode() + rb"(?P<rest>[^\n]*?)(?<![^\s:\]])" + _LEVEL
        )

    def pid(self, m) -> bytes | None:
        rest = m.group("rest")
        r = _G_RDS.match(rest)
        if r:
            return r.group("pid")
        p = _G_PID.search(rest)
        return p.group(1) if p else None

    def fields(self, m) -> dict:
        g = m.groupdict()
        rest = g["rest"].strip()
        out = {"ts": g.get("ts"), "tz": g.get("tz"), "epoch": None, "pid": None, "user": None, "db": None,
               "app": None, "remote": None, "rhost": None}
        r = _G_RDS.match(rest)
        if r:
            out.update(r.groupdict())
            return out
        p = _G_PID.search(rest)
        if p:
            out["pid"] = p.group(1)
        for key, rx in (("user", _G_USER), ("db", _G_DB), ("app", _G_APP), ("rhost", _G_HOST)):
            f = rx.search(rest)
            if f:
                out[key] = f.group(1)
        if out["user"] is None and out["db"] is None:
            at = _G_AT.search(rest)
            if at:
                out["user"], out["db"] = at.group(1), at.group(2)
        return out


def detect_layout(head: bytes, sample_lines: int = 400) -> Layout:
    """Pick the prefix layout that explains the first prefixed lines of a log."""
    return _detect(head, sample_lines)[0]


def _detect(head: bytes, sample_lines: int = 400) -> tuple[Layout, int]:
    """(layout, number of prefixed lines it was chosen on)."""
    generic = GenericLayout()
    positions = []
    for m in generic.regex.finditer(head, 0, min(len(head), 1 << 20)):
        positions.append(m.start())
        if len(positions) >= sample_lines:
            break
    if not positions:
        if GenericLayout(with_ts=False).regex.search(head, 0, min(len(head), 1 << 20)):
            return GenericLayout(with_ts=False), 0
        return generic, 0
    for prefix in KNOWN_PREFIXES:
        layout = Layout(prefix)
        if all(layout.regex.match(head, p) for p in positions):
            return layout, len(positions)
    return generic, len(positions)


# -- other formats: syslog, csvlog, jsonlog ----------------------------------------------------------

# A syslog line as rsyslog / syslog-ng write it: "Feb 11 13:15:39 host postgres[10808]: [7-1] ..." (or an
# RFC 3339 timestamp); PostgreSQL numbers its messages "[line-part]" (syslog_sequence_numbers).
_SYSLOG_HEAD = (rb"(?P<sts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
                rb" [^\s\[]+ [^\s\[\]:]+\[(?P<spid>\d+)\]: ")
_SYSLOG_LINE = re.compile(b"^" + _SYSLOG_HEAD + rb"(?:\[(?P<seq>\d+)-(?P<part>\d+)\] ?)?")
_SYSLOG_ANY = re.compile(b"(?m)^" + _SYSLOG_HEAD + rb"(?:\[(?P<seq>\d+)-(?P<part>\d+)\] ?)?(?P<text>[^\n]*)")
_SYSLOG_ESC = re.compile(rb"#([0-3][0-7]{2})")
_MONTHS = {m.encode(): i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
# csvlog: log_time (quoted or not), then "user","db",pid,... ; jsonlog: one JSON object per line.
_CSV_HEAD = re.compile(rb'"?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [A-Za-z0-9+:-]+)?"?,("[^"\n]*"|[^,\n]*),'
                       rb'("[^"\n]*"|[^,\n]*),\d*,')
_JSON_HEAD = re.compile(rb'\{"timestamp":"\d{4}-\d\d-\d\d')
_LINE_TS = re.compile(rb"(?m)^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")
_LOOSE_LEVEL = re.compile(rb"(LOG|ERROR|WARNING|FATAL|PANIC|NOTICE|INFO|DEBUG[1-5]?|DETAIL|HINT|CONTEXT|STATEMENT|"
                          rb"QUERY|LOCATION):  ")


class SyslogLayout(GenericLayout):
    """PostgreSQL through syslog: the syslog header (time, host, ident[pid]) and PostgreSQL's
    "[line-part]" numbers come before the server's own log_line_prefix (read leniently)."""

    syslog = True

    def __init__(self, with_seq: bool = True) -> None:
        self.prefix = None
        self.with_seq = with_seq
        seq = rb"\[(?P<seq>\d+)-1\] ?" if with_seq else rb""
        self.regex = re.compile(b"(?m)^" + _SYSLOG_HEAD + seq + rb"(?P<rest>[^\n]*?)(?<![^\s:\]])" + _LEVEL)

    def pid(self, m) -> bytes | None:
        return m.group("spid")

    def fields(self, m) -> dict:
        out = super().fields(m)
        out["pid"] = m.group("spid")
        if out["ts"] is None:
            ts = _TS_RX.search(m.group("rest"))
            if ts:
                out["ts"], out["tz"] = ts.group("ts"), ts.group("tz")
            else:
                out["sts"] = m.group("sts")
        return out


_TS_RX = re.compile(_TS.encode())
_JSON_START = re.compile(rb"(?m)^(?=[^\n])")  # jsonlog: one record per line, every line


def _unescape(m) -> bytes:
    """rsyslog writes control characters as '#' and three octal digits (#011 tab, #012 newline)."""
    value = int(m.group(1), 8)
    return bytes((value,)) if value < 32 else m.group(0)


def detect_format(head: bytes) -> str:
    """'stderr', 'syslog', 'csvlog' or 'jsonlog' from the first lines of a log; an export format
    this parser does not read is named ('cloudsql-json', 'logplex')."""
    lines = [l for l in head[: 1 << 16].split(b"\n")[:50] if l.strip()]
    if not lines:
        return "stderr"
    votes = {"syslog": 0, "csvlog": 0, "jsonlog": 0, "cloudsql-json": 0, "logplex": 0}
    for line in lines:
        if _SYSLOG_LINE.match(line):
            votes["syslog"] += 1
        elif _JSON_HEAD.match(line) or (line.startswith(b"{") and b'"error_severity"' in line):
            votes["jsonlog"] += 1
        elif line.startswith(b"{") and b'"textPayload"' in line and b"cloudsql" in line:
            votes["cloudsql-json"] += 1
        elif _CSV_HEAD.match(line):
            votes["csvlog"] += 1
        elif re.match(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* app\[postgres[.\d]*\]: ", line):
            votes["logplex"] += 1
    best = max(votes, key=votes.get)
    return best if votes[best] * 2 >= len(lines) else "stderr"


def looks_like_postgres(head: bytes) -> bool:
    """Content sniffing for parse.detect_engine: prefixed PostgreSQL log lines (stderr or syslog),
    csvlog or jsonlog records."""
    head = head[:65536]
    if re.search(rb"(?m)^[^\n]*?(?:LOG|ERROR|FATAL|WARNING):  ", head):
        return True
    if re.search(rb'(?m)^\{"timestamp": ?"[^"\n]*",[^\n]*"error_severity": ?"', head):
        return True
    if re.search(rb'(?m)^"?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[^\n]*,(?:LOG|ERROR|FATAL|WARNING),[0-9A-Z]{5},', head):
        return True
    return bool(re.search(rb"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[^\n]*?LOG: +duration: \d", head))


# -- the parser ----------------------------------------------------------------------------------

_SKIP, _EVENT, _DURATION_ONLY, _STATEMENT, _PREPARE = range(5)
# csvlog columns (PostgreSQL 13+; older servers end after application_name)
_CSV_TIME, _CSV_USER, _CSV_DB, _CSV_PID, _CSV_FROM = 0, 1, 2, 3, 4
_CSV_LEVEL, _CSV_MESSAGE, _CSV_DETAIL, _CSV_APP = 11, 13, 14, 22


def _dec(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace")
    if text == "" or text == "[unknown]":
        return None
    return text


def _stmt_key(name: bytes | None) -> bytes:
    """The prepared statement a parse/bind/execute line is about: 'P_1' of 'P_1/C_2' (portal after
    the slash), 'fetch from S_3' -> 'S_3', '<unnamed>' for the unnamed statement."""
    if not name:
        return b"<unnamed>"
    if name.startswith(b"fetch from "):
        name = name[11:]
    return name.split(b"/", 1)[0]


class PostgresLogParser(EntryParser):
    """See the module docstring. One instance per file (it keeps the per-pid pairing state)."""

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

    # -- entry boundaries ---------------------------------------------------------------------
    def starts(self, buf: bytes, begin: int, end: int) -> list[int]:
        if self.format is None or self._tentative:
            fmt = detect_format(buf)
            self.format = fmt
            if fmt in ("cloudsql-json", "logplex"):
                self.format_error = (f"postgres: {fmt} format is not supported (export the server's own "
                                     f"stderr, syslog, csvlog or jsonlog file); every line rejected")
        fmt = self.format
        if fmt == "csvlog":
            out = self._csv_starts(buf, begin, end)
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
            self.layout = layout
            self._tentative = seen < 50 and len(buf) < 65536
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

    @staticmethod
    def _csv_starts(buf: bytes, begin: int, end: int) -> list[int]:
        """Record starts: lines that begin outside a quoted field (quotes inside fields are doubled)."""
        out = []
        pos = begin
        inside = False
        while pos < end:
            nl = buf.find(b"\n", pos, end)
            stop = end if nl < 0 else nl + 1
            if not inside:
                out.append(pos)
            if buf.count(b'"', pos, stop) & 1:
                inside = not inside
            pos = stop
        return out

    # -- records: (level, message bytes, where the message starts) ---------------------------------
    def _record(self, buf: bytes, s: int, e: int):
        """(level, data, pos, handle): the message is data[pos:]; handle is what _body/_fields need.
        None: an entry whose prefix or record cannot be read."""
        fmt = self.format
        if fmt == "jsonlog":
            try:
                doc = json.loads(buf[s:e])
            except ValueError:
                return None
            if not isinstance(doc, dict) or not isinstance(doc.get("message"), str):
                return None
            return (doc.get("error_severity", "").encode(), doc["message"].encode("utf-8", "surrogatepass"), 0, doc)
        if fmt == "csvlog":
            try:
                row = next(csv.reader(io.StringIO(buf[s:e].decode("utf-8", "replace"), newline="")))
            except (StopIteration, csv.Error):
                return None
            if len(row) <= _CSV_MESSAGE or not _CSV_HEAD.match(buf, s):
                return None
            return (row[_CSV_LEVEL].encode(), row[_CSV_MESSAGE].encode("utf-8", "surrogatepass"), 0, row)
        m = self._matches.get(s)
        if m is None:
            return None
        return (m.group("level"), buf, m.end(), m)

    def _body(self, buf: bytes, e: int, data: bytes, qstart: int, handle) -> tuple[str, str | None]:
        """The statement text and DETAIL parameters of an entry."""
        if self.format == "jsonlog":
            detail = handle.get("detail")
            params = detail[len("parameters: "):] if isinstance(detail, str) and detail.startswith("parameters: ") else None
            return data[qstart:].rstrip().decode("utf-8", "replace"), params
        if self.format == "csvlog":
            detail = handle[_CSV_DETAIL] if len(handle) > _CSV_DETAIL else ""
            params = detail[len("parameters: "):] if detail.startswith("parameters: ") else None
            return data[qstart:].rstrip().decode("utf-8", "replace"), params
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
        """buf[start:end] as the server wrote the message: for syslog, the continuation lines of the
        same message (same pid and line number, interleaved lines of other processes left out) without
        their syslog headers, and rsyslog's '#ooo' escapes of control characters decoded."""
        if not getattr(self.layout, "syslog", False):
            return buf[start:end]
        nl = buf.find(b"\n", start, end)
        first = buf[start : nl if nl >= 0 else end]
        parts = [first]
        if nl >= 0 and self.layout.with_seq:
            pid, seq = m.group("spid"), m.group("seq")
            # continuation lines may be interleaved with other processes' lines: look a little further
            for c in _SYSLOG_ANY.finditer(buf, nl + 1, min(len(buf), end + 65536)):
                if c.group("spid") != pid:
                    continue
                if c.group("seq") != seq or c.group("part") == b"1":
                    break
                parts.append(c.group("text"))
        elif nl >= 0:
            for c in _SYSLOG_ANY.finditer(buf, nl + 1, end):
                parts.append(c.group("text"))
        text = b"\n".join(parts)
        if b"#" in text:
            text = _SYSLOG_ESC.sub(_unescape, text)
        return text

    # -- pairing and classification (called once per consumed region, in file order) ---------------
    def banners(self, buf: bytes, begin: int, end: int) -> list[tuple[int, int]]:
        """Non-event entries of buf[begin:end] (skipped bytes). Builds the events of the region:
        log_statement lines paired with their lone durations, parse/bind folded into the execute.

        Called exactly once per consumed region, in file order (see the module docstring)."""
        if buf is not self._buf:
            self.starts(buf, 0, len(buf))
        starts = self._starts
        ranges: list[tuple[int, int]] = []
        events: dict[int, tuple] = {}
        self._events = events
        pending = self._pending
        prepared = self._prepared
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
            rec = self._record(buf, s, e)
            if rec is None:
                if self.format in ("stderr", "syslog"):
                    le = buf.find(b"\n", s, e)
                    head = buf[s : e if le < 0 else le]
                    if _LOOSE_LEVEL.search(head) and b"duration: " not in head and not _STMT_ONLY.search(head):
                        ranges.append((s, e))  # a FATAL/ERROR/LOG line of an unreadable prefix: not a query
                continue  # else rejected by parse_entry (counted, with a sample)
            level, data, pos, handle = rec
            kind, ms, step, name, qstart = self._classify(level, data, pos)
            if kind == _SKIP:
                ranges.append((s, e))
                continue
            pid = self._pid(handle)
            if kind == _STATEMENT:
                if len(pending) > 100_000:
                    pending.clear()
                query, params = self._body(buf, e, data, qstart, handle)
                pending[pid] = (step, name, query, params)
                ranges.append((s, e))
                continue
            if kind == _PREPARE:
                # parse / bind: not an execution; the duration waits for the execute of that statement
                if len(prepared) > 100_000:
                    prepared.clear()
                slot = prepared.setdefault(pid, {}).setdefault(_stmt_key(name), [None, None])
                i = 0 if step == b"parse" else 1
                slot[i] = ms if slot[i] is None else slot[i] + ms
                ranges.append((s, e))
                continue
            if kind == _DURATION_ONLY:
                stmt = pending.pop(pid, None)
                if stmt is None:
                    ranges.append((s, e))  # nothing to pair (a parse/bind under log_duration ...)
                    continue
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
        return ranges

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

    def _fields(self, buf: bytes, start: int, handle) -> tuple:
        fmt = self.format
        if fmt == "jsonlog":
            return self._record_fields(handle.get("timestamp"), handle.get("user"), handle.get("dbname"),
                                       handle.get("pid"), handle.get("remote_host"), handle.get("remote_port"),
                                       handle.get("application_name"))
        if fmt == "csvlog":
            row = handle
            host, _, port = row[_CSV_FROM].rpartition(":") if row[_CSV_FROM] not in ("", "[local]") else (row[_CSV_FROM], "", None)
            return self._record_fields(row[_CSV_TIME], row[_CSV_USER], row[_CSV_DB], row[_CSV_PID], host or None,
                                       port or None, row[_CSV_APP] if len(row) > _CSV_APP else None)
        # The prefix's fields, decoded once per distinct prefix text (same session and second).
        m = handle
        key = buf[m.start() : m.start("level")]
        fields = self._prefix_cache.get(key)
        if fields is None:
            fields = self._prefix_fields(m)
            if len(self._prefix_cache) >= 4096:
                self._prefix_cache.clear()
            self._prefix_cache[key] = fields
        return fields

    def _record_fields(self, ts, user, db, pid, host, port, app) -> tuple:
        """Fields of a csvlog / jsonlog record (strings as the server wrote them)."""
        value = None
        if ts:
            tm = _TS_RX.match(ts.encode())
            if tm:
                value = self._ts(tm.group("ts"), tm.group("tz"), None)
        ip = _ip_of(host)
        try:
            port_f = float(port) if port not in (None, "") else None
        except (TypeError, ValueError):
            port_f = None
        try:
            pid_i = int(pid) if pid not in (None, "") else None
        except (TypeError, ValueError):
            pid_i = None
        return (value, user or None, host or None, ip, db or None, pid_i,
                {"port": port_f} if port_f is not None else None, app or None)

    def _prefix_fields(self, m) -> tuple:
        f = self.layout.fields(m)
        host, ip, port = self._client(f["remote"], f["rhost"])
        pid = f["pid"]
        ts = self._ts(f["ts"], f["tz"], f["epoch"]) if f.get("sts") is None else self._syslog_ts(f["sts"])
        return (
            ts,
            _dec(f["user"]),
            host,
            ip,
            _dec(f["db"]),
            int(pid) if pid else None,
            {"port": float(port)} if port is not None else None,  # shared by the events: never mutated
            _dec(f["app"]),
        )

    def _syslog_ts(self, sts: bytes):
        """A syslog header's time: RFC 3339, or 'Mon dd hh:mm:ss' (no year, no zone: taken as UTC in
        the current year, the previous one when that would be more than a day ahead, as pgBadger does)."""
        if sts[:1].isdigit():
            try:
                return datetime.fromisoformat(sts.decode("ascii").replace("Z", "+00:00")).astimezone(_UTC)
            except ValueError:
                return None
        key = (sts, None)
        if key in self._ts_cache:
            return self._ts_cache[key]
        value = None
        try:
            month = _MONTHS[sts[:3]]
            day, clock = int(sts[4:6]), sts[7:15].decode("ascii")
            hh, mm, ss = (int(x) for x in clock.split(":"))
            value = datetime(self._year, month, day, hh, mm, ss, tzinfo=_UTC)
            if value - datetime.now(_UTC) > timedelta(days=1):
                value = value.replace(year=self._year - 1)
        except (KeyError, ValueError):
            value = None
        if len(self._ts_cache) > 4096:
            self._ts_cache.clear()
        self._ts_cache[key] = value
        return value

    # -- field helpers ----------------------------------------------------------------------------
    def _client(self, remote: bytes | None, rhost: bytes | None) -> tuple:
        raw = remote if remote else rhost
        if not raw:
            return None, None, None
        hit = self._host_cache.get(raw)
        if hit is not None:
            return hit
        text = raw.decode("utf-8", "replace")
        port = None
        if text.endswith(")") and "(" in text:
            text, _, p = text[:-1].rpartition("(")
            port = int(p) if p.isdigit() else None
        host = text or None
        if host == "[unknown]":
            host = None
        ip = _ip_of(host)
        hit = (host, ip, port)
        if len(self._host_cache) > 4096:
            self._host_cache.clear()
        self._host_cache[raw] = hit
        return hit

    def _ts(self, ts: bytes | None, tz: bytes | None, epoch: bytes | None):
        if ts is None:
            if epoch:
                try:
                    return datetime.fromtimestamp(float(epoch), _UTC)
                except (ValueError, OverflowError, OSError):
                    return None
            return None
        key = (ts, tz)
        cache = self._ts_cache
        if key in cache:
            return cache[key]
        value = None
        try:
            value = datetime.fromisoformat(ts.decode("ascii").replace(",", ".").replace("T", " "))
            value = value.replace(tzinfo=timezone(timedelta(minutes=_tz_minutes(tz)))).astimezone(_UTC)
        except ValueError:
            value = None
        if len(cache) > 4096:
            cache.clear()
        cache[key] = value
        return value


def _tz_minutes(tz: bytes | None) -> int:
    if not tz:
        return 0
    text = tz.decode("ascii", "replace")
    if text[0] in "+-":
        digits = text[1:].replace(":", "")
        hours = int(digits[:2])
        minutes = int(digits[2:4]) if len(digits) >= 4 else 0
        total = hours * 60 + minutes
        return -total if text[0] == "-" else total
    return _TZ_MINUTES.get(text, _TZ_MINUTES.get(text.upper(), 0))
