"""The `slowlog` CLI contract (ARCHITECTURE.md): JSON shape, exit codes, table, parse."""
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.support.corpus import PERCONA

SLOWLOG = [sys.executable, "-m", "dagster_project.cli"]
STAT_KEYS = {"sum", "min", "max", "avg", "p50", "p95", "p99", "stddev"}


def run(*args, stdin=None):
    return subprocess.run(SLOWLOG + list(args), capture_output=True, input=stdin, timeout=120)


def test_digest_json_contract():
    r = run("digest", str(PERCONA / "slowlogs" / "slow002.txt"))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["events"] == 8 and out["rejected"] == 0
    c = out["classes"][0]
    assert set(c) >= {"checksum", "fingerprint", "count", "query_time", "lock_time", "rows_sent", "rows_examined",
                      "first_seen", "last_seen", "example", "db", "user", "host"}
    assert len(c["checksum"]) == 32 and c["checksum"] == c["checksum"].upper()
    for metric in ("query_time", "lock_time", "rows_sent", "rows_examined"):
        assert set(c[metric]) == STAT_KEYS
    assert c["checksum"] == "45FE45AEC222350466825DDC008FFA89" and c["query_time"]["sum"] == 0.726052


def test_gzip_and_stdin_give_the_same_answer(tmp_path):
    raw = (PERCONA / "slowlogs" / "slow006.txt").read_bytes()
    gz = tmp_path / "slow.log.gz"
    gz.write_bytes(gzip.compress(raw))
    a = json.loads(run("digest", str(gz)).stdout)
    b = json.loads(run("digest", "-", stdin=raw).stdout)
    assert a == b and a["events"] == 6


@pytest.mark.parametrize("make", ["missing", "directory", "unreadable"])
def test_bad_path_exit_2_one_line(tmp_path, make):
    path = tmp_path / "x.log"
    if make == "directory":
        path.mkdir()
    elif make == "unreadable":
        path.write_text("x")
        path.chmod(0)
        if os.access(path, os.R_OK):  # root reads anything: make it a dangling symlink instead
            path.unlink()
            path.symlink_to(tmp_path / "nowhere")
    r = run("digest", str(path))
    assert r.returncode == 2
    err = r.stderr.decode()
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err


def test_garbage_counted_and_said_out_loud(tmp_path):
    """Nothing recognised in a file: still a JSON report (every byte counted), but exit 1 and one
    line on stderr naming the file (issue 25 item 7: a format we cannot read is said out loud)."""
    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(200_000))
    r = run("digest", str(junk))
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["events"] == 0 and out["rejected"] >= 1 and out["rejected_bytes"] == 200_000
    err = r.stderr.decode()
    assert err.count("\n") == 1 and str(junk) in err and "nothing recognised" in err


def test_table_fits_100_columns():
    r = run("digest", "--format", "table", str(PERCONA / "slowlogs" / "slow052.txt"))
    assert r.returncode == 0
    lines = r.stdout.decode().splitlines()
    assert len(lines) >= 5 and all(len(line) <= 100 for line in lines)
    assert "Response time" in lines[1]


def test_parse_writes_hive_partitions_idempotently(tmp_path):
    out = tmp_path / "events"
    log = str(PERCONA / "slowlogs" / "slow033.txt")
    for _ in range(2):
        r = run("parse", log, "--out", str(out), "--instance", "db-1")
        assert r.returncode == 0, r.stderr
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet"))
    assert files and all(f.startswith("date=") and "/instance=db-1/" in f for f in files)
    table = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == json.loads(run("digest", log).stdout)["events"]


def test_help_teaches():
    r = run("--help")
    text = r.stdout.decode()
    assert r.returncode == 0 and "slowlog digest" in text and "slowlog fetch rds" in text
