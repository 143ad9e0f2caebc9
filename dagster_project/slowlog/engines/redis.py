"""Redis / ElastiCache / MemoryDB slow log parser.

Input: the slow log as ElastiCache / MemoryDB deliver it to CloudWatch Logs or Kinesis Data Firehose,
and as ``sources.redis_live.fetch_slowlog`` writes it from ``SLOWLOG GET``:

* JSON records, one per line (the usual case), also pretty-printed over several lines, several
  concatenated on a line (``}{``, as Firehose concatenates records), or the elements of a JSON array
  (``[{...}, {...}]``, compact or indented) -- each record is one entry;
* CloudWatch export lines: an ISO-8601 timestamp, a space, then the JSON record;
* the TEXT delivery format: ``CacheClusterId,CacheNodeId,Timestamp,Duration,Command,ClientAddress,ClientName``.

Record fields (ElastiCache names): ``CacheClusterId``, ``CacheNodeId``, ``Id``, ``Timestamp`` (Unix
seconds), ``Duration (us)`` (microseconds; ``Duration`` is accepted too), ``Command``,
``ClientAddress`` (``ip:port``), ``ClientName``.

Event: ``ts`` from Timestamp (else the export line's timestamp), ``instance`` as given to the parser,
``query_time`` seconds, ``query`` = the command as logged, ``host``/``ip`` from ClientAddress (port in
``extra["port"]``), ``user`` = ClientName or null, ``extra["id"]`` = Id, ``extra_text`` holds
``cache_cluster_id`` / ``cache_node_id``. A record that is not valid JSON (or has no Command /
Duration) is rejected (counted and sampled), never a crash.

Classes: ``fingerprint_redis`` -- the command name upper-cased (with its subcommand for container
commands such as ``CONFIG GET``) plus the pattern of the first key, where digit runs, hex ids, UUIDs
and long random tokens become ``?``; other arguments are dropped:
``GET user:1234:profile`` -> ``GET user:?:profile``, ``HSET session:9f8a7c6d5e4f3a2b f v`` ->
``HSET session:?``, ``GET ... (1 more arguments)`` (ElastiCache hides keys) -> ``GET``.
"""
from __future__ import annotations

import ipaddress
import json
import re
from datetime import datetime, timezone

from .base import EntryParser, RecordSink

_UTC = timezone.utc

# -- command fingerprint --------------------------------------------------------------------------

# Commands whose first argument is not a key (the arguments are dropped entirely).
_NO_KEY = frozenset(
    "PING ECHO AUTH SELECT INFO DBSIZE FLUSHDB FLUSHALL MULTI EXEC DISCARD UNWATCH TIME SAVE BGSAVE "
    "BGREWRITEAOF LASTSAVE SHUTDOWN SCAN RANDOMKEY SWAPDB WAIT WAITAOF READONLY READWRITE HELLO QUIT "
    "RESET ROLE REPLICAOF SLAVEOF SYNC PSYNC FAILOVER MONITOR LOLWUT UNSUBSCRIBE PUNSUBSCRIBE "
    "SUNSUBSCRIBE MIGRATE".split()
)
# Container commands: the subcommand is part of the class.
_SUBCOMMAND = frozenset(
    "CLIENT CONFIG CLUSTER COMMAND MEMORY OBJECT XINFO XGROUP SCRIPT FUNCTION ACL SLOWLOG DEBUG MODULE "
    "LATENCY PUBSUB BITOP".split()
)
# ... of which these take a key right after the subcommand (MEMORY USAGE key, BITOP AND dest ...).
_KEY_AFTER_SUBCOMMAND = frozenset(("MEMORY", "OBJECT", "XINFO", "XGROUP", "BITOP"))
_SCRIPT_CALLS = frozenset(("EVAL", "EVAL_RO", "EVALSHA", "EVALSHA_RO", "FCALL", "FCALL_RO"))

_TRUNCATED = re.compile(r"\.\.\. \(\d+ more (?:bytes|arguments)\)$")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX_ID = re.compile(r"(?<![A-Za-z0-9])(?=[0-9a-fA-F]{8,}(?![A-Za-z0-9]))[0-9a-fA-F]*\d[0-9a-fA-F]*")
_TOKEN = re.compile(r"(?<![A-Za-z0-9])(?=[A-Za-z]*\d)[A-Za-z0-9]{16,}(?![A-Za-z0-9])")
_DIGITS = re.compile(r"\d+")
_QMARKS = re.compile(r"\?{2,}")


