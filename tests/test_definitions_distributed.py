"""The same definitions on a real distributed executor: ``SLOWLOG_EXECUTOR=celery`` (dagster-celery),
a real Redis broker, two separate Celery worker processes (``celery -A dagster_celery.app worker``,
solo pool) that import ``dagster_project.definitions`` from the same environment.

The test runs ``ingest_job`` for a day of the bundled sample estate (4 instances: 4 download and 4
parse units), asserts that units ran on both workers, and that the warehouse equals the one a
serial in-process run writes: byte for byte in the raw files, row for row in the events.
"""
from __future__ import annotations

import datetime as dt
import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from dagster_project import definitions
from dagster_project.assets.ingest import ingest_assets
from dagster_project.resources.aws import LocalLogSourceResource
from dagster_project.resources.warehouse import DataRootResource
from tests.support.corpus import REPO
from tests.support.ingest import stored_events
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration
DAY = "2026-11-24"
DAY_DATE = dt.date.fromisoformat(DAY)


def _worker(name: str, broker: str, env: dict, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "celery", "-A", "dagster_celery.app", "-b", broker, "--result-backend", broker,
           "worker", "-Q", "dagster", "-P", "solo", "-c", "1", "-n", f"{name}@%h", "--without-gossip",
           "--without-mingle", "--without-heartbeat", "-l", "INFO"]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)


def _wait_ready(logs: list[Path], procs: list[subprocess.Popen], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(b"ready." in p.read_bytes() for p in logs):
            return
        for proc, log in zip(procs, logs):
            if proc.poll() is not None:
                raise AssertionError(f"celery worker exited: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.5)
    raise AssertionError("celery workers not ready: " + " | ".join(p.read_text(errors="replace")[-500:] for p in logs))


def _raw_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "raw").rglob("*")) if p.is_file()}


def test_ingest_job_on_two_celery_workers_equals_a_serial_run(tmp_path, monkeypatch):
    sample = definitions.SAMPLE_SOURCE_ROOT
    distributed_root, serial_root = tmp_path / "distributed", tmp_path / "serial"
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "SLOWLOG_SOURCE_ROOT": str(sample),
           "SLOWLOG_DATA_ROOT": str(distributed_root), "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1",
           "SLOWLOG_EXECUTOR": "celery"}
    for key in ("SLOWLOG_SOURCE", "SLOWLOG_INSTANCES", "SLOWLOG_ENGINES"):
        env.pop(key, None)
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("SLOWLOG_SOURCE_ROOT", str(sample))
    monkeypatch.setenv("SLOWLOG_DATA_ROOT", str(distributed_root))
    monkeypatch.setenv("SLOWLOG_EXECUTOR", "celery")

    with RedisServer() as redis_server:
        broker = f"redis://127.0.0.1:{redis_server.port}/0"
        logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
        procs = [_worker(n, broker, env, log) for n, log in zip(("a", "b"), logs)]
        try:
            _wait_ready(logs, procs)
            from dagster_project.ingest_day import ingest_job  # what `make ingest` runs

            importlib.reload(definitions)  # the definitions, now with the Celery executor
            assert ingest_job().executor_def.name == "celery"
            with dg.DagsterInstance.get() as instance:
                result = dg.execute_job(
                    dg.reconstructable(ingest_job), instance=instance, raise_on_error=False,
                    run_config={"execution": {"config": {"broker": broker, "backend": broker}}},
                    tags={"dagster/partition": DAY},
                )
                assert result.success, [str(e) for e in result.get_step_failure_events()]
                mats = {e.asset_key.to_user_string(): e.materialization.metadata
                        for e in result.get_asset_materialization_events()}
                # the steps really ran in the two worker processes: both pids carry units
                pids = {str(p.pid) for p in procs}
                workers = set(mats["slow_log_files"]["workers"].value) | set(mats["slow_query_events"]["workers"].value)
                assert {w.rsplit(":", 1)[1] for w in workers} == pids, (workers, pids)
                assert mats["slow_log_files"]["units"].value == 4
                assert "query_digest" in mats
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
            monkeypatch.delenv("SLOWLOG_EXECUTOR")
            importlib.reload(definitions)

    # the serial reference: the same assets, in process, one step after another
    monkeypatch.setenv("SLOWLOG_DATA_ROOT", str(serial_root))
    serial = dg.materialize(ingest_assets, resources={"data_root": DataRootResource(), "log_source": definitions.default_log_source()}, partition_key=DAY)
    assert serial.success
    assert _raw_files(distributed_root) == _raw_files(serial_root) != {}
    instances = LocalLogSourceResource(root=str(sample)).list_instances()
    assert len(instances) == 4
    for instance in instances:
        rows = stored_events(DAY_DATE, instance, root=distributed_root)
        assert rows == stored_events(DAY_DATE, instance, root=serial_root) and rows
