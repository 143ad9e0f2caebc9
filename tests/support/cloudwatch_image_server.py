"""A small local HTTP server standing in for CloudWatch's ``GetMetricWidgetImage``.

moto does not implement this operation. Current botocore talks to CloudWatch in the AWS JSON 1.0
protocol (``POST /``, ``X-Amz-Target: GraniteServiceVersion20100801.GetMetricWidgetImage``, the
PNG base64-encoded in the JSON answer); the service model also lists Smithy RPC v2 CBOR
(``POST /service/GraniteServiceVersion20100801/operation/GetMetricWidgetImage``, CBOR bodies), which
is served too, so a botocore that switches protocol keeps working. The server decodes the request,
records the widget JSON and answers a real PNG rendered by matplotlib (its title names the
widget's first metric). Point a boto3 ``cloudwatch`` client at it with ``endpoint_url`` and dummy
credentials.

Faults to inject: ``fail_next(code, status=400, message=..., times=1)`` answers the next calls
with a CBOR error (``__type`` = ``code``), e.g. ``Throttling`` / 400 (botocore retries it) or
``AccessDenied`` / 403.

Usage::

    with CloudWatchImageServer() as srv:
        res = CloudWatchMetricsResource(endpoint_url=srv.url, region_name="us-east-1", ...)
        png = res.get_widget_image({...})
        assert json.loads(srv.requests[0]["MetricWidget"])["metrics"] == ...
"""
from __future__ import annotations

import base64
import io
import json
import struct
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.http_server import LocalHTTPServer

__all__ = ["CloudWatchImageServer", "cbor_dumps", "cbor_loads", "render_png"]


# --------------------------------------------------------------------- minimal CBOR (RFC 8949)
def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    if n < 0x100:
        return bytes([major << 5 | 24, n])
    if n < 0x10000:
        return bytes([major << 5 | 25]) + struct.pack(">H", n)
    if n < 0x100000000:
        return bytes([major << 5 | 26]) + struct.pack(">I", n)
    return bytes([major << 5 | 27]) + struct.pack(">Q", n)


def cbor_dumps(value: Any) -> bytes:
    if value is None:
        return b"\xf6"
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, (bytes, bytearray)):
        return _head(2, len(value)) + bytes(value)
    if isinstance(value, str):
        raw = value.encode()
        return _head(3, len(raw)) + raw
    if isinstance(value, (list, tuple)):
        return _head(4, len(value)) + b"".join(cbor_dumps(v) for v in value)
    if isinstance(value, dict):
        return _head(5, len(value)) + b"".join(cbor_dumps(k) + cbor_dumps(v) for k, v in value.items())
    raise TypeError(f"cannot CBOR-encode {type(value).__name__}")


def cbor_loads(data: bytes) -> Any:
    value, pos = _decode(memoryview(data), 0)
    return value


def _length(buf: memoryview, pos: int, info: int) -> tuple[int | None, int]:
    if info < 24:
        return info, pos
    if info == 31:
        return None, pos  # indefinite
    size = {24: 1, 25: 2, 26: 4, 27: 8}[info]
    return int.from_bytes(buf[pos:pos + size], "big"), pos + size


