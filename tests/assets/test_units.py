"""The instance-day as the unit of work: all cores for a big unit, `make ingest`, the default
definitions on the RDS API from the environment, and re-executing only the failed unit."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.assets.ingest import ingest_assets
from dagster_project.resources.aws import RDSLogSourceResource
from dagster_project.resources.warehouse import DataRootResource
from tests.support.ingest import AWS_KEY_ID, AWS_SECRET, rds_log, rds_name, stored_events
from tests.support.rds_api_server import RDSApiServer
from tests.support.dagster_results import materializations

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def test_a_big_unit_is_parsed_by_every_core_into_the_same_rows(source_tree, days, tmp_path, monkeypatch):
    tree = source_tree(days("2026-03-01", 1), ["db-1", "db-2"], files_per_day=6)
    day = tree.days[0]
    results = {}
    for label, min_bytes in (("serial", str(1 << 40)), ("parallel", "0")):
        root = tmp_path / label
        monkeypatch.setenv("SLOWLOG_DATA_ROOT", str(root))
        monkeypatch.setenv("SLOWLOG_PARALLEL_MIN_BYTES", min_bytes)
        monkeypatch.setenv("SLOWLOG_PARSE_WORKERS", "2")
        result = dg.materialize(ingest_assets, resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key=day.isoformat())
        assert result.success
        meta = materializations(result, "slow_query_events")[0].metadata
        results[label] = (meta["parse_processes"].value, {i: stored_events(day, i, root) for i in ("db-1", "db-2")})
    assert results["serial"][0] == 1 and results["parallel"][0] == 2
    assert results["parallel"][1] == results["serial"][1]
    assert all(rows for rows in results["serial"][1].values())
    assert sum(len(rows) for rows in results["serial"][1].values()) > 50


def _env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLOWLOG_", "AWS_", "DAGSTER_"))}
    env.update({"SLOWLOG_DATA_ROOT": str(tmp_path / "data"), "PYTHONPATH": str(REPO), **extra})
    return env


def test_make_ingest_day_ingests_every_instance_of_the_sample_estate(tmp_path):
    out = subprocess.run([PYTHON, "-m", "dagster_project.ingest_day", "2026-11-24"], cwd=REPO, env=_env(tmp_path),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [line.strip() for line in out.stdout.splitlines() if line.startswith("  ")]
    assert sorted(line.split(":")[0] for line in lines) == ["orders-db", "reports-pg", "sessions-cache", "users-db"]
    assert all(line.endswith("ok") and " 0 events" not in line for line in lines)
    assert (tmp_path / "data" / "warehouse" / "query_digest" / "date=2026-11-24" / "part-0.parquet").exists()
    bad = subprocess.run([PYTHON, "-m", "dagster_project.ingest_day", "2026-13-01"], cwd=REPO, env=_env(tmp_path),
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "YYYY-MM-DD" in bad.stderr
    assert "Traceback" not in bad.stderr


REEXECUTE = textwrap.dedent("""
    import json, dagster as dg
    from dagster_project.ingest_day import ingest_job
    with dg.DagsterInstance.get() as instance:
        failed = [r for r in instance.get_runs() if r.status == dg.DagsterRunStatus.FAILURE]
        # as the UI's "Re-execute from failure" does: the parent's partition tag goes along
        tags = {k: v for k, v in failed[0].tags.items() if k.startswith("dagster/partition")}
        result = dg.execute_job(dg.reconstructable(ingest_job), instance=instance, raise_on_error=False, tags=tags,
                                reexecution_options=dg.ReexecutionOptions.from_failure(failed[0].run_id, instance))
        steps = sorted({e.step_key for e in result.all_events if e.event_type_value == "STEP_START"})
        print(json.dumps({"success": result.success, "steps": steps}))
