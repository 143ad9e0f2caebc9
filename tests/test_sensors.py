"""new_slow_log_files_sensor ticks, the daily schedule, and the Definitions object."""
from __future__ import annotations

import datetime as dt
import json
import os

import dagster as dg

from dagster_project.assets.digest import digest_assets
from dagster_project.assets.ingest import ingest_assets, ingest_checks
from dagster_project.jobs import collect_job, daily_job
from dagster_project.schedules import daily_schedule
from dagster_project.sensors import new_slow_log_files_sensor
from dagster_project.resources.warehouse import DataRootResource
from tests.support.dagster_results import materializations


def ms(path) -> int:
    return int(path.stat().st_mtime * 1000)


def day_of(path) -> str:
    return path.name.rsplit(".", 2)[-2]  # mysql-slowquery.log.YYYY-MM-DD.HH


def run_key(instance: str, *paths) -> str:
    """One run per instance-day: the key carries the newest LastWritten of the day's new files."""
    return f"{instance}:{day_of(paths[0])}:{max(ms(p) for p in paths)}"


def make_defs(tree) -> dg.Definitions:
    return dg.Definitions(
        assets=[*ingest_assets, *digest_assets],
        asset_checks=ingest_checks,
        jobs=[collect_job],
        sensors=[new_slow_log_files_sensor],
        resources={"data_root": DataRootResource(), "log_source": tree.resource()},
    )


def tick(tree, cursor=None):
    """One evaluation, as the daemon does it (partitioned run requests are resolved against defs)."""
    ctx = dg.build_sensor_context(cursor=cursor, resources={"data_root": DataRootResource(), "log_source": tree.resource()}, definitions=make_defs(tree))
    return new_slow_log_files_sensor.evaluate_tick(ctx)


def test_sensor_requests_each_new_instance_day_once(source_tree, days, data_root, monkeypatch):
    tree = source_tree(days("2026-03-01", 2), ["db-1", "db-2"], files_per_day=3)
    # the sensor must only list, never download
    monkeypatch.setattr(type(tree.resource()), "download", lambda *a, **k: (_ for _ in ()).throw(AssertionError("download")))

    first = tick(tree)
    # 12 files, but one run per (instance, day): 2 x 2
    expected = {run_key(i, *ps) for (d, i), ps in tree.files.items()}
    assert len(first.run_requests) == 4
    assert {r.run_key for r in first.run_requests} == expected
    for r in first.run_requests:
        instance, day, _ = r.run_key.split(":")
        assert r.partition_key == day
        assert r.tags["slowlog/instance"] == instance
        assert r.tags["slowlog/new_files"] == "3"
        assert r.run_config["ops"]["slow_log_ingest"]["config"]["instances"] == [instance]
    cursor = json.loads(first.cursor)
    assert cursor == {i: max(ms(p) for p in tree.paths(instance=i)) for i in ("db-1", "db-2")}

    # nothing new: no run request, same cursor
    second = tick(tree, first.cursor)
    assert second.run_requests == []
    assert second.skip_message
    assert json.loads(second.cursor) == cursor

    # a newly rotated file -> exactly one request, for its day
    new = tree.add_file("db-2", dt.date(2026, 3, 3), 1, b"# Time: 260303  1:00:00\n# Query_time: 1.0\nselect 1;\n")
    third = tick(tree, second.cursor)
    assert [(r.run_key, r.partition_key) for r in third.run_requests] == [(run_key("db-2", new), "2026-03-03")]
    assert json.loads(third.cursor)["db-2"] == ms(new)
    assert tick(tree, third.cursor).run_requests == []


def test_sensor_rerequests_a_file_written_again(source_tree, days, data_root):
    tree = source_tree(days("2026-03-01", 1), ["db-1"], files_per_day=1)
    first = tick(tree)
    path = tree.paths()[0]
    assert [r.run_key for r in first.run_requests] == [run_key("db-1", path)]
    later = path.stat().st_mtime + 600
    path.write_bytes(path.read_bytes() + b"# Query_time: 2.0\nselect 2;\n")
    os.utime(path, (later, later))
    second = tick(tree, first.cursor)
    assert [r.run_key for r in second.run_requests] == [run_key("db-1", path)]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key