def _decode(buf: memoryview, pos: int) -> tuple[Any, int]:
    initial = buf[pos]
    pos += 1
    major, info = initial >> 5, initial & 0x1F
    if major == 7:
        if info == 20:
            return False, pos
        if info == 21:
            return True, pos
        if info in (22, 23):
            return None, pos
        if info == 25:
            return struct.unpack(">e", buf[pos:pos + 2])[0], pos + 2
        if info == 26:
            return struct.unpack(">f", buf[pos:pos + 4])[0], pos + 4
        if info == 27:
            return struct.unpack(">d", buf[pos:pos + 8])[0], pos + 8
        raise ValueError(f"unsupported CBOR simple value {info}")
    n, pos = _length(buf, pos, info)
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major in (2, 3):
        if n is None:  # indefinite: chunks until 0xff
            chunks = []
            while buf[pos] != 0xFF:
                chunk, pos = _decode(buf, pos)
                chunks.append(chunk)
            pos += 1
            return (b"".join(chunks) if major == 2 else "".join(chunks)), pos
        raw = bytes(buf[pos:pos + n])
        return (raw if major == 2 else raw.decode()), pos + n
    if major == 4:
        items = []
        while (n is None and buf[pos] != 0xFF) or (n is not None and len(items) < n):
            item, pos = _decode(buf, pos)
            items.append(item)
        return items, pos + (1 if n is None else 0)
    if major == 5:
        out = {}
        while (n is None and buf[pos] != 0xFF) or (n is not None and len(out) < n):
            key, pos = _decode(buf, pos)
            out[key], pos = _decode(buf, pos)
        return out, pos + (1 if n is None else 0)
    if major == 6:  # tag: decode the tagged item (e.g. epoch timestamps)
        return _decode(buf, pos)
    raise ValueError(f"unsupported CBOR major type {major}")


# --------------------------------------------------------------------------------------- image
def render_png(title: str, width: int = 400, height: int = 225) -> bytes:
    """A small real PNG (a line chart titled ``title``), rendered with matplotlib's Agg backend."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.add_subplot()
    ax.plot(range(12), [3, 4, 4, 6, 5, 7, 9, 8, 6, 5, 4, 4])
    ax.set_title(title[:60], fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# -------------------------------------------------------------------------------------- server
class CloudWatchImageServer(LocalHTTPServer):
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.requests: list[dict] = []  # decoded request bodies (MetricWidget, OutputFormat)
        self.operations: list[str] = []
        self._faults: list[tuple[str, int, str]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = self.headers.get("X-Amz-Target") or ""
                cbor = self.path.startswith("/service/")
                if cbor:
                    operation = self.path.rsplit("/", 1)[-1]
                    request = cbor_loads(body) if body else {}
                else:
                    operation = target.rsplit(".", 1)[-1]
                    request = json.loads(body or b"{}")
                status, payload = server._handle(operation, request)
                if cbor:
                    raw = cbor_dumps(payload)
                    content_type = "application/cbor"
                else:
                    if isinstance(payload.get("MetricWidgetImage"), bytes):
                        payload = {"MetricWidgetImage": base64.b64encode(payload["MetricWidgetImage"]).decode()}
                    raw = json.dumps(payload).encode()
                    content_type = "application/x-amz-json-1.0"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if cbor:
                    self.send_header("smithy-protocol", "rpc-v2-cbor")
                self.send_header("x-amzn-requestid", "req-1")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._listen(host, Handler)

    def fail_next(self, code: str, status: int = 400, message: str = "injected", times: int = 1) -> None:
        with self._lock:
            self._faults.extend([(code, status, message)] * times)

    def _handle(self, operation: str, request: dict) -> tuple[int, dict]:
        with self._lock:
            self.operations.append(operation)
            if operation != "GetMetricWidgetImage":
                return 400, {"__type": "UnknownOperationException", "message": f"not served here: {operation}"}
            self.requests.append(request)
            if self._faults:
                code, status, message = self._faults.pop(0)
                return status, {"__type": f"com.amazonaws.cloudwatch#{code}", "message": message}
        try:
            widget = json.loads(request.get("MetricWidget") or "{}")
            first = widget["metrics"][0]
            title = widget.get("title") or " ".join(str(x) for x in first if not isinstance(x, dict))
            size = (int(widget.get("width", 400)), int(widget.get("height", 225)))
        except Exception:  # noqa: BLE001 - like CloudWatch: a 400 for an unusable widget
            return 400, {"__type": "com.amazonaws.cloudwatch#InvalidParameterInput", "message": "bad MetricWidget"}
        return 200, {"MetricWidgetImage": render_png(title, min(size[0], 800), min(size[1], 450))}

