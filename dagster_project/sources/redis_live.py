"""Live Redis / ElastiCache / MemoryDB slow log: ``SLOWLOG GET`` as JSON lines.

    data = fetch_slowlog("rediss://app:secret@clustercfg.my-memorydb.xxxx.memorydb.amazonaws.com:6379")
    data = fetch_slowlog({"host": "127.0.0.1", "port": 6379}, since_id=cursor)
    next_cursor = max_id(data) or cursor

The bytes are one JSON record per line, oldest first, in the shape ElastiCache delivers to
CloudWatch Logs / Firehose (``CacheClusterId``, ``CacheNodeId``, ``Id``, ``Timestamp``,
``Duration (us)``, ``Command``, ``ClientAddress``, ``ClientName``), so the same parser
(``slowlog.engines.redis``) reads both. The command's arguments are joined redis-cli style (an
argument with blanks, quotes or control bytes is double-quoted with escapes).

Connection: a ``redis://`` / ``rediss://`` (TLS) URL, a dict of ``redis.Redis`` keyword arguments
(``host``, ``port``, ``ssl=True``, ``username``/``password`` for a MemoryDB ACL user, ...), or a
ready ``redis.Redis`` client. Needs ``redis`` (redis-py); nothing else in the project imports it.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

__all__ = ["fetch_slowlog", "max_id", "slowlog_records"]


def _client(url_or_params: Any):
    import redis  # optional dependency: only the live source needs it

    if isinstance(url_or_params, str):
        return redis.Redis.from_url(url_or_params), _label_from_url(url_or_params)
    if isinstance(url_or_params, dict):
        params = dict(url_or_params)
        label = f"{params.get('host', 'localhost')}:{params.get('port', 6379)}"
        if params.get("unix_socket_path"):
            label = str(params["unix_socket_path"])
        return redis.Redis(**params), label
    pool = getattr(url_or_params, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", {}) if pool is not None else {}
    label = kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
    return url_or_params, label


def _label_from_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return "" if value is None else str(value)


def _command(args) -> str:
    from ..slowlog.engines.redis import quote_arg

    if isinstance(args, (bytes, str)):
        return _text(args)
    return " ".join(quote_arg(_text(a)) for a in args)


def slowlog_records(url_or_params: Any, since_id: int | None = None, *, cluster_id: str | None = None,
                    node_id: str | None = None) -> list[dict]:
    """The server's slow log entries newer than ``since_id`` as ElastiCache-shaped dicts, oldest first.

    Slow log ids restart at 0 when the server restarts (or on ``SLOWLOG RESET``): when every id the
    server holds is below ``since_id``, all entries are returned. The server keeps only the last
    ``slowlog-max-len`` entries; poll often enough. In cluster mode, call it once per node."""
    client, label = _client(url_or_params)
    try:
        length = int(client.execute_command("SLOWLOG", "LEN"))
        raw = client.execute_command("SLOWLOG", "GET", max(length, 1)) if length else []
    finally:
        if client is not url_or_params:
            client.close()
    entries = []
    for entry in raw or []:
        if isinstance(entry, dict):  # a client with response callbacks (redis-py's slowlog_get shape)
            rid, start, duration = entry.get("id"), entry.get("start_time"), entry.get("duration")
            args, addr, name = entry.get("command"), entry.get("client_address"), entry.get("client_name")
        else:
            rid, start, duration, args = entry[0], entry[1], entry[2], entry[3]
            addr = entry[4] if len(entry) > 4 else b""  # Redis >= 4.0
            name = entry[5] if len(entry) > 5 else b""
        entries.append((int(rid), start, duration, args, addr, name))
    if since_id is not None and entries and max(e[0] for e in entries) < since_id:
        since_id = None  # ids went backwards: the server restarted (or SLOWLOG RESET): take everything
    records = []
    for rid, start, duration, args, addr, name in entries:
        if since_id is not None and rid <= since_id:
            continue
        records.append({
            "CacheClusterId": cluster_id or label,
            "CacheNodeId": node_id or "0001",
            "Id": rid,
            "Timestamp": int(start),
            "Duration (us)": int(duration),
            "Command": _command(args),
            "ClientAddress": _text(addr),
            "ClientName": _text(name),
        })
    records.sort(key=lambda r: r["Id"])
    return records


def fetch_slowlog(url_or_params: Any, since_id: int | None = None, *, cluster_id: str | None = None,
                  node_id: str | None = None) -> bytes:
    """``SLOWLOG GET`` (all entries the server keeps, newer than ``since_id``) as JSON lines."""
    records = slowlog_records(url_or_params, since_id, cluster_id=cluster_id, node_id=node_id)
    return b"".join(json.dumps(r, ensure_ascii=False).encode("utf-8") + b"\n" for r in records)


def max_id(data: bytes) -> int | None:
    """The highest slow log Id in ``fetch_slowlog`` output (the next ``since_id``), None if empty."""
    best = None
    for line in data.splitlines():
        if line.strip():
            rid = json.loads(line).get("Id")
            if isinstance(rid, int) and (best is None or rid > best):
                best = rid
    return best
