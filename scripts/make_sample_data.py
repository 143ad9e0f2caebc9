#!/usr/bin/env python3
"""Regenerate ``dagster_project/sample_data/rds/`` (the demo's estate) from REAL database servers.

    .venv/bin/python scripts/make_sample_data.py            # about 3-4 minutes on 2 cores
    .venv/bin/python scripts/make_sample_data.py --out /tmp/estate --days 3

What it does (see dagster_project/sample_data/README.md for the result):

* ``orders-db`` and ``users-db``: one private MariaDB server each (Debian's ``mariadbd``, started by
  ``tests/support/mariadb.py`` with the slow log on for every statement), own schema, own users, own
  workload. Applications connect over TCP as their own users (``checkout``, ``backoffice``, ``auth``),
  so ``# User@Host:`` looks like RDS's ``checkout[checkout] @  [127.0.0.1]``.
* ``reports-pg`` (only when ``dagster_project/slowlog/engines/postgres.py`` exists): a private
  PostgreSQL 15 server (``initdb`` / ``pg_ctl`` as the ``postgres`` user) with RDS's
  ``log_line_prefix = '%t:%r:%u@%d:[%p]:'`` and ``log_min_duration_statement = 0``.
* For every instance x day x (a few) hours, the workload runs in a few batches (one client
  connection each); the bytes each batch adds to the server's log are cut out and concatenated
  into that hour's file: ``<instance>/slowquery/mysql-slowquery.log.YYYY-MM-DD.HH.gz`` or
  ``<instance>/error/postgresql.log.YYYY-MM-DD-HH.gz``.
* Re-timing: the servers run *now*, the files must cover their day and hour. Only the time stamps
  are rewritten: in the MySQL-family files the ``# Time:`` lines and the ``SET timestamp=N;`` lines,
  in the PostgreSQL files the ``%t`` time stamp that starts each prefixed line. Each batch is moved
  as a block to its own minute of the hour (the seconds between its events are kept). Every other
  byte is exactly what the server wrote (durations, rows, lock times, query text).
* The story the demo tells: volumes follow the day of week (the weekend is quieter); on the LAST day
  ``orders-db`` gets a migration that drops ``orders``' index on ``customer_id`` (the order-history
  query becomes a full scan: the regression) and a new dashboard query appears (a new class).
* Files are gzip-compressed (``mtime=0``; the parser detects gzip by its magic bytes) and each
  file's mtime is set to the end of its hour, like RDS's ``LastWritten``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.mariadb import MariaDB  # noqa: E402  (the same helper the parity tests use)

DEFAULT_OUT = REPO / "dagster_project" / "sample_data" / "rds"
DEFAULT_LAST_DAY = dt.date(2026, 11, 24)
ENGINES_DIR = REPO / "dagster_project" / "slowlog" / "engines"
UTC = dt.timezone.utc

_NAMES = ["Ada", "Grace", "Linus", "Zoë", "Søren", "O'Brien", "Łukasz", "José", "李雷", "Margaret", "Kenji", "Amara"]
_COUNTRIES = ["US", "DE", "FR", "JP", "BR", "IN", "GB", "KR"]
_STATUS = ["new", "paid", "shipped", "cancelled", "refunded"]


def q(text: str) -> str:
    """A MySQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pq(text: str) -> str:
    """A PostgreSQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def wait_next_second() -> None:
    """Sleep into the next wall-clock second, so the next statement logged gets its own ``# Time:``."""
    time.sleep(1.0 - (time.time() % 1.0) + 0.05)


# ------------------------------------------------------------------------------------- re-timing
_MY_TIME = re.compile(rb"^# Time: (\d{6}) +(\d{1,2}):(\d{2}):(\d{2})(\.\d+)?$", re.M)
_MY_SET_TS = re.compile(rb"^(SET timestamp=)(\d+)(;)$", re.M)
_PG_TS = re.compile(rb"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})( UTC:)", re.M)
_REDIS_TS = re.compile(rb'("Timestamp": )(\d+)')


def _my_time_value(m: re.Match) -> int:
    ymd, h, mi, s = m.group(1).decode(), int(m.group(2)), int(m.group(3)), int(m.group(4))
    d = dt.datetime.strptime(ymd, "%y%m%d").replace(hour=h, minute=mi, second=s, tzinfo=UTC)
    return int(d.timestamp())


