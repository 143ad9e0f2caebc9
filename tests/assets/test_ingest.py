"""slow_log_files + slow_query_events (+ their checks) materialized against a local RDS-like tree."""
from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from dagster_project import analysis
from dagster_project.assets.ingest import (
    CHECK_BYTES,
    CHECK_NOT_EMPTY,
    CHECK_REJECTED,
    ingest_assets,
    slow_query_events_checks,
)
from dagster_project.slowlog.parse import parse_log
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.warehouse import Warehouse

ASSETS = [*ingest_assets, slow_query_events_checks]
from tests.support.corpus import CORPUS  # noqa: E402
from tests.support.dagster_results import materializations

CORPUS_LOG = CORPUS / "percona/slowlogs/slow053.txt"
DAY = "2026-03-02"


def meta(result: dg.ExecuteInProcessResult, node: str) -> dict:
    mats = materializations(result, node)
    assert mats, f"no materialization for {node}"
    return {k: v.value for k, v in mats[-1].metadata.items()}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def expected_events(paths) -> int:
    total = 0
    for p in paths:
        parsed = parse_log(str(p), instance="x", engine="mysql")
        for _ in parsed:
            pass
        total += parsed.stats.events
    return total


def test_one_day_two_instances(source_tree, days, data_root):
    tree = source_tree(days(DAY, 1), ["db-1", "db-2"], files_per_day=3)
    result = dg.materialize(ASSETS, resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key=DAY)
    assert result.success

    files = meta(result, "slow_log_files")
    assert files["files"] == 6
    assert files["bytes"] == tree.bytes()
    assert files["retries"] == 0 and files["truncated_markers"] == 0
    assert "db-1" in files["per_instance"] and "db-2" in files["per_instance"]

    # raw copies are byte-identical, under raw/date=/instance=/
    for instance in ("db-1", "db-2"):
        for src in tree.paths(instance=instance):
            raw = data_root / "raw" / f"date={DAY}" / f"instance={instance}" / src.name
            assert raw.read_bytes() == src.read_bytes()

    events = meta(result, "slow_query_events")
    n = expected_events(tree.paths())
    assert n > 0
    assert events["files"] == 6
    assert events["bytes"] == tree.bytes()
    assert events["events"] == n == events["dagster/row_count"]
    assert events["rejected"] == 0 and events["rejected_bytes"] == 0
    assert events["event_bytes"] + events["skipped_bytes"] == tree.bytes()
    assert "| ts |" in events["preview"]
    assert "db-1" in events["per_instance"]

    # Parquet partitions + manifests
    for instance in ("db-1", "db-2"):
        part = data_root / "warehouse" / "slow_query_events" / f"date={DAY}" / f"instance={instance}"
        assert sorted(os.listdir(part)) == ["_manifest.json", "part-0.parquet"]
        rows = pq.read_metadata(part / "part-0.parquet").num_rows
        assert rows == expected_events(tree.paths(instance=instance))
        manifest = Warehouse().read_manifest("slow_query_events", DAY, instance)
        assert manifest["files"] == 3 and manifest["events"] == rows and manifest["accounted"]
        assert manifest["bytes_total"] == tree.bytes(instance=instance)

    assert checks(result) == {CHECK_BYTES: True, CHECK_NOT_EMPTY: True, CHECK_REJECTED: True}

    df = analysis.load_events(DAY, DAY)
    assert len(df) == n
    assert set(df["instance"]) == {"db-1", "db-2"}
    assert (df["date"].astype(str) == DAY).all()
    assert df["ts"].min() >= dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)

    # Re-materializing replaces: identical counts, no duplicate rows or files.
    again = dg.materialize(ASSETS, resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key=DAY)
    assert again.success
    assert meta(again, "slow_query_events")["events"] == n
    assert len(analysis.load_events(DAY, DAY)) == n
    assert len(Warehouse().partition_files("slow_query_events", DAY, DAY)) == 2
    raw_dir = data_root / "raw" / f"date={DAY}" / "instance=db-1"
    assert sorted(os.listdir(raw_dir)) == sorted(p.name for p in tree.paths(instance="db-1"))
    leftovers = [n for n in os.listdir(data_root / "warehouse" / "slow_query_events" / f"date={DAY}") if n.startswith(".")]
    assert leftovers == []


