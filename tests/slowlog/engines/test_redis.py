"""Redis / ElastiCache / MemoryDB slow log parser and command fingerprint."""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_project.slowlog.engines.redis import fingerprint_redis, key_pattern, quote_arg, split_command
from dagster_project.slowlog.fingerprint import checksum
from dagster_project.slowlog.parse import detect_engine, parse_log
from tests.support.corpus import CORPUS

DOC = CORPUS / "redis" / "elasticache-Log_Delivery.md"
UTC = timezone.utc


def doc_examples() -> tuple[str, str]:
    """The slow log JSON and TEXT examples of the ElastiCache Log_Delivery page, verbatim."""
    text = DOC.read_text()
    section = text.split("### Slow log", 1)[1].split("### Engine log", 1)[0]
    blocks = re.findall(r"```\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    return blocks[0], blocks[1]


def parse(data: bytes, engine: str = "redis", chunk_size: int | None = None):
    parsed = parse_log(io.BytesIO(data), engine=engine, instance="cache-1", source_file="slowlog.json",
                       chunk_size=chunk_size)
    table = parsed.read_all()
    assert parsed.stats.accounted, parsed.stats.as_dict()
    return table.to_pylist(), parsed.stats


def record(i: int, command: str = "GET user:{i}:profile", **kw) -> dict:
    rec = {"CacheClusterId": "prod-cache", "CacheNodeId": "0002", "Id": i, "Timestamp": 1795600000 + i,
           "Duration (us)": 1000 * i, "Command": command.format(i=i), "ClientAddress": f"10.0.0.{i}:5{i:04d}",
           "ClientName": f"worker-{i}" if i % 2 else ""}
    rec.update(kw)
    return rec


def ndjson(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


# -- the documented shapes ------------------------------------------------------------------------

def test_elasticache_doc_json_example():
    js, _ = doc_examples()
    rows, stats = parse(js.encode(), engine="auto")
    assert stats.engine == "redis" and stats.events == 1 and stats.rejected == 0
    r = rows[0]
    assert r["ts"] == datetime.fromtimestamp(1605631822, UTC)
    assert r["query_time"] == 0.0
    assert r["query"] == "GET ... (1 more arguments)"
    assert r["fingerprint"] == "GET" and r["checksum"] == checksum("GET")
    assert (r["host"], r["ip"], r["user"]) == ("192.168.12.104", "192.168.12.104", "logslowxxxxmsxj##")
    assert dict(r["extra"]) == {"id": 296.0, "port": 55452.0}
    assert dict(r["extra_text"]) == {"cache_cluster_id": "logslowxxxxmsxj", "cache_node_id": "0001"}
    assert r["instance"] == "cache-1" and r["engine"] == "redis" and r["db"] is None


def test_elasticache_doc_text_example():
    _, text = doc_examples()
    rows, stats = parse(text.encode(), engine="auto")
    assert stats.engine == "redis" and stats.events == 1 and stats.rejected == 0
    r = rows[0]
    assert r["query"] == "GET ... (1 more arguments)" and r["query_time"] == pytest.approx(30e-6)
    assert r["user"] == "logslowxxxxmsxj##" and r["host"] == "192.168.12.104"
    assert dict(r["extra_text"]) == {"cache_cluster_id": "logslowxxxxmsxj", "cache_node_id": "0001"}


def test_ndjson_fields():
    rows, stats = parse(ndjson(record(i) for i in range(1, 6)), engine="auto")
    assert stats.engine == "redis" and stats.events == 5 and stats.rejected == 0
    assert [r["fingerprint"] for r in rows] == ["GET user:?:profile"] * 5
    assert len({r["checksum"] for r in rows}) == 1
    r = rows[2]
    assert r["query"] == "GET user:3:profile" and r["query_time"] == pytest.approx(0.003)
    assert r["ts"] == datetime.fromtimestamp(1795600003, UTC)
    assert (r["host"], r["ip"], r["user"]) == ("10.0.0.3", "10.0.0.3", "worker-3")
    assert rows[1]["user"] is None  # empty ClientName
    assert dict(r["extra"]) == {"id": 3.0, "port": 50003.0}
    assert [x["source_offset"] for x in rows] == sorted(x["source_offset"] for x in rows)


RECS = [record(i, cmd) for i, cmd in enumerate(
    ["GET user:{i}:profile", "HSET session:9f8a7c6d5e4f3a2b f v", "SET {{cart:{i}}}:items x",
     'SET "key with space" "value"', "MGET a:1 a:2", "PING"], start=1)]
SHAPES = {
    "ndjson": ndjson(RECS),
    "array": json.dumps(RECS).encode() + b"\n",
    "array_indented": json.dumps(RECS, indent=2).encode() + b"\n",
    "pretty_objects": b"\n".join(json.dumps(r, indent=2).encode() for r in RECS) + b"\n",
    "concatenated": b"".join(json.dumps(r).encode() for r in RECS) + b"\n",
    "cloudwatch_export": b"".join(f"2026-11-24T10:00:0{i}.000Z ".encode() + json.dumps(r).encode() + b"\n"
                                  for i, r in enumerate(RECS)),
    "crlf": ndjson(RECS).replace(b"\n", b"\r\n"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_json_shapes(shape):
    rows, stats = parse(SHAPES[shape], engine="auto")
    assert stats.engine == "redis"
    assert stats.events == len(RECS) and stats.rejected == 0, stats.rejected_samples
    assert [r["fingerprint"] for r in rows] == [
        "GET user:?:profile", "HSET session:?", "SET {cart:?}:items", 'SET "key with space"', "MGET a:?", "PING"]
    assert [dict(r["extra"])["id"] for r in rows] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("chunk", [300, 1024])
def test_chunking_is_invisible(shape, chunk):
    whole, _ = parse(SHAPES[shape] * 20)
    pieces, stats = parse(SHAPES[shape] * 20, chunk_size=chunk)
    assert pieces == whole and stats.rejected == 0


def test_export_timestamp_used_when_record_has_none():
    data = b'2026-11-24T10:00:05.250Z {"Id": 1, "Duration (us)": 7, "Command": "GET k"}\n'
    rows, _ = parse(data, engine="auto")
    assert rows[0]["ts"] == datetime(2026, 11, 24, 10, 0, 5, 250000, tzinfo=UTC)


def test_invalid_lines_are_rejected_not_fatal():
    good = [json.dumps(record(i)).encode() for i in range(1, 4)]
    data = b"\n".join([
        good[0],
        b'{"Id": 2, "Comm',                      # cut inside a string
        b'{"Id": 3, "Command": "GET x",',        # cut after a field
        good[1],
        b"not json at all",
        b'{"CacheClusterId": "x", "LogLevel": "VERBOSE", "Message": "engine log, not slow log"}',
        b'{"Id": 9, "Duration (us)": "abc", "Command": "GET k"}',
        b"[1, 2, 3]",
        good[2],
    ]) + b"\n"
    rows, stats = parse(data)
    assert stats.events == 3
    assert stats.rejected == 6
    assert len(stats.rejected_samples) == 5 and stats.rejected_samples[0].startswith("@")
    assert [dict(r["extra"])["id"] for r in rows] == [1, 2, 3]


def test_client_address_forms():
    recs = [record(1, ClientAddress="[::1]:6380"), record(2, ClientAddress="/tmp/redis.sock:0"),
            record(3, ClientAddress=""), record(4, ClientAddress="cache.internal:1234")]
    rows, _ = parse(ndjson(recs))
    assert [(r["host"], r["ip"], (dict(r["extra"]) or {}).get("port")) for r in rows] == [
        ("::1", "::1", 6380.0), ("/tmp/redis.sock", None, 0.0), (None, None, None), ("cache.internal", None, 1234.0)]


def test_duration_key_variants_and_millisecond_timestamps():
    recs = [{"Id": 1, "Timestamp": 1795600000123, "Duration": 250, "Command": "GET a"},
            {"id": 2, "timestamp": 1795600000, "duration": 5, "command": ["SET", "b c", "d"]}]
    rows, stats = parse(ndjson(recs))
    assert stats.events == 2
    assert rows[0]["query_time"] == pytest.approx(250e-6)
    assert rows[0]["ts"] == datetime(2026, 11, 25, 9, 46, 40, 123000, tzinfo=UTC)
    assert rows[1]["query"] == 'SET "b c" d' and rows[1]["fingerprint"] == 'SET "b c"'


def test_detect_engine_redis():
    js, text = doc_examples()
    for sample in (js.encode(), text.encode(), SHAPES["ndjson"], SHAPES["array_indented"], SHAPES["cloudwatch_export"]):
        assert detect_engine(sample) == "redis"


def test_cli_digest_redis(tmp_path):
    f = tmp_path / "slowlog.jsonl"
    f.write_bytes(ndjson(record(i) for i in range(1, 11)) + b"garbage\n"
                  + ndjson(record(i, "HGETALL session:{i}") for i in range(11, 14)))
    out = subprocess.run([str(Path(sys.executable).parent / "slowlog"), "digest", "--compact", str(f)],
                         capture_output=True, check=True)
    doc = json.loads(out.stdout)
    assert doc["events"] == 13 and doc["rejected"] == 1
    classes = {c["fingerprint"]: c for c in doc["classes"]}
    assert set(classes) == {"GET user:?:profile", "HGETALL session:?"}
    get = classes["GET user:?:profile"]
    assert get["count"] == 10 and get["query_time"]["sum"] == pytest.approx(0.055)
    assert get["checksum"] == checksum("GET user:?:profile") and get["db"] is None
    assert classes["HGETALL session:?"]["query_time"]["max"] == pytest.approx(0.013)


# -- fingerprint --------------------------------------------------------------------------------

FP_CASES = [
    ("GET user:1234:profile", "GET user:?:profile"),
    ("get user:1234:profile", "GET user:?:profile"),
    ("HSET session:9f8a7c6d5e4f3a2b1c0d field value", "HSET session:?"),
    ("SET order:3f2504e0-4f89-11d3-9a0c-0305e82c3301 x EX 60", "SET order:?"),
    ("GET token:AbCdEfGh12345678XyZ", "GET token:?"),
    ("GET ... (1 more arguments)", "GET"),
    ("SET ... (2 more arguments)", "SET"),
    ("ZADD leaderboard:2026-11-24 10 alice", "ZADD leaderboard:?-?-?"),
    ("MGET cache:item:1 cache:item:2 cache:item:3", "MGET cache:item:?"),
    ("CONFIG GET maxmemory", "CONFIG GET"),
    ("CLIENT SETNAME worker-7", "CLIENT SETNAME"),
    ("OBJECT ENCODING user:77", "OBJECT ENCODING user:?"),
    ("MEMORY USAGE big:key:5", "MEMORY USAGE big:key:?"),
    ("XREADGROUP GROUP g c COUNT 10 STREAMS events:42 >", "XREADGROUP events:?"),
    ("EVALSHA 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b 1 lock:9 tok", "EVALSHA 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b lock:?"),
    ("EVAL \"return 1\" 0", "EVAL"),
    ("EVALSHA abcdef0123456789abcdef0123456789abcdef01 0", "EVALSHA abcdef0123456789abcdef0123456789abcdef01"),
    ("FLUSHALL", "FLUSHALL"),
    ("SCAN 0 MATCH user:* COUNT 100", "SCAN"),
    ("KEYS user:*", "KEYS user:*"),
    ('SET "key with space" v', 'SET "key with space"'),
    ("SET {user:42}:cart v", "SET {user:?}:cart"),
    ("PUBLISH chat:room:9 hello", "PUBLISH chat:room:?"),
    ("", ""),
]


@pytest.mark.parametrize("command,expected", FP_CASES)
def test_fingerprint_redis(command, expected):
    assert fingerprint_redis(command) == expected
    assert fingerprint_redis(expected) == expected


def test_key_pattern():
    assert key_pattern("user:1234:profile") == "user:?:profile"
    assert key_pattern("a1b2") == "a?b?"
    assert key_pattern("plain") == "plain"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=6))
def test_quote_split_roundtrip_and_idempotent(args):
    command = " ".join(quote_arg(a) for a in args)
    assert split_command(command) == args
    fp = fingerprint_redis(command)
    assert fingerprint_redis(fp) == fp