def first_timestamp(chunk: bytes, engine: str) -> int | None:
    if engine == "mysql":
        m = _MY_SET_TS.search(chunk)
        return int(m.group(2)) if m else None
    if engine == "redis":
        m = _REDIS_TS.search(chunk)
        return int(m.group(2)) if m else None
    m = _PG_TS.search(chunk)
    if not m:
        return None
    return int(dt.datetime.strptime(m.group(1).decode(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp())


def retime(chunk: bytes, engine: str, shift: int) -> bytes:
    """Move every time stamp of ``chunk`` by ``shift`` seconds (only the time-stamp lines/prefixes)."""

    def my_time(m: re.Match) -> bytes:
        t = dt.datetime.fromtimestamp(_my_time_value(m) + shift, UTC)
        # MariaDB's own layout: "# Time: 261124  3:05:17" (hour padded with a space)
        return b"# Time: %s %2d:%02d:%02d%s" % (t.strftime("%y%m%d").encode(), t.hour, t.minute, t.second, m.group(5) or b"")

    if engine == "redis":
        return _REDIS_TS.sub(lambda m: m.group(1) + b"%d" % (int(m.group(2)) + shift), chunk)
    if engine == "mysql":
        chunk = _MY_TIME.sub(my_time, chunk)
        return _MY_SET_TS.sub(lambda m: m.group(1) + b"%d" % (int(m.group(2)) + shift) + m.group(3), chunk)

    def pg_ts(m: re.Match) -> bytes:
        t = dt.datetime.strptime(m.group(1).decode(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        return (t + dt.timedelta(seconds=shift)).strftime("%Y-%m-%d %H:%M:%S").encode() + m.group(2)

    return _PG_TS.sub(pg_ts, chunk)


# --------------------------------------------------------------------------------------- servers
class _SQLInstance:
    """What the MariaDB and PostgreSQL instances share: capture the log lines some SQL produces."""

    engine: str
    log_path: Path

    def run(self, sql: str, user: str, database: str) -> None:
        raise NotImplementedError

    def capture(self, parts: list[tuple[str, str, str]]) -> bytes:
        before = self.log_path.stat().st_size
        for user, database, sql in parts:
            self.run(sql, user, database)
        time.sleep(0.3 if self.engine == "postgres" else 0.05)  # let the server flush its log
        with open(self.log_path, "rb") as fh:
            fh.seek(before)
            return fh.read()  # whole entries: every client has exited when we read


class MariaDBInstance(_SQLInstance):
    """A MariaDB server with application users; SQL runs over TCP as one of them."""

    def __init__(self, workdir: Path) -> None:
        # --skip-name-resolve: the log shows "user[user] @  [127.0.0.1]", as on RDS
        self.db = MariaDB(workdir, extra_args=("--skip-name-resolve",))
        self.engine = "mysql"

    def start(self) -> None:
        self.db.start()

    def stop(self) -> None:
        self.db.stop()

    @property
    def log_path(self) -> Path:
        return self.db.slow_log

    def admin(self, sql: str) -> None:
        args = ["mariadb", "--no-defaults", f"--socket={self.db.socket}", "-uroot", "--batch", "--silent"]
        res = subprocess.run(args, input=sql.encode(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if res.returncode != 0:
            raise RuntimeError(f"setup SQL failed: {res.stderr.decode()[-2000:]}")

    def run(self, sql: str, user: str, database: str) -> None:
        args = ["mariadb", "--no-defaults", "-h127.0.0.1", f"-P{self.db.port}", f"-u{user}", f"-p{user}-pw",
                "--batch", "--silent", "--force", database]
        subprocess.run(args, input=sql.encode(), check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresInstance(_SQLInstance):
    """A PostgreSQL 15 server run as the ``postgres`` OS user, logging like RDS (stderr, %t prefix)."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.datadir = workdir / "pgdata"
        self.log = workdir / "postgresql.log"
        self.port = _free_port()
        self.engine = "postgres"
        self.bindir = self._bindir()

    @staticmethod
    def _bindir() -> Path:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found:
            raise RuntimeError("PostgreSQL server binaries not found (scripts/system-deps.sh installs them)")
        return found[-1].parent

    def _as_postgres(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(args, **kw)

    @property
    def log_path(self) -> Path:
        return self.log

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres([str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres", "--auth=trust",
                           "-E", "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True)
        opts = (f"-c port={self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir} "
                "-c log_min_duration_statement=0 -c log_timezone=UTC -c timezone=UTC "
                "-c log_line_prefix=%t:%r:%u@%d:[%p]: -c log_checkpoints=on -c shared_buffers=32MB "
                "-c logging_collector=off -c log_destination=stderr")
        self._as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.log), "-o", opts,
                           "-w", "-t", "60", "start"], check=True, capture_output=True)

    def stop(self) -> None:
        self._as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"],
                          capture_output=True)

    def admin(self, sql: str, database: str = "postgres") -> None:
        self._psql(sql, "postgres", database, check=True)

    def run(self, sql: str, user: str, database: str) -> None:
        self._psql(sql, user, database, check=False)

    def _psql(self, sql: str, user: str, database: str, check: bool) -> None:
        args = ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", user, "-d", database,
                "-v", f"ON_ERROR_STOP={1 if check else 0}"]
        res = subprocess.run(args, input=sql.encode(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if check and res.returncode != 0:
            raise RuntimeError(f"psql failed: {res.stderr.decode()[-2000:]}")


class RedisInstance:
    """A redis-server logging every command (``slowlog-log-slower-than 0``); batches are read back
    with ``SLOWLOG GET`` as ElastiCache-shaped JSON lines (``dagster_project.sources.redis_live``)."""

    def __init__(self, workdir: Path, cluster_id: str) -> None:
        self.dir = workdir
        self.port = _free_port()
        self.engine = "redis"
        self.cluster_id = cluster_id
        self.proc: subprocess.Popen | None = None
        self.last_id: int | None = None

    def start(self) -> None:
        import redis

        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--slowlog-log-slower-than", "-1", "--slowlog-max-len", "1000000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                redis.Redis(port=self.port).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def client(self, name: str | None = None):
        import redis

        r = redis.Redis(port=self.port)
        if name:
            r.client_setname(name)
        return r

    def admin(self, commands: list[list]) -> None:
        r = self.client()
        pipe = r.pipeline(transaction=False)
        for cmd in commands:
            pipe.execute_command(*cmd)
        pipe.execute()
        r.config_set("slowlog-log-slower-than", 0)
        r.slowlog_reset()
        r.close()

    def capture(self, parts: list[tuple[str, str, list]]) -> bytes:
        from dagster_project.sources.redis_live import fetch_slowlog, max_id

        for client_name, _db, commands in parts:
            r = self.client(client_name)
            for cmd in commands:  # one round trip each, like an application
                r.execute_command(*cmd)
            r.close()
        data = fetch_slowlog({"port": self.port}, self.last_id, cluster_id=self.cluster_id, node_id="0001")
        # SLOWLOG GET and CLIENT SETNAME are logged too; keep only the application's commands
        lines = [ln for ln in data.splitlines(keepends=True)
                 if not re.search(rb'"Command": "(SLOWLOG|CLIENT SETNAME|CONFIG)\b', ln, re.I)]
        self.last_id = max_id(data) or self.last_id
        return b"".join(lines)


# -------------------------------------------------------------------------------------- workloads
ORDERS_SETUP = """
CREATE DATABASE shop;
USE shop;
CREATE TABLE customers (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64), email VARCHAR(128),
  country CHAR(2), created_at DATETIME, KEY(country));
CREATE TABLE orders (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT, total DECIMAL(10,2),
  status VARCHAR(16), note TEXT, created_at DATETIME, KEY customer_id (customer_id), KEY(status));
CREATE TABLE order_items (order_id INT, sku VARCHAR(32), qty INT, price DECIMAL(10,2), KEY(order_id));
INSERT INTO customers (name, email, country, created_at)
  SELECT CONCAT('customer-', seq), CONCAT('c', seq, '@example.com'), ELT(1 + seq % 8, 'US','DE','FR','JP','BR','IN','GB','KR'),
         NOW() - INTERVAL seq MINUTE FROM seq_1_to_5000;
INSERT INTO orders (customer_id, total, status, note, created_at)
  SELECT 1 + (seq * 7919) % 5000, (seq % 50000) / 100, ELT(1 + seq % 5, 'new','paid','shipped','cancelled','refunded'),
         CONCAT('order note ', seq), NOW() - INTERVAL seq MINUTE FROM seq_1_to_120000;
INSERT INTO order_items (order_id, sku, qty, price)
  SELECT 1 + (seq * 104729) % 120000, CONCAT('SKU-', LPAD(seq % 99999, 5, '0')), 1 + seq % 5, (seq % 9000) / 100
  FROM seq_1_to_200000;
CREATE USER 'checkout'@'%' IDENTIFIED BY 'checkout-pw';
CREATE USER 'backoffice'@'%' IDENTIFIED BY 'backoffice-pw';
GRANT ALL ON shop.* TO 'checkout'@'%';
GRANT ALL ON shop.* TO 'backoffice'@'%';
ANALYZE TABLE customers, orders, order_items;
"""

USERS_SETUP = """
CREATE DATABASE accounts;
USE accounts;
CREATE TABLE users (id INT PRIMARY KEY AUTO_INCREMENT, email VARCHAR(128) NOT NULL, password_hash CHAR(64),
  name VARCHAR(64), country CHAR(2), last_login DATETIME, created_at DATETIME, UNIQUE KEY (email));
CREATE TABLE sessions (id CHAR(32) PRIMARY KEY, user_id INT, expires_at DATETIME, KEY(user_id));
CREATE TABLE login_events (id BIGINT PRIMARY KEY AUTO_INCREMENT, user_id INT, ok TINYINT, ip VARCHAR(45), ts DATETIME);
INSERT INTO users (email, password_hash, name, country, last_login, created_at)
  SELECT CONCAT('user', seq, '@example.org'), SHA2(seq, 256), CONCAT('User ', seq), ELT(1 + seq % 8, 'US','DE','FR','JP','BR','IN','GB','KR'),
         NOW() - INTERVAL seq MINUTE, NOW() - INTERVAL seq HOUR FROM seq_1_to_40000;
INSERT INTO sessions (id, user_id, expires_at)
  SELECT MD5(seq), 1 + seq % 40000, NOW() + INTERVAL (CAST(seq % 96 AS SIGNED) - 48) HOUR FROM seq_1_to_60000;
CREATE USER 'auth'@'%' IDENTIFIED BY 'auth-pw';
GRANT ALL ON accounts.* TO 'auth'@'%';
ANALYZE TABLE users, sessions;
"""


def orders_batch(rnd: random.Random, n: int, last_day: bool) -> list[tuple[str, str, str]]:
    checkout: list[str] = []
    backoffice: list[str] = []
    for _ in range(n):
        k = rnd.choices(range(12), [22, 10, 8, 10, 6, 8, 5, 6, 4, 3, 2, 2])[0]
        cid = rnd.randint(1, 5000)
        if k == 0:  # the order-history page: the class that regresses on the last day
            checkout.append(f"SELECT id, total, status, created_at FROM orders WHERE customer_id = {cid} "
                            f"ORDER BY created_at DESC LIMIT {rnd.choice([10, 20])};")
        elif k == 1:
            checkout.append(f"SELECT * FROM customers WHERE id = {cid};")
        elif k == 2:
            checkout.append("INSERT INTO orders (customer_id, total, status, note, created_at) VALUES "
                            + ", ".join(f"({rnd.randint(1, 5000)}, {rnd.randint(100, 99999) / 100:.2f}, 'new', "
                                        f"{q(rnd.choice(_NAMES) + ' note')}, NOW())" for _ in range(rnd.randint(1, 3))) + ";")
        elif k == 3:
            oid = rnd.randint(1, 120000)
            checkout.append(f"INSERT INTO order_items (order_id, sku, qty, price) VALUES ({oid}, "
                            f"{q('SKU-%05d' % rnd.randint(1, 99999))}, {rnd.randint(1, 9)}, {rnd.randint(100, 9999) / 100:.2f});")
        elif k == 4:
            checkout.append(f"UPDATE orders SET status = {q(rnd.choice(_STATUS))} WHERE id = {rnd.randint(1, 120000)};")
        elif k == 5:
            checkout.append(f"/* app:checkout req:{rnd.randint(1, 10**9)} */ SELECT COUNT(*) FROM order_items "
                            f"WHERE order_id = {rnd.randint(1, 120000)};")
        elif k == 6:
            checkout.append("BEGIN;")
            checkout.append(f"SELECT total FROM orders WHERE id = {rnd.randint(1, 120000)} FOR UPDATE;")
            checkout.append(f"UPDATE orders SET status = 'paid' WHERE id = {rnd.randint(1, 120000)};")
            checkout.append("COMMIT;")
        elif k == 7:
            backoffice.append(f"SELECT name, email FROM customers WHERE country = {q(rnd.choice(_COUNTRIES))} "
                              f"ORDER BY name LIMIT {rnd.randint(10, 50)};")
        elif k == 8:
            backoffice.append("SELECT id FROM orders WHERE status IN ("
                              + ", ".join(q(s) for s in rnd.sample(_STATUS, rnd.randint(1, 3))) + f") LIMIT {rnd.randint(50, 200)};")
        elif k == 9:
            backoffice.append("SELECT o.id, c.name, SUM(i.qty * i.price) AS amount\n  FROM orders o\n"
                              "  JOIN customers c ON c.id = o.customer_id\n  LEFT JOIN order_items i ON i.order_id = o.id\n"
                              f" WHERE o.id BETWEEN {(lo := rnd.randint(1, 119000))} AND {lo + rnd.randint(50, 400)}\n"
                              " GROUP BY o.id, c.name\n LIMIT 10;")
        elif k == 10:
            backoffice.append(f"SELECT * FROM customers WHERE email LIKE {q('%%c%d@%%' % rnd.randint(1, 999))} -- search box\n;")
        else:
            backoffice.append(f"DELETE FROM order_items WHERE order_id = {rnd.randint(1, 120000)} AND qty < {rnd.randint(1, 3)};")
    if last_day:  # the new dashboard shipped on the last day: a class never seen before
        backoffice.append("SELECT status, COUNT(*) AS orders, SUM(total) AS revenue FROM orders "
                          f"WHERE created_at >= NOW() - INTERVAL {rnd.choice([1, 6, 24])} HOUR GROUP BY status;")
    rnd.shuffle(checkout)
    out = [("checkout", "shop", "\n".join(checkout))]
    if backoffice:
        out.append(("backoffice", "shop", "\n".join(backoffice)))
    return out


def users_batch(rnd: random.Random, n: int, last_day: bool) -> list[tuple[str, str, str]]:
    sql: list[str] = []
    for _ in range(n):
        k = rnd.choices(range(9), [25, 20, 15, 12, 8, 6, 5, 4, 2])[0]
        uid = rnd.randint(1, 40000)
        if k == 0:
            sql.append(f"SELECT u.id, u.name FROM sessions s JOIN users u ON u.id = s.user_id "
                       f"WHERE s.id = {q('%032x' % rnd.getrandbits(128))} AND s.expires_at > NOW();")
        elif k == 1:
            sql.append(f"SELECT id, password_hash FROM users WHERE email = {q('user%d@example.org' % uid)};")
        elif k == 2:
            sql.append(f"INSERT INTO sessions (id, user_id, expires_at) VALUES ({q('%032x' % rnd.getrandbits(128))}, {uid}, "
                       f"NOW() + INTERVAL {rnd.choice([1, 12, 24])} HOUR);")
        elif k == 3:
            sql.append(f"UPDATE users SET last_login = NOW() WHERE id = {uid};")
        elif k == 4:
            sql.append(f"INSERT INTO login_events (user_id, ok, ip, ts) VALUES ({uid}, {rnd.choice([1, 1, 1, 0])}, "
                       f"{q('10.%d.%d.%d' % (rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(1, 254)))}, NOW());")
        elif k == 5:
            sql.append(f"SELECT COUNT(*) FROM sessions WHERE user_id = {uid};")
        elif k == 6:
            sql.append(f"SELECT id, email, name FROM users WHERE name LIKE {q('%%%d%%' % rnd.randint(100, 9999))} LIMIT 20;")
        elif k == 7:
            sql.append(f"SELECT COUNT(*) FROM users WHERE country = {q(rnd.choice(_COUNTRIES))} "
                       f"AND last_login > NOW() - INTERVAL {rnd.randint(1, 30)} DAY;")
        else:
            sql.append("DELETE FROM sessions WHERE expires_at < NOW() - INTERVAL 1 DAY LIMIT 200;")
    return [("auth", "accounts", "\n".join(sql))]


PG_SETUP = """
CREATE ROLE reporter LOGIN;
CREATE ROLE etl LOGIN;
CREATE DATABASE reports OWNER etl;
"""

PG_SCHEMA = """
CREATE TABLE sales (id bigserial PRIMARY KEY, day date NOT NULL, region text NOT NULL, product text NOT NULL,
  qty int NOT NULL, amount numeric(12,2) NOT NULL);
INSERT INTO sales (day, region, product, qty, amount)
  SELECT DATE '2026-01-01' + (g % 320), (ARRAY['emea','amer','apac','latam'])[1 + g % 4], 'product-' || (g % 500),
         1 + g % 7, (g % 10000) / 100.0 FROM generate_series(1, 150000) g;
CREATE INDEX sales_day ON sales (day);
CREATE TABLE report_cache (name text PRIMARY KEY, built_at timestamptz, payload jsonb);
GRANT SELECT ON ALL TABLES IN SCHEMA public TO reporter;
ANALYZE;
"""


def pg_batch(rnd: random.Random, n: int, last_day: bool) -> list[tuple[str, str, str]]:
    reporter: list[str] = []
    etl: list[str] = []
    for _ in range(n):
        k = rnd.choices(range(7), [30, 20, 15, 12, 10, 8, 5])[0]
        day = dt.date(2026, 1, 1) + dt.timedelta(days=rnd.randint(0, 319))
        if k == 0:
            reporter.append(f"SELECT region, SUM(amount) FROM sales WHERE day = {pq(day.isoformat())} GROUP BY region;")
        elif k == 1:
            reporter.append(f"SELECT product, SUM(qty) AS units FROM sales WHERE day BETWEEN {pq(day.isoformat())} "
                            f"AND {pq((day + dt.timedelta(days=rnd.choice([6, 13, 29]))).isoformat())}\n"
                            "\tGROUP BY product ORDER BY units DESC LIMIT 10;")
        elif k == 2:
            reporter.append(f"SELECT * FROM sales WHERE id = {rnd.randint(1, 150000)};")
        elif k == 3:
            reporter.append(f"SELECT COUNT(*) FROM sales WHERE region = {pq(rnd.choice(['emea', 'amer', 'apac', 'latam']))} "
                            f"AND amount > {rnd.randint(10, 90)};")
        elif k == 4:
            etl.append(f"INSERT INTO sales (day, region, product, qty, amount) VALUES ({pq(day.isoformat())}, "
                       f"{pq(rnd.choice(['emea', 'amer', 'apac']))}, {pq('product-%d' % rnd.randint(1, 500))}, "
                       f"{rnd.randint(1, 9)}, {rnd.randint(100, 99999) / 100:.2f});")
        elif k == 5:
            name = rnd.choice(["daily-regions", "top-products", "weekly"])
            payload = pq('{"rows": %d}' % rnd.randint(1, 999))
            etl.append(f"INSERT INTO report_cache (name, built_at, payload) VALUES ({pq(name)}, now(), {payload}) "
                       "ON CONFLICT (name) DO UPDATE SET built_at = EXCLUDED.built_at, payload = EXCLUDED.payload;")
        else:
            reporter.append("SELECT date_trunc('month', day) AS month, region, SUM(amount)\n\tFROM sales\n"
                            "\tGROUP BY 1, 2\n\tORDER BY 1, 2;")
    out = [("reporter", "reports", "\n".join(reporter))]
    if etl:
        out.append(("etl", "reports", "BEGIN;\n" + "\n".join(etl) + "\nCOMMIT;"))
    return out


def redis_setup() -> list[list]:
    rnd = random.Random(5)
    cmds: list[list] = []
    for i in range(20000):
        cmds.append(["SET", "session:%032x" % rnd.getrandbits(128), '{"uid": %d}' % rnd.randint(1, 40000), "EX", 86400])
    for uid in range(1, 5001):
        cmds.append(["HSET", f"user:{uid}:profile", "name", rnd.choice(_NAMES), "country", rnd.choice(_COUNTRIES)])
    for uid in range(1, 2001):
        cmds.append(["ZADD", "leaderboard:daily", rnd.randint(0, 10**6), f"user:{uid}"])
    return cmds


def redis_batch(rnd: random.Random, n: int, last_day: bool) -> list[tuple[str, str, list]]:
    api: list[list] = []
    worker: list[list] = []
    for _ in range(n):
        k = rnd.choices(range(8), [35, 15, 15, 8, 10, 5, 5, 4])[0]
        uid = rnd.randint(1, 5000)
        if k == 0:
            api.append(["GET", "session:%032x" % rnd.getrandbits(128)])
        elif k == 1:
            api.append(["SET", "session:%032x" % rnd.getrandbits(128), '{"uid": %d}' % uid, "EX", 3600])
        elif k == 2:
            api.append(["HGETALL", f"user:{uid}:profile"])
        elif k == 3:
            api.append(["HSET", f"user:{uid}:profile", "last_seen", int(time.time())])
        elif k == 4:
            key = "rate:10.0.%d.%d:%d" % (rnd.randint(0, 9), rnd.randint(1, 254), rnd.randint(0, 59))
            api.append(["INCR", key])
            api.append(["EXPIRE", key, 60])
        elif k == 5:
            worker.append(["ZADD", "leaderboard:daily", rnd.randint(0, 10**6), f"user:{uid}"])
        elif k == 6:
            api.append(["ZREVRANGE", "leaderboard:daily", 0, rnd.choice([9, 49, 99]), "WITHSCORES"])
        else:
            worker.append(["LPUSH", "queue:emails", '{"to": "user%d@example.org", "template": "welcome"}' % uid])
            worker.append(["LTRIM", "queue:emails", 0, 999])
    if last_day:  # someone's debug script, new on the last day: KEYS walks the whole keyspace
        worker.append(["KEYS", "session:*"])
    out = [("api", "0", api)]
    if worker:
        out.append(("worker", "0", worker))
    return out


# ------------------------------------------------------------------------------------- generation
def day_factor(day: dt.date) -> float:
    return 0.45 if day.weekday() >= 5 else 1.0


def hour_factor(hour: int) -> float:
    return 0.5 if hour < 7 or hour >= 22 else 1.0


def file_name(engine: str, day: dt.date, hour: int) -> str:
    if engine == "postgres":
        return f"error/postgresql.log.{day.isoformat()}-{hour:02d}.gz"
    if engine == "redis":  # as delivered by CloudWatch Logs / Firehose: JSON lines, one file per hour
        return f"redis-slowlog.{day.isoformat()}.{hour:02d}.jsonl.gz"
    return f"slowquery/mysql-slowquery.log.{day.isoformat()}.{hour:02d}.gz"


def capture(server, sql_batches: list[tuple[str, str, str]]) -> bytes:
    """Run one batch (one connection per (user, database) part); return what the log gained."""
    wait_next_second()
    return server.capture(sql_batches)


_START_LOCK = threading.Lock()


def generate_instance(instance: str, story_fn, engine: str, workdir: Path, out: Path, days: list[dt.date],
                      hours_per_day: int, batches: int, statements: int, seed: int, log=print) -> list[Path]:
    rnd = random.Random(seed)
    if engine == "postgres":
        server = PostgresInstance(workdir)
    elif engine == "redis":
        server = RedisInstance(workdir, cluster_id=instance)
    else:
        server = MariaDBInstance(workdir)
    written: list[Path] = []
    with _START_LOCK:  # mariadb-install-db runs are not safe to run side by side
        server.start()
    try:
        if engine == "postgres":
            server.admin(PG_SETUP)
            server.run(PG_SCHEMA, "etl", "reports")
            server.admin("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reporter;", database="reports")
        elif engine == "redis":
            server.admin(redis_setup())
        else:
            server.admin(ORDERS_SETUP if instance == "orders-db" else USERS_SETUP)
        for di, day in enumerate(days):
            last = di == len(days) - 1
            hours = sorted(rnd.sample(range(24), hours_per_day))
            for hi, hour in enumerate(hours):
                minutes = sorted(rnd.sample(range(1, 58), batches))
                parts: list[bytes] = []
                for bi, minute in enumerate(minutes):
                    sql: list[tuple[str, str, str]] = []
                    if last and hi == 0 and bi == 0 and instance == "orders-db":
                        # the migration that causes the regression, logged like any statement
                        sql.append(("backoffice", "shop", "ALTER TABLE orders DROP INDEX customer_id;"))
                    n = max(5, int(statements * day_factor(day) * hour_factor(hour) * rnd.uniform(0.8, 1.2)))
                    sql += story_fn(rnd, n, last)
                    chunk = capture(server, sql)
                    t0 = first_timestamp(chunk, engine)
                    if t0 is None:
                        continue
                    target = int(dt.datetime(day.year, day.month, day.day, hour, minute, rnd.randint(0, 50), tzinfo=UTC).timestamp())
                    parts.append(retime(chunk, engine, target - t0))
                data = b"".join(parts)
                path = out / instance / file_name(engine, day, hour)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
                end_of_hour = dt.datetime(day.year, day.month, day.day, hour, 59, 59, tzinfo=UTC).timestamp()
                os.utime(path, (end_of_hour, end_of_hour))
                written.append(path)
                log(f"{instance} {day} {hour:02d}: {len(data):>7} bytes -> {path.stat().st_size:>6} gz")
    finally:
        server.stop()
    return written


STORIES = {
    # instance: (workload, engine, hours per day, batches per hour, statements per batch, seed)
    "orders-db": (orders_batch, "mysql", 6, 3, 60, 11),
    "users-db": (users_batch, "mysql", 5, 3, 40, 22),
    "reports-pg": (pg_batch, "postgres", 4, 3, 25, 33),
    "sessions-cache": (redis_batch, "redis", 5, 3, 50, 44),
}
NEEDS_ENGINE = {"reports-pg": "postgres", "sessions-cache": "redis"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"estate root (default {DEFAULT_OUT.relative_to(REPO)})")
    p.add_argument("--last-day", type=dt.date.fromisoformat, default=DEFAULT_LAST_DAY, help="last day (YYYY-MM-DD)")
    p.add_argument("--days", type=int, default=7, help="number of days ending on --last-day (default 7)")
    p.add_argument("--instances", default=",".join(STORIES), help="comma-separated subset of " + ",".join(STORIES))
    args = p.parse_args(argv)

    if not MariaDB.available():
        print("mariadbd not found: run scripts/system-deps.sh", file=sys.stderr)
        return 2
    wanted = [i for i in args.instances.split(",") if i]
    for instance, engine in NEEDS_ENGINE.items():
        module = ENGINES_DIR / f"{engine}.py"
        if instance in wanted and not module.exists():
            print(f"no {engine} engine yet ({module.relative_to(REPO)}): skipping {instance}")
            wanted.remove(instance)
    days = [args.last_day - dt.timedelta(days=n) for n in range(args.days - 1, -1, -1)]
    out: Path = args.out
    for instance in wanted:  # replace, never merge with an older estate
        shutil.rmtree(out / instance, ignore_errors=True)

    errors: list[BaseException] = []
    with tempfile.TemporaryDirectory(prefix="slowlog-sample-") as tmp:
        os.chmod(tmp, 0o755)
        threads = []
        for instance in wanted:
            fn, engine, hours, batches, statements, seed = STORIES[instance]

            def work(instance=instance, fn=fn, engine=engine, hours=hours, batches=batches, statements=statements, seed=seed):
                try:
                    generate_instance(instance, fn, engine, Path(tmp) / instance, out, days, hours, batches, statements, seed)
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)
                    raise

            t = threading.Thread(target=work, name=instance)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
    if errors:
        print(f"failed: {errors[0]!r}", file=sys.stderr)
        return 1
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"{out}: {len(wanted)} instances, {len(days)} days ({days[0]}..{days[-1]}), {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
