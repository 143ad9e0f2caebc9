"""PostgreSQL's ``log_line_prefix`` (stderr logs): the prefix as a regex (``prefix_regex``), the
compiled layouts that read a prefixed line's fields (``Layout``; ``GenericLayout`` for any prefix
that starts with a timestamp) and the detection of the layout from a log's first lines.

The prefix is given in ``log_line_prefix`` syntax (constructor argument ``prefix`` or the environment
variable ``SLOWLOG_PG_PREFIX``), or detected: the RDS / Aurora layout ``%t:%r:%u@%d:[%p]:``, Debian's
default ``%m [%p] %q%u@%d ``, pgBadger's usual ``%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ``;
any other prefix that starts with a timestamp is read by a lenient layout (``[pid]``,
``user=``/``usr=``, ``db=``, ``app=``, ``client=``/``host=`` and ``user@db`` where present; the pid
from %c's session id when there is no ``[pid]``; a prefix may end in a separator, '%m|%u|%d|%c|'). A
prefix whose user and database are bare fields ('%m|%u|%d|') gets them only when given.

Also here: the severities a prefixed line names (``PRIMARY_LEVELS``, ``SECONDARY_LEVELS``) and the
timestamp patterns the prefix escapes and the other formats share.
"""
from __future__ import annotations

import re

PRIMARY_LEVELS = (b"LOG", b"ERROR", b"WARNING", b"FATAL", b"PANIC", b"NOTICE", b"INFO",
                  b"DEBUG", b"DEBUG1", b"DEBUG2", b"DEBUG3", b"DEBUG4", b"DEBUG5")
SECONDARY_LEVELS = frozenset((b"DETAIL", b"HINT", b"CONTEXT", b"STATEMENT", b"QUERY", b"LOCATION"))
# log_error_verbosity = verbose writes the SQLSTATE after the severity ("LOG:  00000: duration: ..."):
# it is part of the severity's match, so that the message starts where it does without it
_LEVEL = (rb"(?P<level>LOG|ERROR|WARNING|FATAL|PANIC|NOTICE|INFO|DEBUG[1-5]?|"
          rb"DETAIL|HINT|CONTEXT|STATEMENT|QUERY|LOCATION):(?:[ \t]+(?:[0-9A-Z]{5}:[ \t]+)?|(?=\r?\n)|\Z)")

# where a lenient layout takes a severity: after a blank, ':' or ']' (RDS, Debian, pgBadger's prefixes) or
# the separator a prefix such as '%m|%u|%d|%c|' ends in
_AFTER_PREFIX = rb"(?<![^\s:\]|;,])"

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
_TS_RX = re.compile(_TS.encode())
# A line that starts like a log line (a timestamp) whatever the prefix, and a severity anywhere in
# it: what PostgresLogParser takes for an entry of a prefix the layout does not read.
_LINE_TS = re.compile(rb"(?m)^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")
_LOOSE_LEVEL = re.compile(rb"(LOG|ERROR|WARNING|FATAL|PANIC|NOTICE|INFO|DEBUG[1-5]?|DETAIL|HINT|CONTEXT|STATEMENT|"
                          rb"QUERY|LOCATION):  ")

# -- log_line_prefix -> regex ---------------------------------------------------------------------

_ESCAPE = re.compile(r"%(-?\d+)?(.)", re.S)


def _text_group(name: str, next_literal: str | None) -> str:
    excl = "\\n" + (re.escape(next_literal) if next_literal and next_literal not in "\n" else "")
    return f"(?P<{name}>[^{excl}]*?)"


# What each escape of log_line_prefix matches where its regex is fixed (%t/%m, %u and %d depend on
# what came before or after them: see prefix_regex); anything not listed (%b backend type, %i
# command tag, anything newer) matches lazily up to what follows.
_ESCAPE_RX = {
    "n": r"(?P<epoch>\d+(?:\.\d+)?)",
    "s": _TS_ANON,
    "a": r"(?P<app>[^\n]*?)",
    "r": r"(?P<remote>\[local\]|[^\s()]*?\(\d+\)|[^\s:()]*)",
    "h": r"(?P<rhost>\[local\]|[^\s]*?)",
    "p": r"(?P<pid>\d+)",
    "P": r"\d*",
    "l": r"\d*",
    "x": r"\d*",
    "c": r"[0-9a-f]+\.(?P<cpid>[0-9a-f]+)",  # session id: start time and pid, in hex
    "v": r"(?:\d+/\d+)?",
    "e": r"[0-9A-Z]{5}",
    "Q": r"-?\d+",
}
_ESCAPE_NAMES = {"u": "user", "d": "db"}  # %u, %d: text up to the literal after them


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
        elif esc in _ESCAPE_NAMES:
            rx = _text_group(_ESCAPE_NAMES[esc], nxt)
        else:
            rx = _ESCAPE_RX.get(esc, r"[^\n]*?")
        for name in ("user", "db", "app", "remote", "rhost", "pid", "epoch", "cpid"):
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
        if self.has_pid:
            return m.group("pid")
        session = m.groupdict().get("cpid")  # no %p: the pid in %c's session id
        return str(int(session, 16)).encode() if session else None

    def fields(self, m) -> dict:
        g = m.groupdict()
        out = {"ts": g.get("ts"), "tz": g.get("tz"), "epoch": g.get("epoch"), "pid": self.pid(m),
               "user": g.get("user"), "db": g.get("db"), "app": g.get("app"),
               "remote": g.get("remote"), "rhost": g.get("rhost")}
        return out


_G_RDS = re.compile(rb"^:(?P<remote>\[local\]|[^\s()]*?\(\d+\)|[^\s:()]*):(?P<user>[^:@\n]*)@(?P<db>[^:\n]*):"
                    rb"\[(?P<pid>\d+)\]:$")
_G_PID = re.compile(rb"\[(\d+)\]")
# %c, the session id: the session's start time and the backend's pid, both in hex ("6b17728f.373c");
# the pid of a prefix that has no %p
_G_SESSION = re.compile(rb"(?<![\w.])[0-9a-f]{8}\.([0-9a-f]{1,8})(?![\w.])")
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
            b"(?m)^" + head.encode() + rb"(?P<rest>[^\n]*?)" + _AFTER_PREFIX + _LEVEL
        )

    def pid(self, m) -> bytes | None:
        rest = m.group("rest")
        r = _G_RDS.match(rest)
        if r:
            return r.group("pid")
        p = _G_PID.search(rest)
        if p:
            return p.group(1)
        c = _G_SESSION.search(rest)
        return str(int(c.group(1), 16)).encode() if c else None

    def fields(self, m) -> dict:
        g = m.groupdict()
        rest = g["rest"].strip()
        out = {"ts": g.get("ts"), "tz": g.get("tz"), "epoch": None, "pid": None, "user": None, "db": None,
               "app": None, "remote": None, "rhost": None}
        r = _G_RDS.match(rest)
        if r:
            out.update(r.groupdict())
            return out
        out["pid"] = self.pid(m)
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
