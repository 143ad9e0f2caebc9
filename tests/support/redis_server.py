"""A private, real redis-server (Debian's package) that puts every command in its slow log.

    with RedisServer() as r:                 # 127.0.0.1:<free port>, no persistence
        client = redis.Redis(port=r.port)
        ...

Started with ``--save '' --appendonly no --slowlog-log-slower-than 0 --slowlog-max-len 10000``.
``tls=True`` adds a TLS port with a throw-away self-signed certificate (needs ``openssl``), as
MemoryDB / ElastiCache in-transit encryption require; ``acl_user=(name, password)`` adds an ACL user.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, *, tls: bool = False, acl_user: tuple[str, str] | None = None) -> None:
        self.port = _free_port()
        self.tls_port = _free_port() if tls else None
        self.acl_user = acl_user
        self.dir: Path | None = None
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    @staticmethod
    def tls_available() -> bool:
        return shutil.which("openssl") is not None

    @property
    def ca_cert(self) -> Path:
        return self.dir / "cert.pem"

    def _make_cert(self) -> None:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(self.dir / "key.pem"), "-out", str(self.ca_cert)],
            check=True, capture_output=True,
        )

    def start(self) -> "RedisServer":
        self.dir = Path(tempfile.mkdtemp(prefix="slowlog-redis-"))
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--slowlog-log-slower-than", "0", "--slowlog-max-len", "10000", "--dir", str(self.dir),
                "--daemonize", "no", "--logfile", str(self.dir / "redis.log")]
        if self.tls_port:
            self._make_cert()
            args += ["--tls-port", str(self.tls_port), "--tls-cert-file", str(self.ca_cert),
                     "--tls-key-file", str(self.dir / "key.pem"), "--tls-ca-cert-file", str(self.ca_cert),
                     "--tls-auth-clients", "no"]
        if self.acl_user:
            name, password = self.acl_user
            args += ["--user", name, "on", f">{password}", "~*", "&*", "+@all"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.dir / "redis.log").read_text(errors="replace") if (self.dir / "redis.log").exists() else ""
                raise RuntimeError(f"redis-server exited: {self.proc.stderr.read().decode(errors='replace')} {log[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("redis-server did not become ready in 30 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def url(self, user: str | None = None, password: str | None = None, tls: bool = False) -> str:
        auth = f"{user}:{password}@" if user else ""
        if tls:
            return f"rediss://{auth}127.0.0.1:{self.tls_port}/0"
        return f"redis://{auth}127.0.0.1:{self.port}/0"
