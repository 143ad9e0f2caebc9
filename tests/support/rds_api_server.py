"""A small local HTTP server speaking the RDS Query API, for the log download loop.

moto does not implement DownloadDBLogFilePortion, so the tests point a real boto3 ``rds`` client
(dummy credentials, ``endpoint_url``) at this server. It implements exactly two actions:

- ``DescribeDBLogFiles`` (DBInstanceIdentifier, FilenameContains, FileLastWritten, FileSize,
  MaxRecords, Marker) with pagination;
- ``DownloadDBLogFilePortion`` (DBInstanceIdentifier, LogFileName, Marker, NumberOfLines) serving
  whole lines in portions of at most ``max_portion_bytes`` (1 MB like RDS by default), markers
  ``"<n>:<byte offset>"`` and ``AdditionalDataPending``.

Also ``GET /v13/downloadCompleteLogFile/<instance>/<name>`` (DownloadCompleteDBLogFile, raw bytes,
SigV4 Authorization header required). Like RDS, a file that is not clean UTF-8 text (control
characters, invalid UTF-8) is refused by DownloadDBLogFilePortion with ``InvalidParameterValue``
"This file contains binary data ..." (``binary="error"``, default; ``binary="replace"`` serves U+FFFD).

Faults to inject: throttling (HTTP 400 ``<Code>Throttling</Code>``) for the first N calls or every
k-th call, 5xx the same way, RDS's truncated-line marker on chosen lines (and on lines longer than a
portion, as RDS does), a file that grows on every download call, a file rewritten at a given call,
and a marker that jumps backwards at a given call.

Responses are XML in the ``http://rds.amazonaws.com/doc/2014-10-31/`` namespace, as botocore
expects. LogFileData is escaped so that XML parsing gives back exactly the served text
(``&``, ``<``, ``>`` and ``\\r`` as character references; characters XML 1.0 cannot carry are
served as U+FFFD, which is what :meth:`RDSApiServer.served_bytes` reports too). Log file names are
served the same way (a NUL in a name arrives as U+FFFD).

Usage::

    with RDSApiServer({"db-1": {"slowquery/mysql-slowquery.log.2026-11-24.03": data}},
                      max_portion_bytes=64 * 1024) as srv:
        client = srv.client(max_attempts=3)
        ...
        assert srv.calls[0]["Action"] == "DescribeDBLogFiles"
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape as _xml_escape

__all__ = ["RDSApiServer", "NS", "TRUNCATION_MARKER"]

NS = "http://rds.amazonaws.com/doc/2014-10-31/"
TRUNCATION_MARKER = "[Your log message was truncated]"

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MARKER = re.compile(r"^(\d+):(\d+)$")
_LINES = re.compile(r"[^\n]*\n|[^\n]+\Z")


def _escape_text(text: str) -> str:
    return _xml_escape(text).replace("\r", "&#13;")


def _now_ms() -> int:
    return int(time.time() * 1000)


class _File:
    __slots__ = ("content", "last_written")

    def __init__(self, content: bytes, last_written: int) -> None:
        self.content = content
        self.last_written = last_written


class RDSApiServer:
    """Threaded RDS Query API server on 127.0.0.1, ephemeral port.

    ``files``: ``{instance: {log_file_name: bytes | str}}``; or ``folder``: a directory laid out as
    ``<folder>/<instance>/<log file name>`` (e.g. ``db-1/slowquery/mysql-slowquery.log``), read at
    every request (so a test may append to a file on disk).
    """

    def __init__(
        self,
        files: Mapping[str, Mapping[str, bytes | str]] | None = None,
        *,
        folder: str | Path | None = None,
        max_portion_bytes: int = 1_048_576,
        page_size: int = 100,
        throttle_first: int = 0,
        throttle_every: int = 0,
        error_5xx_first: int = 0,
        error_5xx_every: int = 0,
        fault_actions: Iterable[str] = (
            "DescribeDBLogFiles",
            "DownloadDBLogFilePortion",
            "DownloadCompleteDBLogFile",
        ),
        binary: str = "error",
        truncate_lines: Mapping[tuple[str, str], Iterable[int]] | None = None,
        truncate_long_lines: bool = True,
        marker_generation: int = 0,
        latency: float = 0.0,
        action_latency: Mapping[str, float] | None = None,
        max_in_flight: int = 0,
    ) -> None:
        self._lock = threading.RLock()
        self._files: dict[str, dict[str, _File]] = {}
        self.folder = Path(folder) if folder is not None else None
        base_ms = _now_ms() - 3_600_000
        for instance, entries in (files or {}).items():
            for name, content in entries.items():
                self.add_file(instance, name, content, last_written=base_ms)
        self.max_portion_bytes = int(max_portion_bytes)
        self.page_size = int(page_size)
        self.throttle_first = throttle_first
        self.throttle_every = throttle_every
        self.error_5xx_first = error_5xx_first
        self.error_5xx_every = error_5xx_every
        self.fault_actions = frozenset(fault_actions)
        self.truncate_lines = {k: set(v) for k, v in (truncate_lines or {}).items()}
        self.truncate_long_lines = truncate_long_lines
        self.marker_generation = marker_generation
        #: seconds every answer takes (slept outside the lock: concurrent calls overlap, as on AWS)
        self.latency = float(latency)
        #: the same for some actions ({"DescribeDBLogFiles": 0.5}), instead of ``latency``
        self.action_latency = {k: float(v) for k, v in (action_latency or {}).items()}
        #: calls in flight above this many are throttled at once, like an API rate limit (0 = no cap)
        self.max_in_flight = int(max_in_flight)
        self.in_flight = 0
        self.peak_in_flight = 0
        #: the same per action ("DownloadDBLogFilePortion", "DescribeDBLogFiles")
        self.peak_in_flight_by_action: dict[str, int] = {}
        self._in_flight_by_action: dict[str, int] = {}
        #: (received, answered, action, instance) of every call, in the order they were answered
        self.timeline: list[tuple[float, float, str, str]] = []
        self.capped = 0  # calls throttled by max_in_flight
        #: monotonic times of the first call received and of the last answer sent
        self.first_call_at: float | None = None
        self.last_answer_at: float | None = None
        if binary not in ("error", "replace"):
            raise ValueError("binary must be 'error' or 'replace'")
        self.binary = binary
        self._growth: dict[tuple[str, str], list[bytes]] = {}
        self._cache: dict[tuple[str, str], tuple[bytes, bool, bytes]] = {}
        self._escaped: dict[tuple[str, str, int, int], tuple[bytes, bytes]] = {}
        self._rewrites: dict[int, tuple[str, str, bytes]] = {}
        self._marker_breaks: set[int] = set()
        #: every request received: {"Action": ..., params..., "_status": http status}
        self.calls: list[dict[str, Any]] = []
        self.download_calls = 0
        self._fault_calls = 0
        self.throttled = 0
        self.errors_5xx = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ content management
    def add_file(self, instance: str, name: str, content: bytes | str, last_written: int | None = None) -> None:
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        with self._lock:
            self._files.setdefault(instance, {})[name] = _File(data, last_written or _now_ms())

    def append(self, instance: str, name: str, data: bytes | str) -> None:
        data = data.encode("utf-8") if isinstance(data, str) else data
        with self._lock:
            f = self._files[instance][name]
            f.content += data
            f.last_written = max(f.last_written + 1, _now_ms())

    def grow(self, instance: str, name: str, chunks: Iterable[bytes | str]) -> None:
        """Append the next chunk to the file before each DownloadDBLogFilePortion call on it."""
        with self._lock:
            self._growth[(instance, name)] = [c.encode("utf-8") if isinstance(c, str) else c for c in chunks]

    def rewrite_at(self, download_call: int, instance: str, name: str, content: bytes | str) -> None:
        """Replace the file's content just before the n-th (1-based) DownloadDBLogFilePortion call."""
        data = content.encode("utf-8") if isinstance(content, str) else content
        with self._lock:
            self._rewrites[download_call] = (instance, name, data)

    def break_marker_at(self, *download_calls: int) -> None:
        """The n-th DownloadDBLogFilePortion response(s) return a marker that jumps back to the start."""
        with self._lock:
            self._marker_breaks.update(download_calls)

    def _instance_files(self, instance: str) -> dict[str, _File] | None:
        if self.folder is not None:
            root = self.folder / instance
            if not root.is_dir():
                return None
            out = {}
            for p in sorted(root.rglob("*")):
                if p.is_file():
                    st = p.stat()
                    out[p.relative_to(root).as_posix()] = _File(p.read_bytes(), int(st.st_mtime * 1000))
            return out
        return self._files.get(instance)

    def prepare(self) -> None:
        """Compute what every file is served as now, and the escaped XML text of each portion a
        whole-file download asks for (benchmarks: the server's own work off the clock, so that on
        2 cores it does not compete with the code under test for CPU)."""
        with self._lock:
            for instance, files in self._files.items():
                for name, f in files.items():
                    _, data = self._served_cached(instance, name, f.content)
                    offset = 0
                    while offset < len(data):
                        end = self._cut(data, offset)
                        self._escaped_portion(instance, name, data, offset, end)
                        offset = end

    def raw_files(self, instance: str) -> list[str]:
        """Names of the slow-query log files the server holds for ``instance``."""
        with self._lock:
            return sorted(n for n in (self._instance_files(instance) or {}) if n.startswith("slowquery/"))

    def raw_bytes(self, instance: str, name: str) -> bytes:
        with self._lock:
            files = self._instance_files(instance) or {}
            return files[name].content

    def served_text(self, instance: str, name: str) -> str:
        """The text this server serves for the file (what a complete, stable download yields)."""
        with self._lock:
            files = self._instance_files(instance) or {}
            return self._served(instance, name, files[name].content)

    def served_bytes(self, instance: str, name: str) -> bytes:
        """What a correct client ends up with: the served text, or for a file RDS calls binary
        (``binary="error"``) the raw bytes of DownloadCompleteDBLogFile."""
        with self._lock:
            files = self._instance_files(instance) or {}
            content = files[name].content
            if self.binary == "error" and is_binary(content):
                return content
            return self._served(instance, name, content).encode("utf-8")

    def _served_cached(self, instance: str, name: str, content: bytes) -> tuple[bool, bytes]:
        """(is binary, served UTF-8 bytes), cached per file content."""
        key = (instance, name)
        hit = self._cache.get(key)
        if hit is not None and (hit[0] is content or hit[0] == content):
            return hit[1], hit[2]
        binary = is_binary(content)
        served = self._served(instance, name, content).encode("utf-8")
        self._cache[key] = (content, binary, served)
        return binary, served

    def _served(self, instance: str, name: str, content: bytes) -> str:
        text = _XML_INVALID.sub("\ufffd", content.decode("utf-8", errors="replace"))
        cut = self.truncate_lines.get((instance, name), set())
        if not cut and (not self.truncate_long_lines or
                        max(map(len, content.split(b"\n"))) <= self.max_portion_bytes // 2):
            return text  # no line a portion may not hold: nothing to mark (the pass below is slow)
        limit = self.max_portion_bytes
        marker_len = len(TRUNCATION_MARKER.encode("utf-8"))
        out = []
        for i, line in enumerate(_LINES.findall(text)):
            body = line.rstrip("\r\n")
            ending = line[len(body):]
            nbytes = len(line.encode("utf-8"))
            if i in cut or (self.truncate_long_lines and nbytes > limit):
                keep_bytes = len(body.encode("utf-8")) // 2 if i in cut else limit - marker_len - len(ending)
                keep_bytes = max(0, min(keep_bytes, limit - marker_len - len(ending)))
                kept = body.encode("utf-8")[:keep_bytes].decode("utf-8", errors="ignore")
                line = kept + TRUNCATION_MARKER + ending
            out.append(line)
        return "".join(out)

    # ------------------------------------------------------------------ lifecycle
    @property
    def endpoint_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> RDSApiServer:
        server = self

        class Handler(_Handler):
            srv = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="rds-api-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> RDSApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, max_attempts: int = 3, mode: str = "standard", **kwargs: Any):
        """A boto3 rds client for this server, dummy credentials, botocore retries as given
        (botocore's ``max_attempts`` counts retries: 0 = no botocore retry)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "rds",
            region_name="us-east-1",
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"mode": mode, "max_attempts": max_attempts}, **kwargs),
        )

    def download_calls_for(self, name: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c.get("Action") == "DownloadDBLogFilePortion" and c.get("LogFileName") == name]

    # ------------------------------------------------------------------ request handling
    def handle(self, params: dict[str, str]) -> tuple[int, str | bytes]:
        with self._lock:
            if self.first_call_at is None:
                self.first_call_at = time.monotonic()
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            action = params.get("Action", "")
            started = time.monotonic()
            self._in_flight_by_action[action] = self._in_flight_by_action.get(action, 0) + 1
            self.peak_in_flight_by_action[action] = max(self.peak_in_flight_by_action.get(action, 0),
                                                        self._in_flight_by_action[action])
            over_cap = bool(self.max_in_flight) and self.in_flight > self.max_in_flight
        try:
            if over_cap:
                with self._lock:
                    self.capped += 1
                    self.throttled += 1
                    self.calls.append({**params, "_status": 400})
                result = 400, _error("Throttling", "Rate exceeded", "Sender")
            else:
                result = self._handle(params)
            latency = self.action_latency.get(action, self.latency)
            if latency:
                time.sleep(latency)
            return result
        finally:
            with self._lock:
                self.in_flight -= 1
                self._in_flight_by_action[action] -= 1
                self.last_answer_at = time.monotonic()
                self.timeline.append((started, self.last_answer_at, action, params.get("DBInstanceIdentifier", "")))

    def _handle(self, params: dict[str, str]) -> tuple[int, str | bytes]:
        action = params.get("Action", "")
        with self._lock:
            call = dict(params)
            self.calls.append(call)
            if action in self.fault_actions:
                self._fault_calls += 1
                n = self._fault_calls
                if (n <= self.throttle_first) or (self.throttle_every and n % self.throttle_every == 0):
                    self.throttled += 1
                    call["_status"] = 400
                    return 400, _error("Throttling", "Rate exceeded", "Sender")
                if (n <= self.throttle_first + self.error_5xx_first and n > self.throttle_first) or (
                    self.error_5xx_every and n % self.error_5xx_every == 0
                ):
                    self.errors_5xx += 1
                    call["_status"] = 503
                    return 503, _error("ServiceUnavailable", "Service unavailable", "Receiver")
            if action == "DescribeDBLogFiles":
                status, body = self._describe(params)
            elif action == "DownloadDBLogFilePortion":
                status, body = self._download(params)
            else:
                status, body = 400, _error("InvalidAction", f"unknown action {action}", "Sender")
            call["_status"] = status
            return status, body

    def handle_complete(self, instance: str, name: str, authorization: str) -> tuple[int, bytes | str]:
        """DownloadCompleteDBLogFile: the raw file (growth applied like portion calls)."""
        with self._lock:
            call = {
                "Action": "DownloadCompleteDBLogFile",
                "DBInstanceIdentifier": instance,
                "LogFileName": name,
                "_signed": authorization.startswith("AWS4-HMAC-SHA256 Credential="),
            }
            self.calls.append(call)
            if not call["_signed"]:
                call["_status"] = 403
                return 403, _error("MissingAuthenticationToken", "Missing Authentication Token", "Sender")
            if "DownloadCompleteDBLogFile" in self.fault_actions:
                self._fault_calls += 1
                n = self._fault_calls
                if (n <= self.throttle_first) or (self.throttle_every and n % self.throttle_every == 0):
                    self.throttled += 1
                    call["_status"] = 400
                    return 400, _error("Throttling", "Rate exceeded", "Sender")
                if self.error_5xx_every and n % self.error_5xx_every == 0:
                    self.errors_5xx += 1
                    call["_status"] = 503
                    return 503, _error("ServiceUnavailable", "Service unavailable", "Receiver")
            growth = self._growth.get((instance, name))
            if growth:
                self.append(instance, name, growth.pop(0))
            files = self._instance_files(instance)
            if files is None or name not in files:
                call["_status"] = 404
                return 404, _error("DBLogFileNotFoundFault", f"DBLog File {name} is not found", "Sender")
            call["_status"] = 200
            return 200, files[name].content

    def _describe(self, p: dict[str, str]) -> tuple[int, str]:
        instance = p.get("DBInstanceIdentifier", "")
        files = self._instance_files(instance)
        if files is None:
            return 404, _error("DBInstanceNotFound", f"DBInstance {instance} not found.", "Sender")
        contains = p.get("FilenameContains")
        since = int(p.get("FileLastWritten") or 0)
        min_size = int(p.get("FileSize") or 0)
        rows = [
            (name, f)
            for name, f in sorted(files.items())
            if (not contains or contains in name) and f.last_written >= since and len(f.content) >= min_size
        ]
        page = int(p.get("MaxRecords") or self.page_size)
        start = int(p.get("Marker") or 0)
        chunk = rows[start:start + page]
        details = "".join(
            "<DescribeDBLogFilesDetails>"
            f"<LogFileName>{_escape_text(_XML_INVALID.sub(chr(0xFFFD), name))}</LogFileName>"  # as log text
            f"<LastWritten>{f.last_written}</LastWritten>"
            f"<Size>{len(f.content)}</Size>"
            "</DescribeDBLogFilesDetails>"
            for name, f in chunk
        )
        marker = f"<Marker>{start + page}</Marker>" if start + page < len(rows) else ""
        return 200, _response(
            "DescribeDBLogFiles", f"<DescribeDBLogFiles>{details}</DescribeDBLogFiles>{marker}"
        )

    def _download(self, p: dict[str, str]) -> tuple[int, str | bytes]:
        self.download_calls += 1
        n = self.download_calls
        instance = p.get("DBInstanceIdentifier", "")
        name = p.get("LogFileName", "")
        rw = self._rewrites.pop(n, None)
        if rw is not None:
            self.add_file(rw[0], rw[1], rw[2])
        growth = self._growth.get((instance, name))
        if growth:
            self.append(instance, name, growth.pop(0))
        files = self._instance_files(instance)
        if files is None:
            return 404, _error("DBInstanceNotFound", f"DBInstance {instance} not found.", "Sender")
        if name not in files:
            return 404, _error("DBLogFileNotFoundFault", f"DBLog File {name} is not found on the DB instance", "Sender")
        binary, data = self._served_cached(instance, name, files[name].content)
        if self.binary == "error" and binary:
            return 400, _error(
                "InvalidParameterValue",
                "This file contains binary data and should be downloaded instead of viewed.",
                "Sender",
            )
        marker = p.get("Marker")
        if marker is None:
            # RDS then returns the *last* 10000 lines; the client under test must never do this
            return 400, _error("InvalidParameterCombination", "test server requires Marker", "Sender")
        if marker == "0":
            offset = 0
        else:
            m = _MARKER.match(marker)
            if not m:
                return 400, _error("InvalidParameterValue", f"bad marker {marker}", "Sender")
            offset = int(m.group(2))
        if offset >= len(data):
            return 200, _portion("", f"{self.marker_generation}:{len(data)}", False)
        max_lines = int(p["NumberOfLines"]) if p.get("NumberOfLines") else None
        end = self._cut(data, offset, max_lines)
        pending = end < len(data)
        out_marker = f"{self.marker_generation}:{end}"
        if n in self._marker_breaks:
            out_marker = f"{self.marker_generation}:0"
        return 200, _portion("", out_marker, pending, escaped=self._escaped_portion(instance, name, data, offset, end))

    def _cut(self, data: bytes, offset: int, max_lines: int | None = None) -> int:
        """End of the portion that starts at ``offset``: whole lines, at most max_portion_bytes
        (at least one line), or ``max_lines`` lines."""
        end = offset
        limit = offset + self.max_portion_bytes
        lines = 0
        if max_lines is None and limit >= len(data):
            return len(data)  # the rest fits in one portion
        if max_lines is None:
            # the last whole line that ends within the limit, found in one search (not line by line)
            nl = data.rfind(b"\n", offset, limit)
            if nl >= offset:
                end = nl + 1
                limit = end  # the loop below then stops at once (or takes one long line)
        while end < len(data):
            nl = data.find(b"\n", end)
            line_end = len(data) if nl < 0 else nl + 1
            if line_end > limit and end > offset:
                break
            end = line_end
            lines += 1
            if max_lines is not None and lines >= max_lines:
                break
        return end

    def _escaped_portion(self, instance: str, name: str, data: bytes, offset: int, end: int) -> bytes:
        """data[offset:end] as the XML text of a response, escaped once per portion (a retried or
        re-downloaded portion is not escaped again; keyed by the served bytes, replaced on any change)."""
        key = (instance, name, offset, end)
        hit = self._escaped.get(key)
        if hit is None or hit[0] is not data:
            hit = (data, _escape_text(data[offset:end].decode("utf-8")).encode("utf-8"))
            self._escaped[key] = hit
        return hit[1]


def is_binary(content: bytes) -> bool:
    """What this server (like RDS) refuses to serve as text: invalid UTF-8 or XML-invalid characters."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return _XML_INVALID.search(text) is not None


def _request_id() -> str:
    return str(uuid.uuid4())


def _response(action: str, result_xml: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{action}Response xmlns="{NS}">'
        f"<{action}Result>{result_xml}</{action}Result>"
        f"<ResponseMetadata><RequestId>{_request_id()}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )


def _portion(text: str, marker: str, pending: bool, escaped: bytes | None = None) -> bytes:
    """The DownloadDBLogFilePortion response as bytes (the big escaped text is joined, not re-encoded)."""
    head, _, tail = _response(
        "DownloadDBLogFilePortion",
        "<LogFileData>\0</LogFileData>"
        f"<AdditionalDataPending>{'true' if pending else 'false'}</AdditionalDataPending>"
        f"<Marker>{_escape_text(marker)}</Marker>",
    ).partition("\0")
    data = _escape_text(text).encode("utf-8") if escaped is None else escaped
    return b"".join((head.encode("utf-8"), data, tail.encode("utf-8")))


def _error(code: str, message: str, kind: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="{NS}">'
        f"<Error><Type>{kind}</Type><Code>{code}</Code><Message>{_escape_text(message)}</Message></Error>"
        f"<RequestId>{_request_id()}</RequestId></ErrorResponse>"
    )


class _Handler(BaseHTTPRequestHandler):
    srv: RDSApiServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        params = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        try:
            status, body = self.srv.handle(params)
        except Exception as exc:  # pragma: no cover - surfaced to the client as a 500
            status, body = 500, _error("InternalFailure", repr(exc), "Receiver")
        payload = body if isinstance(body, bytes) else body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/xml; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", _request_id())
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        from urllib.parse import unquote, urlsplit

        path = unquote(urlsplit(self.path).path)
        prefix = "/v13/downloadCompleteLogFile/"
        if not path.startswith(prefix) or "/" not in path[len(prefix):]:
            status, body = 404, _error("UnknownOperation", "not found", "Sender")
        else:
            instance, _, name = path[len(prefix):].partition("/")
            status, body = self.srv.handle_complete(instance, name, self.headers.get("Authorization") or "")
        payload = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if status == 200 else "text/xml; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence request logging
        pass
