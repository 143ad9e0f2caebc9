"""A private, real MariaDB server (Debian's mariadbd) with the slow log on for every statement.

Used by the parity tests, the benchmark and the sample-data generator to capture *real* slow logs:

    with MariaDB(tmpdir) as db:
        db.run_sql(workload_sql(2000, seed=1))
        log_bytes = db.slow_log.read_bytes()
"""
from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MariaDB:
    def __init__(self, workdir: str | os.PathLike, *, extra_args: tuple[str, ...] = ()) -> None:
        self.dir = Path(workdir)
        self.datadir = self.dir / "data"
        self.socket = self.dir / "mysqld.sock"
        self.slow_log = self.dir / "mysql-slowquery.log"
        self.port = _free_port()
        self.extra_args = extra_args
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return bool(shutil.which("mariadbd") or Path("/usr/sbin/mariadbd").exists())

    def start(self) -> "MariaDB":
        self.dir.mkdir(parents=True, exist_ok=True)
        if not (self.datadir / "mysql").exists():
            subprocess.run(
                ["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=root",
                 "--auth-root-authentication-method=normal", "--skip-test-db"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
        mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        self.proc = subprocess.Popen(
            [mariadbd, "--no-defaults", f"--datadir={self.datadir}", f"--socket={self.socket}",
             f"--port={self.port}", "--bind-address=127.0.0.1", "--user=root",
             f"--pid-file={self.dir / 'mysqld.pid'}", f"--log-error={self.dir / 'error.log'}",
             "--slow-query-log=1", f"--slow-query-log-file={self.slow_log}", "--long-query-time=0",
             "--log-slow-admin-statements=1", "--log-slow-verbosity=query_plan",
             "--innodb-buffer-pool-size=64M", "--skip-log-bin", *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {(self.dir / 'error.log').read_text()[-2000:]}")
            r = subprocess.run(self._client() + ["-e", "select 1"], capture_output=True)
            if r.returncode == 0:
                return self
            time.sleep(0.2)
        raise RuntimeError("mariadbd did not become ready in 60 s")

    def _client(self) -> list[str]:
        return ["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot", "--batch", "--silent"]

    def run_sql(self, sql: str, database: str | None = None, force: bool = True) -> None:
        """Feed a SQL script through the real client (one connection, like an application)."""
        args = self._client() + (["--force"] if force else []) + ([database] if database else [])
        subprocess.run(args, input=sql.encode(), check=not force, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> "MariaDB":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


SCHEMA_SQL = """
CREATE DATABASE IF NOT EXISTS shop;
CREATE DATABASE IF NOT EXISTS analytics;
USE shop;
CREATE TABLE IF NOT EXISTS customers (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64), email VARCHAR(128),
  country CHAR(2), created_at DATETIME, KEY(country));
CREATE TABLE IF NOT EXISTS orders (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT, total DECIMAL(10,2),
  status VARCHAR(16), note TEXT, created_at DATETIME, KEY(customer_id), KEY(status));
CREATE TABLE IF NOT EXISTS order_items (order_id INT, sku VARCHAR(32), qty INT, price DECIMAL(10,2), KEY(order_id));
USE analytics;
CREATE TABLE IF NOT EXISTS events_2026_11 (id BIGINT PRIMARY KEY AUTO_INCREMENT, kind VARCHAR(32), payload TEXT, ts DATETIME);
"""

_NAMES = ["Ada", "Grace", "Linus", "Zoë", "Søren", "O'Brien", "Łukasz", "José", "李雷", "Ωmega", 'say "hi"', "back\\\\slash"]
_COUNTRIES = ["US", "DE", "FR", "JP", "BR", "IN", "GB", "KR"]
_STATUS = ["new", "paid", "shipped", "cancelled", "refunded"]


def _q(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def workload_sql(statements: int, seed: int = 0) -> str:
    """A varied, deterministic workload: every statement kind the seed system missed, and more."""
    rnd = random.Random(seed)
    out = [SCHEMA_SQL, "USE shop;"]
    kinds = [
        lambda: f"INSERT INTO customers (name, email, country, created_at) VALUES ({_q(rnd.choice(_NAMES))}, "
                f"{_q('u%d@example.com' % rnd.randint(1, 10**6))}, {_q(rnd.choice(_COUNTRIES))}, NOW());",
        lambda: "INSERT INTO orders (customer_id, total, status, note, created_at) VALUES "
                + ", ".join(f"({rnd.randint(1, 500)}, {rnd.randint(1, 99999) / 100:.2f}, {_q(rnd.choice(_STATUS))}, "
                            f"{_q(rnd.choice(_NAMES) + ' note')}, NOW())" for _ in range(rnd.randint(1, 6))) + ";",
        lambda: f"SELECT * FROM customers WHERE id = {rnd.randint(1, 2000)};",
        lambda: f"SELECT name, email FROM customers WHERE country = {_q(rnd.choice(_COUNTRIES))} ORDER BY name ASC LIMIT {rnd.randint(1, 50)};",
        lambda: "SELECT id FROM orders WHERE status IN (" + ", ".join(_q(s) for s in rnd.sample(_STATUS, rnd.randint(1, 4))) + ");",
        lambda: "SELECT o.id, c.name, SUM(i.qty * i.price) AS amount\n  FROM orders o\n  JOIN customers c ON c.id = o.customer_id\n"
                f"  LEFT JOIN order_items i ON i.order_id = o.id\n WHERE o.total > {rnd.randint(1, 500)}\n GROUP BY o.id, c.name\n LIMIT 10;",
        lambda: f"UPDATE orders SET status = {_q(rnd.choice(_STATUS))} WHERE id = {rnd.randint(1, 3000)};",
        lambda: f"DELETE FROM order_items WHERE order_id = {rnd.randint(1, 3000)} AND qty < {rnd.randint(1, 3)};",
        lambda: f"INSERT INTO order_items (order_id, sku, qty, price) VALUES ({rnd.randint(1, 3000)}, "
                f"{_q('SKU-%05d' % rnd.randint(1, 99999))}, {rnd.randint(1, 9)}, {rnd.randint(100, 9999) / 100:.2f});",
        lambda: f"/* app:checkout req:{rnd.randint(1, 10**9)} */ SELECT COUNT(*) FROM orders WHERE customer_id = {rnd.randint(1, 500)};",
        lambda: f"SELECT * FROM customers WHERE email LIKE {_q('%%%d%%' % rnd.randint(1, 99))} -- search box\n;",
        lambda: "BEGIN;",
        lambda: "COMMIT;",
        lambda: f"REPLACE INTO customers (id, name, email, country, created_at) VALUES ({rnd.randint(1, 100)}, {_q(rnd.choice(_NAMES))}, NULL, 'US', NOW());",
        lambda: "SHOW TABLES;",
        lambda: "SHOW GLOBAL STATUS LIKE 'Threads_%';",
        lambda: f"USE analytics;\nINSERT INTO events_2026_11 (kind, payload, ts) VALUES ({_q(rnd.choice(['click', 'view', 'buy']))}, "
                + _q('{"k": %d}' % rnd.randint(1, 10**6)) + ", NOW());\nUSE shop;",
        lambda: f"SELECT * FROM analytics.events_2026_11 WHERE id BETWEEN {rnd.randint(1, 1000)} AND {rnd.randint(1001, 2000)} AND kind = 'view';",
        lambda: f"SELECT c.country, COUNT(*) FROM customers c WHERE c.created_at > NOW() - INTERVAL {rnd.randint(1, 30)} DAY GROUP BY c.country;",
        lambda: f"SELECT {rnd.randint(1, 9)} + {rnd.randint(1, 9)}, 0x{rnd.randint(0, 2**32):x}, TRUE, NULL;",
        lambda: "SELECT no_such_column FROM customers;",  # an error is logged too
        lambda: f"SELECT SLEEP(0.00{rnd.randint(1, 3)});",
    ]
    weights = [8, 6, 14, 8, 6, 4, 8, 4, 6, 6, 3, 2, 2, 2, 1, 1, 3, 3, 2, 2, 1, 1]
    for _ in range(statements):
        out.append(rnd.choices(kinds, weights)[0]())
    return "\n".join(out) + "\n"
