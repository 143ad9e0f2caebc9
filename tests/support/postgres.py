"""A private, real PostgreSQL server (Debian's binaries) that logs every statement with its duration.

    with PostgreSQL() as pg:                       # log_line_prefix = RDS's '%t:%r:%u@%d:[%p]:'
        pg.psql("CREATE DATABASE bench")
        pg.pgbench("-i", "-s", "1", "bench")
        log_bytes = pg.log_path.read_bytes()

The server runs with ``log_min_duration_statement=0``, ``logging_collector=off`` and stderr to a file,
on a Unix socket in a private directory (``listen_addresses=''``, a free port number for the socket
name). PostgreSQL refuses to run as root: under root the server and its tools run as the ``postgres``
system user (created by Debian's package) and the directory is handed to that user.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

RDS_PREFIX = "%t:%r:%u@%d:[%p]:"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<major>/bin with initdb and postgres (15 on Debian 12)."""
    found = []
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "postgres")):
            try:
                found.append((int(Path(d).parent.name), d))
            except ValueError:
                continue
    if found:
        return Path(max(found)[1])
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("postgres") else None


class PostgreSQL:
    def __init__(self, *, prefix: str = RDS_PREFIX, settings: dict[str, str] | None = None) -> None:
        self.bin = bin_dir()
        self.prefix = prefix
        self.settings = {
            "log_min_duration_statement": "0",
            "log_line_prefix": prefix,
            "logging_collector": "off",
            "log_timezone": "UTC",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "max_connections": "20",
            **(settings or {}),
        }
        self.port = _free_port()
        self.dir: Path | None = None
        self.proc: subprocess.Popen | None = None
        self._user = None
        if os.geteuid() == 0:
            self._user = pwd.getpwnam("postgres")

    @staticmethod
    def available() -> bool:
        if bin_dir() is None:
            return False
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return False
        return True

    # -- paths ----------------------------------------------------------------------------------
    @property
    def datadir(self) -> Path:
        return self.dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.dir / "sock"

    @property
    def log_path(self) -> Path:
        return self.dir / "postgresql.log"

    def _tool(self, name: str) -> str:
        path = self.bin / name
        if path.exists():
            return str(path)
        return shutil.which(name) or name

    def _popen_kwargs(self) -> dict:
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "PGTZ": "UTC"}
        kwargs: dict = {"env": env}
        if self._user is not None:
            env["HOME"] = str(self.dir)
            kwargs.update(user=self._user.pw_uid, group=self._user.pw_gid, extra_groups=[])
        return kwargs

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "PostgreSQL":
        if self.bin is None:
            raise RuntimeError("PostgreSQL binaries not found (apt-get install postgresql)")
        self.dir = Path(tempfile.mkdtemp(prefix="slowlog-pg-"))
        self.socket_dir.mkdir()
        if self._user is not None:
            for p in (self.dir, self.socket_dir):
                os.chown(p, self._user.pw_uid, self._user.pw_gid)
        subprocess.run(
            [self._tool("initdb"), "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--locale=C", "--no-sync"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **self._popen_kwargs(),
        )
        args = [self._tool("postgres"), "-D", str(self.datadir), "-k", str(self.socket_dir), "-p", str(self.port),
                "-c", "listen_addresses="]
        for k, v in self.settings.items():
            args += ["-c", f"{k}={v}"]
        log = open(self.log_path, "ab")
        if self._user is not None:
            os.chown(self.log_path, self._user.pw_uid, self._user.pw_gid)
        try:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, **self._popen_kwargs())
        finally:
            log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            r = subprocess.run([self._tool("pg_isready"), "-h", str(self.socket_dir), "-p", str(self.port), "-q"],
                               capture_output=True, **self._popen_kwargs())
            if r.returncode == 0:
                return self
            time.sleep(0.2)
        raise RuntimeError("postgres did not become ready in 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> "PostgreSQL":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # -- clients --------------------------------------------------------------------------------
    def _conn_args(self) -> list[str]:
        return ["-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres"]

    def psql(self, sql: str, database: str = "postgres", check: bool = False) -> subprocess.CompletedProcess:
        """Run a script through the real psql (one session), statement by statement."""
        return subprocess.run(
            [self._tool("psql"), *self._conn_args(), "-X", "-q", "-d", database, "-v",
             f"ON_ERROR_STOP={1 if check else 0}", "-f", "-"],
            input=sql.encode(), capture_output=True, check=check, **self._popen_kwargs(),
        )

    def pgbench(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self._tool("pgbench"), *self._conn_args(), *args], capture_output=True, check=True,
                              **self._popen_kwargs())