""")


def test_rds_from_the_environment_one_failed_unit_and_its_reexecution(tmp_path):
    """SLOWLOG_SOURCE=rds, SLOWLOG_INSTANCES and boto3's own AWS_ENDPOINT_URL_RDS drive the default
    definitions. db-2 is unknown to RDS at first: `make ingest` names it and exits 1 while db-1
    lands (files and events); once db-2 exists, re-executing the failed run downloads and parses
db-2's files only."""
    day = "2026-11-20"
    with RDSApiServer({"db-1": {rds_name(h): rds_log(h) for h in (3, 9)}}, max_portion_bytes=8192) as srv:
        env = _env(tmp_path, SLOWLOG_SOURCE="rds", SLOWLOG_INSTANCES="db-1,db-2", AWS_ENDPOINT_URL_RDS=srv.endpoint_url,
                   AWS_ACCESS_KEY_ID=AWS_KEY_ID, AWS_SECRET_ACCESS_KEY=AWS_SECRET, AWS_REGION="us-east-1",
                   DAGSTER_HOME=str(tmp_path / "home"))
        (tmp_path / "home").mkdir()
        first = subprocess.run([PYTHON, "-m", "dagster_project.ingest_day", day], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=600)
        assert first.returncode == 1, first.stdout + first.stderr
        report = {line.strip().split(":")[0]: line for line in first.stdout.splitlines() if line.startswith("  ")}
        assert report["db-1"].rstrip().endswith("ok") and "2 files" in report["db-1"]
        assert "FAILED" in report["db-2"] and "DBInstanceNotFound" in report["db-2"]
        assert AWS_SECRET not in first.stdout + first.stderr
        raw_db1 = tmp_path / "data" / "raw" / f"date={day}" / "instance=db-1" / rds_name(3).rsplit("/", 1)[1]
        assert raw_db1.read_bytes() == srv.served_bytes("db-1", rds_name(3))
        landed_at = raw_db1.stat().st_mtime_ns
        # db-1's parse ran after its own download, in the failed run: its events landed too
        db1_events = stored_events(dt.date.fromisoformat(day), "db-1", tmp_path / "data")
        assert len(db1_events) > 50
        events_at = (tmp_path / "data" / "warehouse" / "slow_query_events" / f"date={day}" / "instance=db-1"
                     / "part-0.parquet").stat().st_mtime_ns

        srv.add_file("db-2", rds_name(5), rds_log(5))
        again = subprocess.run([PYTHON, "-c", REEXECUTE], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        outcome = json.loads(again.stdout.strip().splitlines()[-1])
        assert outcome["success"], again.stderr[-3000:]
        downloads = [s for s in outcome["steps"] if s.startswith("slow_log_ingest.download_instance_day[")]
        parses = [s for s in outcome["steps"] if s.startswith("slow_log_ingest.parse_instance_day[")]
        # only db-2's unit again: db-1's download and parse both succeeded in the failed run
        assert downloads == [f"slow_log_ingest.download_instance_day[db_2__{day.replace('-', '')}]"], outcome["steps"]
        assert parses == [f"slow_log_ingest.parse_instance_day[db_2__{day.replace('-', '')}]"], outcome["steps"]
        assert "query_digest" in outcome["steps"]
    assert raw_db1.stat().st_mtime_ns == landed_at  # db-1 untouched by the re-execution
    assert (tmp_path / "data" / "warehouse" / "slow_query_events" / f"date={day}" / "instance=db-1"
            / "part-0.parquet").stat().st_mtime_ns == events_at
    assert len(stored_events(dt.date.fromisoformat(day), "db-2", tmp_path / "data")) > 50


def test_slowlog_source_selects_the_default_log_source(monkeypatch):
    import dagster_project.definitions as definitions

    monkeypatch.setenv("SLOWLOG_SOURCE", "rds")
    monkeypatch.setenv("SLOWLOG_INSTANCES", "a-1, b-2")
    monkeypatch.setenv("AWS_ENDPOINT_URL_RDS", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    source = definitions.default_log_source()
    assert isinstance(source, RDSLogSourceResource) and source.instances == ["a-1", "b-2"]
    assert source.endpoint_url is None  # never overridden: boto3 reads AWS_ENDPOINT_URL_RDS itself
    assert source.source.client.meta.endpoint_url == "http://127.0.0.1:1"
    assert source.max_backoff_s == 1.0 and source.retry_mode == "standard"
    monkeypatch.setenv("SLOWLOG_AWS_MAX_BACKOFF", "2.5")
    assert definitions.default_log_source().max_backoff_s == 2.5
    monkeypatch.setenv("SLOWLOG_AWS_MAX_BACKOFF", "soon")
    with pytest.raises(ValueError, match="SLOWLOG_AWS_MAX_BACKOFF must be a number of seconds >= 0, not 'soon'"):
        definitions.default_log_source()
    monkeypatch.delenv("SLOWLOG_AWS_MAX_BACKOFF")
    monkeypatch.setenv("SLOWLOG_SOURCE", "cloudwatch")
    assert type(definitions.default_log_source()).__name__ == "CloudWatchLogSourceResource"
    monkeypatch.setenv("SLOWLOG_SOURCE", "ftp")
    with pytest.raises(ValueError, match="SLOWLOG_SOURCE must be one of local, rds, cloudwatch"):
        definitions.default_log_source()
    monkeypatch.setenv("SLOWLOG_SOURCE", "rds")
    monkeypatch.delenv("SLOWLOG_INSTANCES")
    with pytest.raises(ValueError, match="needs SLOWLOG_INSTANCES"):
        definitions.default_log_source()


def test_each_parse_starts_after_its_own_download_and_a_reparse_downloads_nothing(data_root):
    """One graph for both ingest assets: a unit's parse step waits for its own download step only
    (db-1's parse may start while db-2 is still downloading); materializing slow_query_events alone
    re-parses raw/ without one call to RDS; slow_log_files alone downloads and parses nothing."""
    from dagster_project.assets.ingest import SLOW_LOG_FILES, SLOW_QUERY_EVENTS
    from tests.support.ingest import materialize, rds_resource

    estate = {"db-1": {rds_name(2): rds_log(2)}, "db-2": {rds_name(h): rds_log(h, reps=3) for h in (4, 7, 9)}}
    with RDSApiServer(estate, max_portion_bytes=4096, latency=0.02) as srv:
        resource = rds_resource(srv, instances=["db-1", "db-2"])
        first = materialize(resource)
        assert first.success
        day = dt.date(2026, 11, 20)
        stored = {i: stored_events(day, i, data_root) for i in estate}
        assert all(len(rows) > 20 for rows in stored.values())
        # each parse step's input comes from its own unit's download step (not from a barrier)
        parse_inputs = {e.step_key: e for e in first.all_events if e.event_type_value == "LOADED_INPUT"
                        and ".parse_instance_day[" in (e.step_key or "")}
        assert sorted(parse_inputs) == [f"slow_log_ingest.parse_instance_day[db_{n}__20261120]" for n in (1, 2)]
        for step_key, event in parse_inputs.items():
            upstream = event.event_specific_data.upstream_step_key
            assert upstream == step_key.replace("parse_instance_day", "download_instance_day")

        calls = len(srv.calls)
        reparse = materialize(resource, selection=[SLOW_QUERY_EVENTS])
        assert reparse.success and len(srv.calls) == calls  # not one call: raw/ is what gets parsed
        assert [m.asset_key for m in reparse.get_asset_materialization_events()] == [SLOW_QUERY_EVENTS]
        assert {i: stored_events(day, i, data_root) for i in estate} == stored

        download_only = materialize(resource, selection=[SLOW_LOG_FILES])
        assert download_only.success and len(srv.calls) > calls
        steps = {e.step_key.split("[")[0] for e in download_only.all_events if e.event_type_value == "STEP_START"}
        assert steps == {"slow_log_ingest.instance_day_units", "slow_log_ingest.download_instance_day",
                         "slow_log_ingest.slow_log_files_summary"}