def key_pattern(key: str) -> str:
    """`user:1234:profile` -> `user:?:profile`; ids (digits, hex, UUIDs, long tokens) become `?`."""
    key = _TRUNCATED.sub("", key)
    key = _UUID.sub("?", key)
    key = _HEX_ID.sub("?", key)
    key = _TOKEN.sub("?", key)
    key = _DIGITS.sub("?", key)
    return _QMARKS.sub("?", key)


def split_command(command: str) -> list[str]:
    """Split a logged command into arguments; "double quoted" arguments (redis-cli style) are one."""
    out: list[str] = []
    i, n = 0, len(command)
    while i < n:
        while i < n and command[i] == " ":
            i += 1
        if i >= n:
            break
        if command[i] == '"':
            j = i + 1
            buf = []
            while j < n and command[j] != '"':
                if command[j] == "\\" and j + 1 < n:
                    nxt = command[j + 1]
                    if nxt == "x" and j + 3 < n:
                        try:
                            buf.append(chr(int(command[j + 2 : j + 4], 16)))
                            j += 4
                            continue
                        except ValueError:
                            pass
                    buf.append({"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b"}.get(nxt, nxt))
                    j += 2
                    continue
                buf.append(command[j])
                j += 1
            out.append("".join(buf))
            i = j + 1
        else:
            j = command.find(" ", i)
            if j < 0:
                j = n
            out.append(command[i:j])
            i = j
    return out


def quote_arg(arg: str) -> str:
    """redis-cli style: bare when safe, else double-quoted with escapes (split_command undoes it)."""
    if arg and all(33 <= ord(c) < 127 and c not in '"\\' for c in arg):
        return arg
    out = ['"']
    for c in arg:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 32 or ord(c) == 127:
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _is_placeholder(arg: str) -> bool:
    # ElastiCache hides keys and values: "GET ... (1 more arguments)"; Redis itself ends a long
    # argument list with "... (N more arguments)".
    return arg == "..." or arg.startswith("(") or bool(_TRUNCATED.match(arg)) or arg.startswith("... (")


def fingerprint_redis(command: str) -> str:
    """The class of a Redis command: NAME [SUBCOMMAND] [key pattern]; idempotent."""
    args = split_command(command)
    if not args:
        return ""
    cmd = args[0].upper()
    name = quote_arg(cmd)
    rest = args[1:]
    key = None
    # (each branch also accepts its own output, so that the function is idempotent)
    if cmd in _SUBCOMMAND and rest and not _is_placeholder(rest[0]):
        name = f"{name} {quote_arg(rest[0].upper())}"
        if cmd in _KEY_AFTER_SUBCOMMAND and len(rest) > 1:
            key = rest[1]
    elif cmd in _SCRIPT_CALLS:
        # EVALSHA sha numkeys key...: the script (sha / function name) is the class, plus the first key
        if rest and cmd.startswith(("EVALSHA", "FCALL")) and not _is_placeholder(rest[0]):
            name = f"{name} {quote_arg(rest[0])}"
        if len(rest) >= 2 and rest[1].isdigit():
            key = rest[2] if int(rest[1]) > 0 and len(rest) > 2 else None
        elif len(rest) == 2 and name != quote_arg(cmd):
            key = rest[1]  # "EVALSHA <sha> <key pattern>": already a fingerprint
    elif cmd in ("XREAD", "XREADGROUP"):
        upper = [a.upper() for a in rest]
        if "STREAMS" in upper:
            idx = upper.index("STREAMS")
            if idx + 1 < len(rest):
                key = rest[idx + 1]
        elif len(rest) == 1:
            key = rest[0]
    elif cmd not in _NO_KEY and rest:
        key = rest[0]
    if key is None or _is_placeholder(key):
        return name
    return f"{name} {quote_arg(key_pattern(key))}"


# -- records --------------------------------------------------------------------------------------

