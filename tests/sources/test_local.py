"""LocalLogSource: a folder or s3://bucket/prefix laid out like RDS (S3 through moto)."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dagster_project.sources import LocalLogSource, LogSourceError  # noqa: E402
from tests.support import mysql_log_bytes, postgres_corpus_files  # noqa: E402

DAY = dt.date(2026, 11, 24)


def layout() -> dict[str, bytes]:
    mysql = mysql_log_bytes(1_500_000, text_only=False)  # any bytes: a copy, not an API
    return {
        "db-1/slowquery/mysql-slowquery.log.2026-11-24.03": mysql[:900_000],
        "db-1/slowquery/mysql-slowquery.log.2026-11-24.04": mysql[900_000:],
        "db-1/slowquery/mysql-slowquery.log.2026-11-23.23": b"# yesterday\n",
        "db-1/slowquery/mysql-slowquery.log.2026-11-24.05.gz": gzip.compress(mysql[:1000], mtime=0),
        "db-1/error/mysql-error.log": b"not a slow log\n",
        "db-1/slowquery/.mysql-slowquery.log.2026-11-24.06.abc.part": b"temp\n",
        "pg-1/error/postgresql.log.2026-11-24-03": b"".join(postgres_corpus_files()),
        "pg-1/error/postgresql.log.2026-11-24-0400": b"x\n",
        "cache-1/redis-slowlog.2026-11-24.jsonl": b'{"id": 1, "ts": 1795490101, "duration_us": 12000, "args": ["KEYS", "*"]}\n',
        "cache-1/README": b"no date, not a log\n",
    }


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def check_source(src: LocalLogSource, files: dict[str, bytes], out: Path) -> None:
    assert src.discover_instances() == ["cache-1", "db-1", "pg-1"]
    db = src.list_files("db-1", DAY)
    assert [f.name for f in db] == [
        "slowquery/mysql-slowquery.log.2026-11-24.03",
        "slowquery/mysql-slowquery.log.2026-11-24.04",
        "slowquery/mysql-slowquery.log.2026-11-24.05.gz",
    ]
    assert [f.size for f in db] == [len(files["db-1/" + f.name]) for f in db]
    assert len(src.list_files("db-1")) == 4
    pg = src.list_files("pg-1", "2026-11-24")
    assert [f.local_name for f in pg] == ["postgresql.log.2026-11-24-03", "postgresql.log.2026-11-24-0400"]
    redis = src.list_files("cache-1", DAY)
    assert [(f.name, f.engine) for f in redis] == [("redis-slowlog.2026-11-24.jsonl", "redis")]
    assert src.list_files("nope") == []
    for lf in db + pg + redis:
        res = src.download(lf, out)
        want = files[f"{lf.instance}/{lf.name}"]
        assert res.path == out / lf.local_name
        assert res.path.read_bytes() == want
        assert res.sha256 == hashlib.sha256(want).hexdigest() and res.bytes == len(want) and res.complete
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]


def test_local_folder(tmp_path):
    files = layout()
    write_tree(tmp_path / "raw", files)
    src = LocalLogSource(tmp_path / "raw")
    check_source(src, files, tmp_path / "out")
    # live file: day from its mtime
    live = tmp_path / "raw" / "db-1" / "slowquery" / "mysql-slowquery.log"
    live.write_bytes(b"live\n")
    ts = dt.datetime(2026, 11, 24, 7, 30, tzinfo=dt.timezone.utc).timestamp()
    os.utime(live, (ts, ts))
    assert "slowquery/mysql-slowquery.log" in [f.name for f in src.list_files("db-1", DAY)]
    # same file as source and destination is refused
    lf = src.list_files("db-1", DAY)[0]
    with pytest.raises(LogSourceError):
        src.download(lf, tmp_path / "raw" / "db-1" / "slowquery")


def test_local_missing_file(tmp_path):
    write_tree(tmp_path / "raw", {"db-1/slowquery/mysql-slowquery.log.2026-11-24.03": b"a\n"})
    src = LocalLogSource(tmp_path / "raw")
    lf = src.list_files("db-1")[0]
    (tmp_path / "raw" / "db-1" / "slowquery" / "mysql-slowquery.log.2026-11-24.03").unlink()
    with pytest.raises(LogSourceError, match="not found"):
        src.download(lf, tmp_path / "out")


@pytest.fixture
def aws_env(monkeypatch):
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_s3_prefix(tmp_path, aws_env):
    files = layout()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="slowlog-archive")
        for rel, data in files.items():
            s3.put_object(Bucket="slowlog-archive", Key=f"rds/raw/{rel}", Body=data)
        s3.put_object(Bucket="slowlog-archive", Key="rds/rawother/db-9/slowquery/mysql-slowquery.log.2026-11-24.03", Body=b"x")
        src = LocalLogSource("s3://slowlog-archive/rds/raw/", s3_client=s3)
        check_source(src, files, tmp_path / "out")
        # without an explicit client one is made from the environment
        src2 = LocalLogSource("s3://slowlog-archive/rds/raw")
        assert [f.name for f in src2.list_files("pg-1")][0] == "error/postgresql.log.2026-11-24-03"
        with pytest.raises(LogSourceError, match="not found"):
            lf = src.list_files("db-1", DAY)[0]
            s3.delete_object(Bucket="slowlog-archive", Key=lf.ref)
            src.download(lf, tmp_path / "out2")
