"""A small threaded local HTTP server standing in for the Slack Web API.

Serves what ``slack_sdk.WebClient.files_upload_v2`` and ``chat_postMessage`` need:

* ``POST /api/auth.test``
* ``POST /api/files.getUploadURLExternal`` (filename, length) -> ``upload_url`` on this server
* ``POST /upload/<file_id>`` (the upload URL: raw file bytes) -> ``OK - <length>``
* ``POST /api/files.completeUploadExternal`` (files JSON, channel_id, initial_comment)
* ``POST /api/chat.postMessage`` (channel, text)

Every API call must carry ``Authorization: Bearer <token>``; a token other than the server's gets
``{"ok": false, "error": "invalid_auth"}`` (HTTP 200, as Slack does). Channels the bot can post to:
``channels`` (others get ``channel_not_found``).

Faults to inject, consumed in order, per endpoint (``"upload"`` is the upload URL)::

    srv.fail("files.completeUploadExternal", status=429, retry_after=1)   # HTTP 429 + Retry-After
    srv.fail("files.getUploadURLExternal", status=500)                     # HTTP 500
    srv.fail("upload", status=500)                                         # the upload URL answers 500
    srv.fail("files.completeUploadExternal", error="not_in_channel")      # ok=false, HTTP 200

Recorded: ``calls`` (method, status answered, params; the Authorization header is kept out),
``uploads`` (file_id -> {"filename", "length", "data"}), ``completed`` (channel_id,
initial_comment, files with their bytes), ``messages`` (chat.postMessage), ``tokens_seen``.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.support.http_server import LocalHTTPServer

__all__ = ["SlackApiServer", "Fault"]

VALID_TOKEN = "xoxb-test-0000-valid-token"


@dataclass
class Fault:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None


@dataclass
class _State:
    calls: list[dict] = field(default_factory=list)
    uploads: dict[str, dict] = field(default_factory=dict)
    completed: list[dict] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)
    tokens_seen: set[str] = field(default_factory=set)
    faults: dict[str, list[Fault]] = field(default_factory=dict)


class SlackApiServer(LocalHTTPServer):
    def __init__(self, token: str = VALID_TOKEN, channels: tuple[str, ...] = ("C0123456789",),
                 host: str = "127.0.0.1") -> None:
        self.token = token
        self.channels = set(channels)
        self._state = _State()
        self._lock = threading.Lock()
        self._next_id = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = server._dispatch(self.path, self.headers, body)
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST  # noqa: N815

        self._listen(host, Handler)

    # ------------------------------------------------------------------------------- public
    @property
    def base_url(self) -> str:
        return self.url + "/api/"

    def fail(self, endpoint: str, status: int = 200, error: str | None = None, retry_after: int | None = None,
             times: int = 1) -> None:
        if status == 200 and error is None:
            raise ValueError("a fault needs a non-200 status or an error")
        with self._lock:
            self._state.faults.setdefault(endpoint, []).extend([Fault(status, error, retry_after)] * times)

    @property
    def calls(self) -> list[dict]:
        with self._lock:
            return list(self._state.calls)

    def methods(self) -> list[str]:
        return [c["method"] for c in self.calls]

    def statuses(self, method: str) -> list[int]:
        return [c["status"] for c in self.calls if c["method"] == method]

    @property
    def uploads(self) -> dict[str, dict]:
        with self._lock:
            return dict(self._state.uploads)

    @property
    def completed(self) -> list[dict]:
        with self._lock:
            return list(self._state.completed)

    @property
    def messages(self) -> list[dict]:
        with self._lock:
            return list(self._state.messages)

    @property
    def tokens_seen(self) -> set[str]:
        with self._lock:
            return set(self._state.tokens_seen)

    # ----------------------------------------------------------------------------- handling
    @staticmethod
    def _params(path: str, headers: Any, body: bytes) -> dict[str, str]:
        params = {k: v[-1] for k, v in parse_qs(urlparse(path).query).items()}
        ctype = (headers.get("Content-Type") or "").lower()
        if body and "application/json" in ctype:
            params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in json.loads(body).items()})
        elif body and "application/x-www-form-urlencoded" in ctype:
            params.update({k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()})
        return params

    def _fault(self, endpoint: str) -> Fault | None:
        queue = self._state.faults.get(endpoint)
        return queue.pop(0) if queue else None

    def _record(self, method: str, status: int, params: dict) -> None:
        self._state.calls.append({"method": method, "status": status, "params": params})

    def _dispatch(self, path: str, headers: Any, body: bytes) -> tuple[int, dict, Any]:
        json_h = {"Content-Type": "application/json; charset=utf-8"}
        route = urlparse(path).path
        with self._lock:
            if route.startswith("/upload/"):
                file_id = route.rsplit("/", 1)[-1]
                fault = self._fault("upload")
                if fault is not None:
                    self._record("upload", fault.status, {"file_id": file_id})
                    h = {"Content-Type": "text/plain"}
                    if fault.retry_after is not None:
                        h["Retry-After"] = str(fault.retry_after)
                    return fault.status, h, b"upload failed"
                if file_id not in self._state.uploads:
                    self._record("upload", 404, {"file_id": file_id})
                    return 404, {"Content-Type": "text/plain"}, b"unknown upload"
                self._state.uploads[file_id]["data"] = body
                self._record("upload", 200, {"file_id": file_id, "bytes": len(body)})
                return 200, {"Content-Type": "text/plain"}, f"OK - {len(body)}".encode()

            if not route.startswith("/api/"):
                return 404, json_h, {"ok": False, "error": "unknown_method"}
            method = route[len("/api/"):]
            params = self._params(path, headers, body)
            auth = headers.get("Authorization") or ""
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else params.pop("token", "")
            self._state.tokens_seen.add(token)

            fault = self._fault(method)
            if fault is not None:
                h = dict(json_h)
                if fault.retry_after is not None:
                    h["Retry-After"] = str(fault.retry_after)
                error = fault.error or ("ratelimited" if fault.status == 429 else "internal_error")
                self._record(method, fault.status, params)
                return fault.status, h, {"ok": False, "error": error}
            if not token:
                self._record(method, 200, params)
                return 200, json_h, {"ok": False, "error": "not_authed"}
            if token != self.token:
                self._record(method, 200, params)
                return 200, json_h, {"ok": False, "error": "invalid_auth"}

            status, payload = 200, self._handle(method, params)
            self._record(method, status, params)
            return status, json_h, payload

    def _handle(self, method: str, params: dict[str, str]) -> dict:
        if method == "auth.test":
            return {"ok": True, "url": "https://example.slack.com/", "team": "Example", "user": "slowlog-bot",
                    "team_id": "T0001", "user_id": "U0001", "bot_id": "B0001"}
        if method == "files.getUploadURLExternal":
            if not params.get("filename") or not params.get("length"):
                return {"ok": False, "error": "invalid_arguments"}
            self._next_id += 1
            file_id = f"F{self._next_id:010d}"
            self._state.uploads[file_id] = {"filename": params["filename"], "length": int(params["length"]),
                                            "data": None}
            return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            channel = params.get("channel_id") or params.get("channels") or ""
            if channel and channel not in self.channels:
                return {"ok": False, "error": "channel_not_found"}
            files = json.loads(params.get("files") or "[]")
            out = []
            for f in files:
                up = self._state.uploads.get(f.get("id"))
                if up is None or up["data"] is None:
                    return {"ok": False, "error": "file_not_found"}
                out.append({"id": f["id"], "title": f.get("title"), "name": up["filename"], "data": up["data"]})
            self._state.completed.append({"channel_id": channel, "initial_comment": params.get("initial_comment"),
                                          "files": out})
            return {"ok": True, "files": [{"id": f["id"], "title": f["title"], "name": f["name"]} for f in out]}
        if method == "chat.postMessage":
            channel = params.get("channel") or ""
            if channel not in self.channels:
                return {"ok": False, "error": "channel_not_found"}
            self._state.messages.append({"channel": channel, "text": params.get("text")})
            return {"ok": True, "channel": channel, "ts": "1700000000.000100", "message": {"text": params.get("text")}}
        return {"ok": False, "error": "unknown_method"}

    # ---------------------------------------------------------------------------- lifecycle
