"""PostgreSQL logs in the formats besides stderr: which format a log is in (``detect_format``, from
its first lines), whether a file is a PostgreSQL log at all (``looks_like_postgres``, for
parse.detect_engine), and how the records of each are read (PostgresLogParser dispatches here on
its ``format``).

**syslog** (``SyslogLayout``): each line has a syslog header (``Mon dd hh:mm:ss host ident[pid]:``, with
fractional seconds or a leading year too, RFC 3339, or RFC 5424's ``<pri>1 time host app procid msgid
sd``) and PostgreSQL's ``[line-part]`` number; a message's parts are the lines of the same pid and
line number (other processes' lines may come between them), headers stripped, rsyslog's ``#ooo``
escapes (``#011`` tab, ``#012`` newline) decoded. **csvlog**: one record per CSV row (quoted fields
may span lines; detected on the records' first lines). **jsonlog**: one JSON object per line;
CloudNativePG's log (the operator's JSON lines, PostgreSQL's csvlog columns in ``"record"`` of
``"logger":"postgres"``, the instance manager's own lines skipped) is read as jsonlog. Cloud SQL JSON
exports and Heroku logplex lines are recognised and rejected whole, ``format_error`` naming the format
(first rejected sample).
"""
from __future__ import annotations

import csv
import io
import json
import re

from .postgres_prefix import _AFTER_PREFIX, _LEVEL, _TS_RX, GenericLayout

# -- telling the formats apart; syslog lines ---------------------------------------------------------

# A syslog line as rsyslog / syslog-ng write it: "Feb 11 13:15:39 host postgres[10808]: [7-1] ..." (or an
# RFC 3339 timestamp); PostgreSQL numbers its messages "[line-part]" (syslog_sequence_numbers). The
# other header styles: a BSD time with fractional seconds or a leading year ("2019 Feb 11
# 13:15:39.123"), and RFC 5424's "<134>1 2019-02-11T13:15:39.123Z host postgres 10808 - - " (priority
# and version, then app, procid, msgid and structured data instead of "ident[pid]:").
_SYSLOG_HEAD = (rb"(?:<\d{1,3}>(?:1 )?)?"
                rb"(?P<sts>(?:\d{4} )?[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?"
                rb"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
                rb" [^\s\[]+ [^\s\[\]:]+(?:\[|[ ])(?P<spid>\d+)(?:\]:|[ ]\S+[ ](?:-|(?:\[[^\]\n]*\])+)) ")
