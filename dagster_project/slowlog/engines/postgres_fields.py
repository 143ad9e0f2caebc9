"""An event's fields from what PostgresLogParser matched (see "Fields" in postgres.py): the prefix's
fields or a csvlog / jsonlog record's columns as (ts, user, host, ip, db, pid, extra, app), the
time converted to UTC (``_TZ_MINUTES``: the zone abbreviations the server prints), the client's host,
address and port. Each is memoized per distinct text, as a log repeats the same few of them."""
from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta, timezone

from .postgres_formats import _MONTHS, record_columns
from .postgres_prefix import _TS_RX

_UTC = timezone.utc

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


def _ip_of(host: str | None) -> str | None:
    """The client host as an address, when it is one (not a name, not ``[local]``)."""
    if not host or host == "[local]":
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _dec(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace")
    if text == "" or text == "[unknown]":
        return None
    return text


class FieldReader:
    """PostgresLogParser's field reading, a mixin: uses its ``format``, ``layout`` and the caches
    (``_prefix_cache``, ``_ts_cache``, ``_host_cache``) and ``_year`` its __init__ sets."""

    def _fields(self, buf: bytes, start: int, handle) -> tuple:
        fmt = self.format
        if fmt in ("jsonlog", "csvlog"):
            return self._record_fields(*record_columns(fmt, handle))
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
        """A syslog header's time: RFC 3339, or 'Mon dd hh:mm:ss[.ffffff]' (no zone: taken as UTC; in the
        year it is led by, else in the current year, the previous one when that would be more than a
        day ahead, as pgBadger does)."""
        year, guessed = self._year, True
        if sts[4:5] == b" ":  # a leading year: "2019 Feb 11 13:15:39"
            year, guessed, sts = int(sts[:4]), False, sts[5:]
        elif sts[:1].isdigit():
            try:
                return datetime.fromisoformat(sts.decode("ascii").replace("Z", "+00:00")).astimezone(_UTC)
            except ValueError:
                return None
        key = (sts, year if not guessed else None)
        if key in self._ts_cache:
            return self._ts_cache[key]
        value = None
        try:
            month = _MONTHS[sts[:3]]
            day, clock = int(sts[4:6]), sts[7:15].decode("ascii")
            hh, mm, ss = (int(x) for x in clock.split(":"))
            micro = int(sts[16:22].decode("ascii").ljust(6, "0")) if sts[15:16] == b"." else 0
            value = datetime(year, month, day, hh, mm, ss, micro, tzinfo=_UTC)
            if guessed and value - datetime.now(_UTC) > timedelta(days=1):
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