def test_instance_subset_and_skip_existing(source_tree, days, data_root):
    tree = source_tree(days(DAY, 1), ["db-1", "db-2"], files_per_day=2)
    run_config = dg.RunConfig(
        ops={"slow_log_ingest": {"config": {"instances": ["db-2"], "skip_existing": True}}}
    )
    result = dg.materialize(ASSETS, resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key=DAY, run_config=run_config)
    assert result.success
    assert meta(result, "slow_log_files")["files"] == 2
    assert Warehouse().list_partitions("slow_query_events") == [
        (dt.date(2026, 3, 2), "db-2", str(data_root / "warehouse/slow_query_events/date=2026-03-02/instance=db-2"))
    ]
    # checks only judge what exists; the missing db-1 partition is reported, not failed
    assert all(checks(result).values())
    # second run: files already stored are kept, not downloaded again
    raw = data_root / "raw" / f"date={DAY}" / "instance=db-2" / tree.paths(instance="db-2")[0].name
    before = raw.stat().st_mtime_ns
    again = dg.materialize(ASSETS, resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key=DAY, run_config=run_config)
    assert again.success and raw.stat().st_mtime_ns == before


def test_garbage_fails_checks(source_tree, days, data_root):
    tree = source_tree(days(DAY, 1), ["db-1"], files_per_day=2)
    rng = random.Random(7)
    tree.add_file("db-2", dt.date(2026, 3, 2), 4, bytes(rng.getrandbits(8) for _ in range(20_000)))
    result = dg.materialize(ASSETS, resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key=DAY)
    assert result.success  # a failed check does not fail the run
    assert checks(result) == {CHECK_BYTES: True, CHECK_NOT_EMPTY: False, CHECK_REJECTED: False}
    events = meta(result, "slow_query_events")
    assert events["rejected_bytes"] == 20_000
    assert events["rejected_samples"] and events["rejected_samples"][0].startswith(f"{DAY}/db-2/")
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == CHECK_REJECTED)
    assert evaluation.metadata["worst_ratio"].value == 1.0
    assert "db-2" in evaluation.metadata["partitions_over"].value


def test_rejected_ratio_threshold_from_env(source_tree, days, data_root, monkeypatch):
    tree = source_tree(days(DAY, 1), ["db-1"], files_per_day=1, logs=[CORPUS_LOG])
    path = tree.paths()[0]
    mtime = path.stat().st_mtime
    # garbage before the first entry: rejected, a few percent of the file
    path.write_bytes(b"\x00\xff garbage that is no slow-log entry \xfe\n" + path.read_bytes())
    os.utime(path, (mtime, mtime))
    result = dg.materialize(ASSETS, resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key=DAY)
    ratio = meta(result, "slow_query_events")["rejected_bytes"] / tree.bytes()
    assert 0.01 < ratio < 0.5
    assert checks(result) == {CHECK_BYTES: True, CHECK_NOT_EMPTY: True, CHECK_REJECTED: False}

    # the checks re-run on their own from the manifests, with the threshold from the environment
    monkeypatch.setenv("SLOWLOG_MAX_REJECTED_RATIO", "0.5")
    defs = dg.Definitions(assets=ingest_assets, asset_checks=[slow_query_events_checks],
                          resources={"data_root": DataRootResource(), "log_source": tree.resource()})
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_check_selection={e.asset_check_key for e in result.get_asset_check_evaluations()},
        asset_selection=set(),
    )
    rerun = job.execute_in_process(partition_key=DAY)
    assert rerun.success
    assert checks(rerun) == {CHECK_BYTES: True, CHECK_NOT_EMPTY: True, CHECK_REJECTED: True}


def test_no_files_gives_empty_partitions(source_tree, days, data_root):
    tree = source_tree(days(DAY, 1), ["db-1"], files_per_day=1)
    other = "2026-03-05"
    result = dg.materialize(ASSETS, resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key=other)
    assert result.success
    assert meta(result, "slow_log_files")["files"] == 0
    assert meta(result, "slow_query_events")["events"] == 0
    assert Warehouse().read_manifest("slow_query_events", other, "db-1")["files"] == 0
    assert all(checks(result).values())
    assert len(analysis.load_events(other, other)) == 0
