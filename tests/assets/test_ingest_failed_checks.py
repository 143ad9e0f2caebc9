"""Losses the pipeline must not hide (issue 25 items 1, 6, 7): damaged or hostile compressed raw
files fail the ERROR-severity ``bytes_accounted`` check naming the file and the compressed offset
(what the decompressor can recover still lands), and ``make ingest`` exits non-zero naming the
instance-day and the check whenever an ERROR-severity check fails.

Real data: the RDS-like estate of tests/support/ingest.py (Percona Toolkit's and filebeat's public
slow logs, tests/support/source_tree.py), gzip-compressed and damaged in the test.
"""
from __future__ import annotations

import gzip
import os
import random
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from dagster_project.assets.ingest import CHECK_BYTES, CHECK_REJECTED, slow_query_events_checks
from dagster_project.assets.ingest.checks import FAILED_UNITS
from dagster_project.resources.aws import LocalLogSourceResource
from tests.support.dagster_results import failure_message
from tests.support.ingest import DAY, INGEST, KEY, expected_events, materialize, rds_log, rds_name, stored_events

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("no_ambient_aws")


def _write(root: Path, instance: str, hour: int, content: bytes, suffix: str = "") -> str:
    folder = root / instance / "slowquery"
    folder.mkdir(parents=True, exist_ok=True)
    name = rds_name(hour).rsplit("/", 1)[1] + suffix
    (folder / name).write_bytes(content)
    return name


def _evaluation(result, name: str):
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == name)


@pytest.mark.parametrize("workers", ["1", "2"])  # in the step's process, and in parse worker processes
def test_damaged_gzip_lands_what_it_can_and_fails_bytes_accounted_naming_file_and_offset(
        tmp_path, data_root, monkeypatch, workers):
    monkeypatch.setenv("SLOWLOG_PARSE_WORKERS", workers)
    monkeypatch.setenv("SLOWLOG_PARALLEL_MIN_BYTES", "0")
    src = tmp_path / "src"
    good = _write(src, "db-1", 1, rds_log(1))
    whole = gzip.compress(rds_log(4))
    cut = _write(src, "db-1", 4, whole[: len(whole) // 2], ".gz")
    junk = _write(src, "db-1", 5, gzip.compress(rds_log(5)) + random.Random(5).randbytes(1000), ".gz")
    result = materialize(LocalLogSourceResource(root=str(src), instances=["db-1"]),
                         assets=[*INGEST, slow_query_events_checks])
    assert result.success, failure_message(result)

    stored = stored_events(DAY, "db-1")
    by_file = {name: [r for r in stored if r["source_file"] == name] for name in (good, cut, junk)}
    assert by_file[good] == expected_events(rds_log(1), "db-1", good)
    assert by_file[junk] == expected_events(rds_log(5), "db-1", junk)  # the junk after it cost nothing
    assert 0 < len(by_file[cut]) < len(expected_events(rds_log(4), "db-1", cut))

    evaluation = _evaluation(result, CHECK_BYTES)
    assert not evaluation.passed and evaluation.severity.value == "ERROR"
    errors = evaluation.metadata["input_errors"].value
    assert cut in errors and f"cut short at compressed offset {len(whole) // 2}" in errors
    assert junk in errors and "1000 compressed bytes not decoded" in errors
    assert evaluation.metadata["lost_compressed_bytes"].value == 1000
    units = evaluation.metadata[FAILED_UNITS].value
    assert {u["partition"] for u in units} == {f"{KEY}/db-1"}
    assert any(u["reason"].startswith(f"{cut}: gzip data cut short") for u in units)


def test_a_gzip_bomb_stops_at_the_limit_and_fails_the_check_naming_the_file(tmp_path, data_root, monkeypatch):
    monkeypatch.setenv("SLOWLOG_MAX_DECOMPRESSED_BYTES", "4M")
    src = tmp_path / "src"
    log = rds_log(2)
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # a bomb made here: the log, then 64 MB of zeros
    bomb = c.compress(log) + b"".join(c.compress(bytes(1 << 20)) for _ in range(64)) + c.flush()
    name = _write(src, "db-1", 2, bomb, ".gz")
    result = materialize(LocalLogSourceResource(root=str(src), instances=["db-1"]),
                         assets=[*INGEST, slow_query_events_checks])
    assert result.success, failure_message(result)
    # the events before the limit landed (the last one runs on into the zeros)
    assert len(stored_events(DAY, "db-1")) >= len(expected_events(log, "db-1", name)) - 1
    evaluation = _evaluation(result, CHECK_BYTES)
    assert not evaluation.passed
    reasons = [u["reason"] for u in evaluation.metadata[FAILED_UNITS].value]
    assert len(reasons) == 1 and reasons[0].startswith(f"{name}: decompression stopped at compressed offset")
    assert "passed 4194304 bytes" in reasons[0] and "SLOWLOG_MAX_DECOMPRESSED_BYTES" in reasons[0]


def test_make_ingest_exits_non_zero_naming_the_instance_day_and_the_failed_check(tmp_path):
    """Issue 25 item 7: random bytes for one instance's day and a cut .gz for another's used to
    print "success" and "ok" and exit 0 while their ERROR-severity checks failed."""
    src = tmp_path / "src"
    _write(src, "db-1", 1, rds_log(1))
    _write(src, "db-2", 1, random.Random(7).randbytes(200_000))
    whole = gzip.compress(rds_log(3))
    cut = _write(src, "db-3", 3, whole[: len(whole) * 2 // 3], ".gz")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLOWLOG_", "AWS_", "DAGSTER_"))}
    env.update({"SLOWLOG_DATA_ROOT": str(tmp_path / "data"), "SLOWLOG_SOURCE": "local",
                "SLOWLOG_SOURCE_ROOT": str(src), "SLOWLOG_INSTANCES": "db-1,db-2,db-3", "PYTHONPATH": str(REPO)})
    out = subprocess.run([sys.executable, "-m", "dagster_project.ingest_day", KEY], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 1, out.stdout + out.stderr
    lines = {line.strip().split(":")[0]: line.strip() for line in out.stdout.splitlines() if line.startswith("  ")}
    assert lines["db-1"].endswith("ok")
    assert f"check {CHECK_REJECTED} failed: 100.00% of 200000 bytes rejected" in lines["db-2"]
    assert f"check {CHECK_BYTES} failed: {cut}: gzip data cut short at compressed offset" in lines["db-3"]
    assert "FAILED" in lines["db-2"] and "FAILED" in lines["db-3"] and "Traceback" not in out.stdout + out.stderr
