"""A private CA made for the test (``cryptography``) and a recording server speaking enough of
OpenSearch's API for ``ping()``: plain http or TLS, optionally requiring a client certificate.

``RecordingServer`` counts every TCP connection and keeps every byte received, so a test can
prove that a refused configuration sent nothing at all (``connections == 0``).
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# GET / of OpenSearch 2.x (the fields opensearch-py and our ping() read)
INFO = {"name": "tls-test", "cluster_name": "tls-test", "cluster_uuid": "x",
        "version": {"distribution": "opensearch", "number": "2.19.1"}, "tagline": "The OpenSearch Project"}


@dataclass
class Pki:
    ca: Path  # the private CA's certificate (the bundle a client trusts)
    server_cert: Path  # for 127.0.0.1 (IP SAN), key inside server_key
    server_key: Path
    client_cert: Path  # CN=slowlog-publisher, extended key usage clientAuth
    client_key: Path
    other_ca: Path  # a second, unrelated CA


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer: str, issuer_key, *, ca: bool, extensions=()) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    for ext in extensions:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate | None = None, key=None) -> Path:
    data = b""
    if cert is not None:
        data += cert.public_bytes(serialization.Encoding.PEM)
    if key is not None:
        data += key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    path.write_bytes(data)
    return path


def make_pki(folder: Path) -> Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate it signed; another CA."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, other_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(4))
    ca = _cert("slowlog test CA", ca_key, "slowlog test CA", ca_key, ca=True)
    other = _cert("unrelated CA", other_key, "unrelated CA", other_key, ca=True)
    server = _cert("127.0.0.1", server_key, "slowlog test CA", ca_key, ca=False, extensions=[
        x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])])
    client = _cert("slowlog-publisher", client_key, "slowlog test CA", ca_key, ca=False,
                   extensions=[x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])])
    return Pki(ca=_write(folder / "ca.pem", ca), server_cert=_write(folder / "server.pem", server),
               server_key=_write(folder / "server-key.pem", key=server_key),
               client_cert=_write(folder / "client.pem", client),
               client_key=_write(folder / "client-key.pem", key=client_key),
               other_ca=_write(folder / "other-ca.pem", other))


def server_context(pki: Pki, *, require_client_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(pki.ca)
    return ctx


class RecordingServer:
    """Listens on 127.0.0.1; answers ``GET /`` like OpenSearch; records connections, bytes, headers,
    TLS handshake failures and the client certificate's CN."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.tls = tls
        self.connections = 0
        self.received = b""
        self.requests: list[dict[str, str]] = []  # header name (lower case) -> value, plus ":line"
        self.handshake_errors: list[str] = []
        self.client_cns: list[str] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    with self._lock:
                        self.handshake_errors.append(str(e))
                    return
                peer = conn.getpeercert()
                if peer:
                    self.client_cns += [v for rdn in peer["subject"] for k, v in rdn if k == "commonName"]
            buffer = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                with self._lock:
                    self.received += chunk
                buffer += chunk
                while b"\r\n\r\n" in buffer:
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    lines = head.decode("latin-1").split("\r\n")
                    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
                    length = int(headers.get("content-length", 0))
                    while len(buffer) < length:
                        buffer += conn.recv(65536)
                    buffer = buffer[length:]
                    self.requests.append({":line": lines[0], **headers})
                    body = json.dumps(INFO).encode()
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            return
        finally:
            conn.close()

    def __enter__(self) -> "RecordingServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the serving thread
        except OSError:
            pass
        self._sock.close()


class TlsTerminator:
    """TLS on 127.0.0.1 in front of a plain-http server (the real OpenSearch node): each accepted
    TLS connection is relayed byte for byte to ``upstream_port``; ``client_cns`` as above."""

    def __init__(self, upstream_port: int, tls: ssl.SSLContext):
        self.upstream_port = upstream_port
        self.tls = tls
        self.client_cns: list[str] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        try:
            client = self.tls.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()
            return
        peer = client.getpeercert()
        if peer:
            self.client_cns += [v for rdn in peer["subject"] for k, v in rdn if k == "commonName"]
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        back.start()
        pump(client, upstream)
        back.join(30)
        client.close()
        upstream.close()

    def __enter__(self) -> "TlsTerminator":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
