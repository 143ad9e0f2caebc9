"""PostgreSQL server log parser (stderr format, ``log_min_duration_statement`` / ``log_duration``).

One entry starts at each line that begins with the server's ``log_line_prefix`` followed by a
primary severity (``LOG:``, ``ERROR:``, ``FATAL:`` ...). Everything else belongs to the entry before
it: continuation lines of a multi-line statement (the server indents them with a tab) and the
secondary lines the server writes with the same prefix in the same message (``DETAIL:``,
``HINT:``, ``CONTEXT:``, ``STATEMENT:``, ``QUERY:``, ``LOCATION:`` of the same pid).

The prefix is given in ``log_line_prefix`` syntax (constructor argument ``prefix`` or the environment
variable ``SLOWLOG_PG_PREFIX``), or detected from the first lines of the log: the RDS / Aurora
layout ``%t:%r:%u@%d:[%p]:``, Debian's default ``%m [%p] %q%u@%d ``, pgBadger's usual
``%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ``; any other prefix that starts with a timestamp is
read by a lenient layout (``[pid]``, ``user=``/``usr=``, ``db=``, ``app=``, ``client=``/``host=`` and
``user@db`` are picked up where present).

What becomes an event:

* ``LOG:  duration: X ms  statement: Q`` and ``duration: X ms  execute|parse|bind <name>: Q``
  (``extra_text["step"]`` says which; the prepared statement's name is ``extra_text["statement_name"]``;
  a following ``DETAIL:  parameters: $1 = ...`` goes to ``extra_text["parameters"]``).
* ``LOG:  duration: X ms`` alone (``log_duration``, or ``log_min_duration_statement`` for a statement
  that ``log_statement`` already printed): an event only when an earlier ``LOG:  statement: Q`` /
  ``LOG:  execute <name>: Q`` of the same pid is waiting for its duration (pgBadger pairs them the same
  way); that statement is the event's query. A lone duration with no statement to pair is skipped.

Everything else (checkpoints, connections, autovacuum, ``ERROR:`` + ``STATEMENT:``, auto_explain
``duration: .. plan:`` entries, statements that never get a duration) is *skipped* (counted in
``ParseStats.skipped_bytes``), not rejected. Bytes before the first prefixed line are rejected.

Fields: ``ts`` from ``%t``/``%m``/``%n`` converted to UTC (the zone abbreviation or ``+hh[mm]`` offset
the server printed; an unknown abbreviation is taken as UTC); ``user``, ``db``; ``host`` = client host
from ``%r``/``%h`` (``ip`` too when it is an address), the client port in ``extra["port"]``;
``thread_id`` = pid; ``query_time`` in seconds; ``query`` exactly as logged (continuation lines keep
the server's tab). Classes use ``fingerprint_pg`` (see fingerprint_pg.py).

How skipping works with the engine-independent streamer (base.py): ``banners()`` is the hook that
``_consume`` calls exactly once per consumed region, in file order, before the entries of that region
are parsed; this parser returns the non-event entries from it (so they are counted as skipped) and
does the statement/duration pairing there.
"""
from __future__ import annotations

import ipaddress
import os
import re
from datetime import datetime, timedelta, timezone

from ..fingerprint_pg import fingerprint_pg
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


def looks_like_postgres(head: bytes) -> bool:
    """Content sniffing for parse.detect_engine: prefixed PostgreSQL stderr log lines."""
    if re.search(rb"(?m)^[^\n]*?(?:LOG|ERROR|FATAL|WARNING):  ", head[:65536]):
        return True
    return bool(re.search(rb"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[^\n]*?LOG: +duration: \d", head[:65536]))


# -- the parser ----------------------------------------------------------------------------------

_SKIP, _EVENT, _DURATION_ONLY, _STATEMENT = range(4)


