"""A small HTTP proxy on 127.0.0.1 that injects faults in front of a real server (OpenSearch).

Every request is read whole, then either answered by the proxy (an injected fault) or forwarded
to the upstream server on a fresh connection and its response relayed back. Faults are rules,
consumed in order; each matches a method and a substring of the path (default: ``/_bulk``), may
let the first ``skip`` matching requests through untouched, and applies ``times`` times
(``None`` = for ever)::

    with FaultyProxy("http://127.0.0.1:9250") as proxy:
        proxy.fail(429, times=2)                         # the first 2 bulk requests: HTTP 429
        proxy.fail(503, times=None, match="/_bulk")      # every bulk request: HTTP 503
        proxy.drop(times=None, skip=2)                   # bulk 3, 4, ...: forwarded, then the
                                                         # connection is cut mid-response
        proxy.drop(when="request")                       # cut before forwarding (never arrives)
        proxy.stall(2.0)                                 # forwarded, response held 2 s
        proxy.clear()                                    # back to a transparent proxy

Recorded: ``requests`` (method, path, what was done: ``forwarded``, ``failed:<status>``,
``dropped:request``, ``dropped:response``, ``stalled``) and ``auth_headers_seen`` (whether an
Authorization header passed; its value is never stored). :meth:`count` counts matching requests.
"""
from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.support.http_server import LocalHTTPServer

__all__ = ["FaultyProxy", "Rule"]

_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "content-length",
})


@dataclass
class Rule:
    kind: str  # fail | drop | stall
    match: str = "/_bulk"
    method: str | None = None
    times: int | None = 1  # None: for ever
    skip: int = 0  # matching requests let through before the rule applies
    status: int = 503
    retry_after: int | None = None
    when: str = "response"  # drop: "request" (never forwarded) or "response" (forwarded, cut midway)
    seconds: float = 0.0  # stall
    seen: int = 0
    applied: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self.match in path

    def take(self) -> bool:
        """Called for a matching request: does the rule apply to it?"""
        self.seen += 1
        if self.seen <= self.skip:
            return False
        if self.times is not None and self.applied >= self.times:
            return False
        self.applied += 1
        return True


class FaultyProxy(LocalHTTPServer):
    def __init__(self, upstream: str, host: str = "127.0.0.1", upstream_timeout: float = 60.0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("upstream must be http://host:port")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.upstream_timeout = upstream_timeout
        self.rules: list[Rule] = []
        self.requests: list[dict[str, Any]] = []
        self.auth_headers_seen = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        proxy = self

        class Handler(_Handler):
            srv = proxy

        self._listen(host, Handler, name="faulty-proxy")

    # ------------------------------------------------------------------------------- rules
    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def fail(self, status: int, times: int | None = 1, match: str = "/_bulk", *, skip: int = 0,
             method: str | None = None, retry_after: int | None = None) -> Rule:
        """Answer ``status`` (JSON error body) without forwarding."""
        return self._add(Rule("fail", match, method, times, skip, status=status, retry_after=retry_after))

    def drop(self, times: int | None = 1, match: str = "/_bulk", *, when: str = "response", skip: int = 0,
             method: str | None = None) -> Rule:
        """Cut the connection: before forwarding (``when="request"``) or after forwarding, halfway
        through the response (``when="response"``: the server did the work, the client never learns)."""
        if when not in ("request", "response"):
            raise ValueError("when must be 'request' or 'response'")
        return self._add(Rule("drop", match, method, times, skip, when=when))

    def stall(self, seconds: float, times: int | None = 1, match: str = "/_bulk", *, skip: int = 0,
              method: str | None = None) -> Rule:
        """Forward, then hold the response ``seconds`` before relaying it (a client timeout fires)."""
        return self._add(Rule("stall", match, method, times, skip, seconds=seconds))

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def _rule_for(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path) and rule.take():
                    return rule
        return None

    def _record(self, method: str, path: str, action: str) -> None:
        with self._lock:
            self.requests.append({"method": method, "path": path, "action": action})

    def count(self, match: str = "/_bulk", action: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if match in r["path"] and (action is None or r["action"] == action))

    # ---------------------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def stop(self) -> None:
        self._stopping.set()
        super().stop()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    srv: FaultyProxy
    protocol_version = "HTTP/1.1"
    timeout = 120

    def log_message(self, *args: Any) -> None:  # silence
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reset(self) -> None:
        """Close with RST (SO_LINGER 0): the client sees the connection cut."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes, *, head: bool,
              cut: bool = False) -> None:
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{k}: {v}" for k, v in headers]
        raw_head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        payload = b"" if head else body
        if cut:
            self.wfile.write(raw_head + payload[: max(1, len(payload) // 2)])
            self._reset()
            return
        self.wfile.write(raw_head + payload)
        self.wfile.flush()

    def _proxy(self) -> None:
        srv = self.srv
        method, path = self.command, self.path
        body = self._read_body()
        if self.headers.get("Authorization"):
            with srv._lock:
                srv.auth_headers_seen += 1
        if (self.headers.get("Connection") or "").lower() == "close":
            self.close_connection = True
        rule = srv._rule_for(method, path)
        head = method == "HEAD"

        if rule is not None and rule.kind == "fail":
            srv._record(method, path, f"failed:{rule.status}")
            payload = json.dumps({"error": {"type": "injected_fault", "reason": f"proxy answered {rule.status}"},
                                  "status": rule.status}).encode()
            headers = [("Content-Type", "application/json; charset=UTF-8"), ("Content-Length", str(len(payload)))]
            if rule.retry_after is not None:
                headers.append(("Retry-After", str(rule.retry_after)))
            self._send(rule.status, http.client.responses.get(rule.status, "Error"), headers, payload, head=head)
            return
        if rule is not None and rule.kind == "drop" and rule.when == "request":
            srv._record(method, path, "dropped:request")
            self._reset()
            return

        forward = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        conn = http.client.HTTPConnection(srv.upstream_host, srv.upstream_port, timeout=srv.upstream_timeout)
        try:
            conn.request(method, path, body=body if body or method in ("POST", "PUT") else None, headers=forward)
            resp = conn.getresponse()
            data = resp.read()
            status, reason = resp.status, resp.reason
            upstream_headers = resp.getheaders()
        except OSError as exc:
            srv._record(method, path, f"upstream-error:{type(exc).__name__}")
            self._reset()
            return
        finally:
            conn.close()
        headers = [(k, v) for k, v in upstream_headers if k.lower() not in _HOP_BY_HOP]
        if head:
            length = next((v for k, v in upstream_headers if k.lower() == "content-length"), "0")
            headers.append(("Content-Length", length))
        else:
            headers.append(("Content-Length", str(len(data))))

        if rule is not None and rule.kind == "drop":
            srv._record(method, path, "dropped:response")
            self._send(status, reason, headers, data, head=head, cut=True)
            return
        if rule is not None and rule.kind == "stall":
            srv._record(method, path, "stalled")
            srv._stopping.wait(rule.seconds)
            try:
                self._send(status, reason, headers, data, head=head)
            except OSError:  # the client gave up meanwhile
                self.close_connection = True
            return
        srv._record(method, path, "forwarded")
        self._send(status, reason, headers, data, head=head)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _proxy  # noqa: N815