_DECODER = json.JSONDecoder()
_WS = " \t\r\n"
_TAIL = re.compile(r"[\s,\]]*\Z")
_LEADING_TS = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)[ \t]+(?=[{\[])")
_TEXT_RECORD = re.compile(r"([^,\s{}\[\]\"]+),([^,]*),(\d{9,11}),(\d+),(.*)\Z", re.S)
_TEXT_LINE_B = re.compile(rb"[^,\s{}\[\]\"]+,[^,\n]*,\d{9,11},\d+,[^\n]*,[^\n,]*,[^\n,]*$", re.M)
_DURATION_KEYS = ("Duration (us)", "Duration", "Duration (\u00b5s)", "DurationMicros", "duration_us", "duration")
_STRUCT = re.compile(rb'["{}\[\]]')
_JSTRING = re.compile(rb'"(?:[^"\\\n]|\\.)*"')
_LEADING_TS_B = re.compile(rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?[ \t]+(?=[{\[])")


def looks_like_redis(head: bytes) -> bool:
    """Content sniffing for parse.detect_engine."""
    stripped = head.lstrip()
    m = _LEADING_TS_B.match(stripped)
    if m:
        stripped = stripped[m.end():]
    if stripped.startswith((b"{", b"[")):
        return (b'"Command"' in head or b'"CacheClusterId"' in head or b'"Duration (us)"' in head
                or b'"command"' in head)
    return bool(_TEXT_LINE_B.match(stripped))


def _text_record(text: str) -> dict | None:
    """ElastiCache TEXT format: cluster,node,timestamp,duration,command,client address,client name."""
    m = _TEXT_RECORD.match(text.strip("\r\n"))
    if not m:
        return None
    cluster, node, ts, dur, rest = m.groups()
    parts = rest.rsplit(",", 2)
    if len(parts) != 3:
        return None
    command, addr, name = parts
    return {"CacheClusterId": cluster, "CacheNodeId": node, "Timestamp": int(ts), "Duration (us)": int(dur),
            "Command": command, "ClientAddress": addr, "ClientName": name.strip()}


def _client(addr) -> tuple:
    if not isinstance(addr, str) or not addr:
        return None, None, None
    host, port = addr, None
    head, sep, tail = addr.rpartition(":")
    if sep and tail.isdigit():
        host, port = head, int(tail)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or host == "?":  # "?:0": a script's or module's internal client
        return None, None, port
    try:
        ip = str(ipaddress.ip_address(host))
    except ValueError:
        ip = None
    return host, ip, port


def _timestamp(value, fallback: str | None):
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        value = float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value > 1e14:  # microseconds
            value /= 1e6
        elif value > 1e11:  # milliseconds
            value /= 1e3
        try:
            return datetime.fromtimestamp(value, _UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = value if isinstance(value, str) else fallback
    if text:
        try:
            t = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return t.replace(tzinfo=_UTC) if t.tzinfo is None else t.astimezone(_UTC)
    return None


class RedisSlowLogParser(EntryParser):
    engine = "redis"
    fingerprint_fn = staticmethod(fingerprint_redis)

    # -- entry boundaries ---------------------------------------------------------------------------
    def starts(self, buf: bytes, begin: int, end: int) -> list[int]:
        """One entry per JSON record (per line in the common case), per array element, per TEXT line.

        A small structural scanner tracks JSON nesting across lines (strings cannot span lines in
        JSON, so an unterminated one ends at the newline); a line that cannot continue the value
        before it (that value's last line did not end in , [ { :) starts a new entry, so a truncated
        record costs only itself."""
        out: list[int] = []
        depth = 0
        top_array = False
        first_elem = False
        prev_last = 0
        pos = begin
        find = buf.find
        while pos < end:
            nl = find(b"\n", pos, end)
            line_end = end if nl < 0 else nl
            nxt = end if nl < 0 else nl + 1
            j = pos
            while j < line_end and buf[j] in b" \t\r":
                j += 1
            if j >= line_end:
                pos = nxt
                continue
            first = buf[j]
            if depth > 0 and first not in b"}]" and (
                prev_last not in b",[{:" or (not top_array and first == 123 and j == pos)
            ):
                depth, top_array = 0, False  # the value before was cut short: a new record
            if depth == 0 and first in b"]},":
                # the close of an array whose elements were entries (or a stray separator): it
                # belongs to the entry before it
                prev_last = first
                pos = nxt
                continue
            if depth == 0:
                out.append(pos)
                if first not in b"{[":
                    m = _LEADING_TS_B.match(buf, j, line_end)
                    if not m:  # TEXT record or garbage: one line, no structure
                        prev_last = 0
                        pos = nxt
                        continue
                    j = m.end()
                    first = buf[j]
                if first == 123:  # fast path: a whole one-object line
                    k = line_end
                    while k > j and buf[k - 1] in b" \t\r":
                        k -= 1
                    if buf[k - 1] == 125 and buf.count(b"}", j, k) == 1:
                        prev_last = 125
                        pos = nxt
                        continue
                first_value = True
            else:
                first_value = False
            # structural scan of the rest of the line
            i = j
            while True:
                m = _STRUCT.search(buf, i, line_end)
                if m is None:
                    break
                k = m.start()
                c = buf[k]
                if c == 34:  # '"'
                    sm = _JSTRING.match(buf, k, line_end)
                    if sm is None:  # unterminated string: the record is broken; resync at next line
                        depth, top_array = 0, False
                        break
                    i = sm.end()
                    continue
                if c == 123 or c == 91:  # { [
                    if depth == 0:
                        if not first_value:
                            out.append(k)  # another record on the same line (}{)
                        first_value = False
                        top_array = c == 91
                        first_elem = True
                    elif depth == 1 and top_array and c == 123:
                        if first_elem:
                            first_elem = False  # belongs to the entry that starts at '['
                        else:
                            # an element first on its line starts at the line (its indentation
                            # included), as it does when a chunk boundary resumes there
                            out.append(pos if k == j and not first_value else k)
                    depth += 1
                elif depth > 0:
                    depth -= 1
                i = k + 1
            k = line_end
            while k > pos and buf[k - 1] in b" \t\r":
                k -= 1
            prev_last = buf[k - 1] if k > pos else 0
            pos = nxt
        return out

    # -- one entry -> one event -------------------------------------------------------------------
    def parse_entry(self, buf: bytes, start: int, end: int, sink: RecordSink) -> bool:
        text = buf[start:end].decode("utf-8", "replace")
        n = len(text)
        i = 0
        while i < n and text[i] in _WS:
            i += 1
        lead_ts = None
        m = _LEADING_TS.match(text, i)
        if m:
            lead_ts = m.group(1)
            i = m.end()
        if text.startswith("[", i):
            i += 1
            while i < n and text[i] in _WS:
                i += 1
        if text.startswith("{", i):
            try:
                record, k = _DECODER.raw_decode(text, i)
            except ValueError:
                return False
            if not _TAIL.match(text, k):
                return False
        else:
            record = _text_record(text[i:])
            if record is None:
                return False
        return self._emit(record, lead_ts, sink, start, end)

    def _emit(self, record, lead_ts, sink: RecordSink, start: int, end: int) -> bool:
        if not isinstance(record, dict):
            return False
        command = record.get("Command", record.get("command"))
        if isinstance(command, list):
            command = " ".join(quote_arg(str(a)) for a in command)
        if not isinstance(command, str):
            return False
        duration = None
        for key in _DURATION_KEYS:
            if key in record:
                duration = record[key]
                break
        try:
            duration = float(duration)
        except (TypeError, ValueError):
            return False
        ts = _timestamp(record.get("Timestamp", record.get("timestamp")), lead_ts)
        host, ip, port = _client(record.get("ClientAddress", record.get("client_address")))
        name = record.get("ClientName", record.get("client_name"))
        extra = {}
        rid = record.get("Id", record.get("id"))
        if isinstance(rid, (int, float)) and not isinstance(rid, bool):
            extra["id"] = float(rid)
        if port is not None:
            extra["port"] = float(port)
        extra_text = {}
        for key, out_key in (("CacheClusterId", "cache_cluster_id"), ("CacheNodeId", "cache_node_id"),
                             ("ReplicationGroupId", "replication_group_id")):
            value = record.get(key)
            if value is not None and value != "":
                extra_text[out_key] = str(value)
        sink.add(
            ts=ts,
            user=name if isinstance(name, str) and name else None,
            host=host,
            ip=ip,
            query_time=duration / 1e6,
            query=command,
            extra=extra,
            extra_text=extra_text,
            source_offset=start,
            source_length=end - start,
        )
        return True