def test_sensor_ignores_live_file_and_days_before_start(source_tree, days, data_root):
    tree = source_tree(days("2026-03-01", 1), ["db-1"], files_per_day=1)
    live = tree.root / "db-1" / "slowquery" / "mysql-slowquery.log"
    live.write_bytes(b"# Query_time: 1.0\nselect 1;\n")
    old = tree.add_file("db-1", dt.date(2025, 6, 1), 2, b"# Query_time: 1.0\nselect 1;\n")
    result = tick(tree)
    assert [r.run_key for r in result.run_requests] == [run_key("db-1", tree.paths(dt.date(2026, 3, 1))[0])]
    assert json.loads(result.cursor)["db-1"] >= ms(tree.paths(dt.date(2026, 3, 1))[0])
    assert old.exists()


def test_sensor_run_request_executes(source_tree, days, data_root):
    """A request of the sensor runs as is: its partition and run config are valid for collect_job,
    it ingests that one instance-day and stops before the daily digest."""
    tree = source_tree(days("2026-03-01", 1), ["db-1", "db-2"], files_per_day=2)
    request = tick(tree).run_requests[0]
    result = make_defs(tree).resolve_job_def("collect_job").execute_in_process(
        partition_key=request.partition_key, run_config=request.run_config
    )
    assert result.success
    files = materializations(result, "slow_log_files")[0].metadata
    assert files["files"].value == 2 and files["units"].value == 1
    assert materializations(result, "slow_query_events")
    assert not [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "query_digest"]


def test_daily_schedule_targets_yesterday(source_tree, days):
    tree = source_tree(days("2026-03-01", 1), ["db-1"], files_per_day=1)
    defs = dg.Definitions(
        assets=[*ingest_assets, *digest_assets], jobs=[daily_job], schedules=[daily_schedule],
        resources={"data_root": DataRootResource(), "log_source": tree.resource()},
    )
    ctx = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2026, 3, 10, 1, 15, tzinfo=dt.timezone.utc),
        repository_def=defs.get_repository_def(),
    )
    request = daily_schedule.evaluate_tick(ctx).run_requests[0]
    assert request.partition_key == "2026-03-09"
    assert daily_schedule.cron_schedule == "15 1 * * *"
    assert daily_schedule.job_name == daily_job.name


def test_definitions_load(tmp_path, monkeypatch):
    import importlib

    root = tmp_path / "rds"
    (root / "db-a" / "slowquery").mkdir(parents=True)
    (root / "db-b").mkdir()
    monkeypatch.setenv("SLOWLOG_SOURCE_ROOT", str(root))
    monkeypatch.delenv("SLOWLOG_INSTANCES", raising=False)
    import dagster_project.definitions as definitions

    definitions = importlib.reload(definitions)
    defs = definitions.defs
    assert definitions.RESOURCES["log_source"].list_instances() == ["db-a", "db-b"]  # found when asked
    monkeypatch.setenv("SLOWLOG_INSTANCES", "x, y")
    assert definitions.default_log_source().instances == ["x", "y"]

    job = defs.resolve_job_def("daily_job")
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert {"slow_log_files", "slow_query_events", "query_digest"} <= keys
    assert defs.resolve_job_def("ingest_job").partitions_def is not None
    assert defs.resolve_sensor_def("new_slow_log_files_sensor").default_status == dg.DefaultSensorStatus.STOPPED
    assert defs.resolve_schedule_def("daily_schedule")
    assert len(defs.resolve_asset_graph().asset_check_keys) == 3


def test_first_tick_on_a_week_of_hourly_files_asks_for_one_run_per_day(source_tree, days, data_root):
    """A live RDS instance keeps ~7 days x 24 hourly files: the first tick asks for 7 runs, not 168."""
    tree = source_tree(days("2026-03-01", 7), ["db-1"], files_per_day=24)
    assert len(tree.paths()) == 168
    requests = tick(tree).run_requests
    assert sorted(r.partition_key for r in requests) == [d.isoformat() for d in days("2026-03-01", 7)]
    assert {r.tags["slowlog/new_files"] for r in requests} == {"24"}
