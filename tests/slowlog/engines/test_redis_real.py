"""A real redis-server: commands -> SLOWLOG GET (sources.redis_live) -> the Redis parser -> digest.

redis-server comes from Debian's package (scripts/system-deps.sh installs it); the tests start their
own private instance with every command in the slow log.
"""
from __future__ import annotations

import collections
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project.slowlog.fingerprint import checksum
from dagster_project.slowlog.parse import parse_log
from dagster_project.sources.redis_live import fetch_slowlog, max_id, slowlog_records
from tests.support.redis_server import RedisServer

redis = pytest.importorskip("redis")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not RedisServer.available(), reason="redis-server is not installed (scripts/system-deps.sh)"),
]


@pytest.fixture(scope="module")
def server():
    with RedisServer(tls=RedisServer.tls_available(), acl_user=("app", "s3cret")) as srv:
        yield srv


def parse(data: bytes):
    parsed = parse_log(io.BytesIO(data), instance="cache-live", source_file="slowlog.jsonl")
    rows = parsed.read_all().to_pylist()
    assert parsed.stats.accounted
    return rows, parsed.stats


def workload(client) -> collections.Counter:
    """Issue a known mix of commands; return the expected fingerprint counts."""
    expected: collections.Counter = collections.Counter()
    client.client_setname("loadgen")
    expected["CLIENT SETNAME"] += 1
    for i in range(40):
        client.set(f"user:{i}:profile", f"name {i}")
        client.get(f"user:{i}:profile")
    expected["SET user:?:profile"] += 40
    expected["GET user:?:profile"] += 40 + 1  # + the GET the EVAL below runs (Redis 7 logs it, client "?:0")
    for i in range(15):
        client.hset(f"session:{(i * 0x9E3779B97F4A7C15) & (2**64 - 1):016x}", "field", "value with spaces")
    expected["HSET session:?"] += 15
    client.mget([f"user:{i}:profile" for i in range(5)])
    expected["MGET user:?:profile"] += 1
    client.set("key with space", "v")
    expected['SET "key with space"'] += 1
    client.set(b"bin:\x00\xff", b"\x01\x02")
    expected[r'SET "bin:\x00\\xff"'] += 1  # control bytes escaped; the invalid UTF-8 byte as logged
    client.eval("return redis.call('GET', KEYS[1])", 1, "user:3:profile")
    expected["EVAL user:?:profile"] += 1
    client.ping()
    expected["PING"] += 1
    return expected


def test_live_slowlog_roundtrip(server):
    client = redis.Redis(port=server.port)
    client.execute_command("SLOWLOG", "RESET")
    expected = workload(client)
    data = fetch_slowlog({"host": "127.0.0.1", "port": server.port}, cluster_id="local-cache", node_id="0001")
    rows, stats = parse(data)
    assert stats.engine == "redis" and stats.rejected == 0
    got = collections.Counter(r["fingerprint"] for r in rows)
    for fp, n in expected.items():
        assert got[fp] == n, (fp, got)
    # besides the workload: the connection handshake (HELLO/CLIENT SETINFO ...), SLOWLOG RESET itself and
    # our own SLOWLOG LEN, all real slow log entries
    other = set(got) - set(expected)
    assert other <= {"HELLO", "CLIENT SETINFO", "SLOWLOG RESET", "SLOWLOG LEN", "SELECT", "COMMAND DOCS"}, other
    r = next(r for r in rows if r["fingerprint"] == "HSET session:?")
    assert r["query"].startswith("HSET session:") and r["query"].endswith(' field "value with spaces"')
    assert r["user"] == "loadgen" and r["host"] == r["ip"] == "127.0.0.1" and dict(r["extra"])["port"] > 0
    assert dict(r["extra_text"]) == {"cache_cluster_id": "local-cache", "cache_node_id": "0001"}
    assert r["query_time"] >= 0 and r["ts"] is not None
    assert r["checksum"] == checksum("HSET session:?") and r["instance"] == "cache-live"
    lua = next(r for r in rows if r["fingerprint"] == "GET user:?:profile" and r["query"] == "GET user:3:profile"
               and r["host"] is None)
    assert lua["ip"] is None  # ClientAddress "?:0": the script's own client
    ids = [dict(x["extra"])["id"] for x in rows]
    assert ids == sorted(ids)  # oldest first


def test_live_incremental_since_id(server):
    client = redis.Redis(port=server.port)
    first = fetch_slowlog({"host": "127.0.0.1", "port": server.port})
    cursor = max_id(first)
    assert cursor is not None
    for i in range(7):
        client.incr(f"counter:{i}")
    data = fetch_slowlog({"host": "127.0.0.1", "port": server.port}, since_id=cursor)
    rows, _ = parse(data)
    assert all(dict(r["extra"])["id"] > cursor for r in rows)
    assert collections.Counter(r["fingerprint"] for r in rows)["INCRBY counter:?"] == 7  # redis-py's incr
    # ids restart after SLOWLOG RESET: everything the server holds is returned again
    client.execute_command("SLOWLOG", "RESET")
    client.get("after:reset")
    again = slowlog_records(server.url(), since_id=10**9)
    assert any(r["Command"] == "GET after:reset" for r in again)


def test_live_acl_user_and_tls(server):
    # MemoryDB: TLS + an ACL user (username/password)
    data = fetch_slowlog({"host": "127.0.0.1", "port": server.port, "username": "app", "password": "s3cret"})
    assert parse(data)[1].events > 0
    data = fetch_slowlog(server.url("app", "s3cret"))
    assert parse(data)[1].events > 0
    with pytest.raises(redis.AuthenticationError):
        fetch_slowlog({"host": "127.0.0.1", "port": server.port, "username": "app", "password": "wrong"})
    if not server.tls_port:
        pytest.skip("openssl not available for a TLS certificate")
    params = {"host": "127.0.0.1", "port": server.tls_port, "ssl": True, "ssl_ca_certs": str(server.ca_cert),
              "username": "app", "password": "s3cret"}
    client = redis.Redis(**params)
    client.set("tls:1:key", "x")
    client.close()
    rows, stats = parse(fetch_slowlog(params, cluster_id="memorydb-test"))
    assert stats.rejected == 0
    tls_rows = [r for r in rows if r["fingerprint"] == "SET tls:?:key"]
    assert tls_rows and dict(tls_rows[-1]["extra_text"])["cache_cluster_id"] == "memorydb-test"


def test_live_cli_digest(server, tmp_path):
    client = redis.Redis(port=server.port)
    client.execute_command("SLOWLOG", "RESET")
    for i in range(25):
        client.zadd(f"board:{i % 3}", {f"member-{i}": i})
    f = tmp_path / "slowlog.jsonl"
    f.write_bytes(fetch_slowlog({"host": "127.0.0.1", "port": server.port}))
    out = subprocess.run([str(Path(sys.executable).parent / "slowlog"), "digest", "--compact", str(f)],
                         capture_output=True, check=True)
    doc = json.loads(out.stdout)
    classes = {c["fingerprint"]: c for c in doc["classes"]}
    assert classes["ZADD board:?"]["count"] == 25
    assert doc["events"] == sum(c["count"] for c in doc["classes"]) and doc["rejected"] == 0