def _dec(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace")
    if text == "" or text == "[unknown]":
        return None
    return text


class PostgresLogParser(EntryParser):
    engine = "postgres"
    fingerprint_fn = staticmethod(fingerprint_pg)

    def __init__(self, prefix: str | None = None) -> None:
        prefix = prefix if prefix is not None else os.environ.get("SLOWLOG_PG_PREFIX") or None
        self.layout: Layout | None = Layout(prefix) if prefix else None
        self._tentative = False
        self._buf = None
        self._starts: list[int] = []
        self._matches: dict[int, re.Match] = {}
        self._paired: dict[int, tuple] = {}
        self._pending: dict[bytes | None, tuple] = {}
        self._ts_cache: dict[tuple, datetime | None] = {}
        self._host_cache: dict[bytes, tuple] = {}
        self._prefix_cache: dict[bytes, tuple] = {}

    # -- entry boundaries ---------------------------------------------------------------------
    def starts(self, buf: bytes, begin: int, end: int) -> list[int]:
        layout = self.layout
        if layout is None or self._tentative:
            # Detected on the first buffer; a small one (tiny chunks, a short log) is looked at again
            # with the next buffer until enough prefixed lines were seen.
            layout, seen = _detect(buf)
            self.layout = layout
            self._tentative = seen < 50 and len(buf) < 65536
        out: list[int] = []
        matches: dict[int, re.Match] = {}
        last_pid = None
        pid_of = layout.pid
        for m in layout.regex.finditer(buf, begin, end):
            pos = m.start()
            if m.group("level") in SECONDARY_LEVELS and out:
                pid = pid_of(m)
                if pid is None or last_pid is None or pid == last_pid:
                    continue  # DETAIL/HINT/CONTEXT/STATEMENT... of the entry before
            out.append(pos)
            matches[pos] = m
            last_pid = pid_of(m)
        self._buf, self._starts, self._matches = buf, out, matches
        return out

    def banners(self, buf: bytes, begin: int, end: int) -> list[tuple[int, int]]:
        """Non-event entries of buf[begin:end] (skipped bytes); pairs lone durations with statements.

        Called exactly once per consumed region, in file order (see the module docstring)."""
        if buf is not self._buf:
            self.starts(buf, 0, len(buf))
        starts = self._starts
        ranges: list[tuple[int, int]] = []
        self._paired = {}
        pending = self._pending
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
            m = self._matches[s]
            kind = self._classify(buf, m)
            if kind == _EVENT:
                continue
            pid = self.layout.pid(m)
            if kind == _DURATION_ONLY:
                stmt = pending.pop(pid, None)
                if stmt is not None:
                    self._paired[s] = stmt
                    continue
            elif kind == _STATEMENT:
                if len(pending) > 100_000:
                    pending.clear()
                pending[pid] = self._statement(buf, m, e)
            ranges.append((s, e))
        return ranges

    @staticmethod
    def _classify(buf: bytes, m) -> int:
        if m.group("level") != b"LOG":
            return _SKIP
        msg = m.end()
        if buf.startswith(b"duration: ", msg):
            d = _DURATION.match(buf, msg)
            if d is None:
                return _SKIP
            if _STEP.match(buf, d.end()):
                return _EVENT
            if _TAIL_BLANK.match(buf, d.end()):
                return _DURATION_ONLY
            return _SKIP  # auto_explain "plan:", fastpath function calls ...
        if buf.startswith((b"statement: ", b"execute "), msg) and _STMT_ONLY.match(buf, msg):
            return _STATEMENT
        return _SKIP

    def _statement(self, buf: bytes, m, end: int) -> tuple:
        """(step, name, query, parameters) of a log_statement line (`statement:` / `execute <name>:`)."""
        sm = _STMT_ONLY.match(buf, m.end())
        query, params = self._body(buf, m, sm.end(), end)
        return (sm.group("step"), sm.group("name"), query, params)

    def _body(self, buf: bytes, m, qstart: int, end: int) -> tuple[str, str | None]:
        """The statement text (up to the first secondary line) and DETAIL parameters of an entry."""
        nl = buf.find(b"\n", qstart, end)
        qend = end
        params = None
        if nl >= 0 and nl + 1 < end:
            secondary = list(self.layout.regex.finditer(buf, nl + 1, end))
            if secondary:
                qend = secondary[0].start()
                for i, sm in enumerate(secondary):
                    if sm.group("level") == b"DETAIL" and buf.startswith(_PARAMS, sm.end()):
                        pend = secondary[i + 1].start() if i + 1 < len(secondary) else end
                        params = buf[sm.end() + len(_PARAMS) : pend].rstrip().decode("utf-8", "replace")
                        break
        query = buf[qstart:qend].rstrip().decode("utf-8", "replace")
        return query, params

    # -- one entry -> one event -------------------------------------------------------------------
    def parse_entry(self, buf: bytes, start: int, end: int, sink: RecordSink) -> bool:
        m = self._matches.get(start) if buf is self._buf else None
        if m is None:
            m = self.layout.regex.match(buf, start)
            if m is None:
                return False
        d = _DURATION.match(buf, m.end())
        if d is None:
            return False
        try:
            ms = float(d.group("ms"))
        except ValueError:
            return False
        paired = self._paired.pop(start, None)
        if paired is not None:
            step, name, query, params = paired
        else:
            sm = _STEP.match(buf, d.end())
            if sm is None:
                return False
            step, name = sm.group("step"), sm.group("name")
            query, params = self._body(buf, m, sm.end(), end)
        # The prefix's fields, decoded once per distinct prefix text (same session and second).
        key = buf[m.start() : m.start("level")]
        fields = self._prefix_cache.get(key)
        if fields is None:
            fields = self._prefix_fields(m)
            if len(self._prefix_cache) >= 4096:
                self._prefix_cache.clear()
            self._prefix_cache[key] = fields
        ts, user, host, ip, db, pid, extra, app = fields
        extra_text = {"step": step.decode("ascii")}
        if name:
            extra_text["statement_name"] = name.decode("utf-8", "replace")
        if params is not None:
            extra_text["parameters"] = params
        if app is not None:
            extra_text["application"] = app
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

    def _prefix_fields(self, m) -> tuple:
        f = self.layout.fields(m)
        host, ip, port = self._client(f["remote"], f["rhost"])
        pid = f["pid"]
        return (
            self._ts(f["ts"], f["tz"], f["epoch"]),
            _dec(f["user"]),
            host,
            ip,
            _dec(f["db"]),
            int(pid) if pid else None,
            {"port": float(port)} if port is not None else None,  # shared by the events: never mutated
            _dec(f["app"]),
        )

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
        ip = None
        if host and host != "[local]":
            try:
                ip = str(ipaddress.ip_address(host))
            except ValueError:
                ip = None
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