_SYSLOG_LINE = re.compile(b"^" + _SYSLOG_HEAD + rb"(?:\[(?P<seq>\d+)-(?P<part>\d+)\] ?)?")
_SYSLOG_ANY = re.compile(b"(?m)^" + _SYSLOG_HEAD + rb"(?:\[(?P<seq>\d+)-(?P<part>\d+)\] ?)?(?P<text>[^\n]*)")
_SYSLOG_ESC = re.compile(rb"#([0-3][0-7]{2})")
_MONTHS = {m.encode(): i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
# csvlog: log_time (quoted or not), then "user","db",pid,... ; jsonlog: one JSON object per line.
_CSV_HEAD = re.compile(rb'"?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [A-Za-z0-9+:-]+)?"?,("[^"\n]*"|[^,\n]*),'
                       rb'("[^"\n]*"|[^,\n]*),\d*,')
_JSON_HEAD = re.compile(rb'\{"timestamp":"\d{4}-\d\d-\d\d')
# CloudNativePG's log: one JSON object per line from the operator's instance manager; PostgreSQL's
# messages are those of "logger":"postgres", the csvlog columns in "record" (read as jsonlog)
_CNPG_HEAD = re.compile(rb'\{"level":"[a-z]+",[^\n]*"msg":"')


class SyslogLayout(GenericLayout):
    """PostgreSQL through syslog: the syslog header (time, host, ident[pid]) and PostgreSQL's
    "[line-part]" numbers come before the server's own log_line_prefix (read leniently)."""

    syslog = True

    def __init__(self, with_seq: bool = True) -> None:
        self.prefix = None
        self.with_seq = with_seq
        seq = rb"\[(?P<seq>\d+)-1\] ?" if with_seq else rb""
        self.regex = re.compile(b"(?m)^" + _SYSLOG_HEAD + seq + rb"(?P<rest>[^\n]*?)" + _AFTER_PREFIX + _LEVEL)

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
    if _CSV_HEAD.match(lines[0]):
        # csvlog records may span lines (a multi-line statement, an auto_explain plan inside a quoted
        # field): the vote is on the records' first lines, not on every line
        sample = head[: 1 << 16]
        starts = csv_starts(sample, 0, len(sample))[:50]
        if sum(1 for s in starts if _CSV_HEAD.match(sample, s)) * 2 >= len(starts):
            return "csvlog"
    votes = {"syslog": 0, "csvlog": 0, "jsonlog": 0, "cloudsql-json": 0, "logplex": 0}
    for line in lines:
        if _SYSLOG_LINE.match(line):
            votes["syslog"] += 1
        elif _JSON_HEAD.match(line) or (line.startswith(b"{") and b'"error_severity"' in line) or _CNPG_HEAD.match(line):
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
    csvlog or jsonlog records (CloudNativePG's among them)."""
    head = head[:65536]
    if re.search(rb"(?m)^[^\n]*?(?:LOG|ERROR|FATAL|WARNING):  ", head):
        return True
    if re.search(rb'(?m)^\{"timestamp": ?"[^"\n]*",[^\n]*"error_severity": ?"', head):
        return True
    if re.search(rb'(?m)^\{"level":"[a-z]+",[^\n]*"logger":"postgres","msg":"record",[^\n]*"record":\{', head):
        return True  # CloudNativePG
    if re.search(rb'(?m)^"?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[^\n]*,(?:LOG|ERROR|FATAL|WARNING),[0-9A-Z]{5},', head):
        return True
    return bool(re.search(rb"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[^\n]*?LOG: +duration: \d", head))


# -- csvlog / jsonlog records ----------------------------------------------------------------------

# csvlog columns (PostgreSQL 13+; older servers end after application_name)
_CSV_TIME, _CSV_USER, _CSV_DB, _CSV_PID, _CSV_FROM = 0, 1, 2, 3, 4
_CSV_LEVEL, _CSV_MESSAGE, _CSV_DETAIL, _CSV_APP = 11, 13, 14, 22


def csv_starts(buf: bytes, begin: int, end: int) -> list[int]:
    """csvlog record starts: lines that begin outside a quoted field (quotes inside fields are doubled)."""
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


def read_record(fmt: str, buf: bytes, s: int, e: int):
    """(level, message, 0, record) of the csvlog / jsonlog entry buf[s:e] (record: the JSON object or
    the CSV row, what record_body / record_columns read); None when it cannot be read."""
    if fmt == "jsonlog":
        try:
            doc = json.loads(buf[s:e])
        except ValueError:
            return None
        if isinstance(doc, dict) and "level" in doc and "msg" in doc and "timestamp" not in doc:
            doc = _cnpg_record(doc)
        if not isinstance(doc, dict) or not isinstance(doc.get("message"), str):
            return None
        return (doc.get("error_severity", "").encode(), doc["message"].encode("utf-8", "surrogatepass"), 0, doc)
    try:  # csvlog
        row = next(csv.reader(io.StringIO(buf[s:e].decode("utf-8", "replace"), newline="")))
    except (StopIteration, csv.Error):
        return None
    if len(row) <= _CSV_MESSAGE or not _CSV_HEAD.match(buf, s):
        return None
    return (row[_CSV_LEVEL].encode(), row[_CSV_MESSAGE].encode("utf-8", "surrogatepass"), 0, row)


# CloudNativePG's "record" keys (csvlog's column names) -> PostgreSQL jsonlog's
_CNPG_KEYS = {"log_time": "timestamp", "user_name": "user", "database_name": "dbname", "process_id": "pid",
              "error_severity": "error_severity", "message": "message", "detail": "detail",
              "application_name": "application_name"}


def _cnpg_record(doc: dict) -> dict:
    """A CloudNativePG line as a jsonlog record. The instance manager's own lines (no logger, or
    another one: probes, WAL archiving, setup ...) are not PostgreSQL messages: a record with no
    severity (skipped)."""
    record = doc.get("record")
    if doc.get("logger") != "postgres" or not isinstance(record, dict):
        return {"error_severity": "", "message": ""}
    # (strings, as PostgreSQL's jsonlog writes them; a number is taken as its text)
    out = {key: str(record[name]) if isinstance(record[name], (int, float)) else record[name]
           for name, key in _CNPG_KEYS.items() if name in record}
    client = record.get("connection_from")
    if isinstance(client, str) and client:
        host, sep, port = client.rpartition(":")
        out["remote_host"], out["remote_port"] = (host, port) if sep and port.isdigit() else (client, None)
    return out


def record_body(fmt: str, data: bytes, qstart: int, record) -> tuple[str, str | None]:
    """The statement text and DETAIL parameters of a csvlog / jsonlog record."""
    if fmt == "jsonlog":
        detail = record.get("detail")
    else:
        detail = record[_CSV_DETAIL] if len(record) > _CSV_DETAIL else ""
    params = detail[len("parameters: "):] if isinstance(detail, str) and detail.startswith("parameters: ") else None
    return data[qstart:].rstrip().decode("utf-8", "replace"), params


def record_columns(fmt: str, record) -> tuple:
    """(time, user, db, pid, client host, client port, application) of a csvlog / jsonlog record,
    strings as the server wrote them."""
    if fmt == "jsonlog":
        return (record.get("timestamp"), record.get("user"), record.get("dbname"), record.get("pid"),
                record.get("remote_host"), record.get("remote_port"), record.get("application_name"))
    row = record
    host, _, port = row[_CSV_FROM].rpartition(":") if row[_CSV_FROM] not in ("", "[local]") else (row[_CSV_FROM], "", None)
    return (row[_CSV_TIME], row[_CSV_USER], row[_CSV_DB], row[_CSV_PID], host or None, port or None,
            row[_CSV_APP] if len(row) > _CSV_APP else None)


# -- syslog messages -------------------------------------------------------------------------------

def syslog_text(layout: SyslogLayout, buf: bytes, m, start: int, end: int) -> bytes:
    """buf[start:end] of a syslog log as the server wrote the message: the continuation lines of the
    same message (same pid and line number, interleaved lines of other processes left out) without
    their syslog headers, and rsyslog's '#ooo' escapes of control characters decoded."""
    nl = buf.find(b"\n", start, end)
    first = buf[start : nl if nl >= 0 else end]
    parts = [first]
    if nl >= 0 and layout.with_seq:
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
