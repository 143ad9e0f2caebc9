"""A single-run backfill: 30 days x 3 instances in ONE run (BackfillPolicy.single_run()).

``dg.materialize`` has no partition-range argument in dagster 1.13; a range run is a run tagged
with ``dagster/asset_partition_range_start`` / ``_end`` (what the UI's backfill launches for a
single-run policy). Both entry points are exercised: the ``ingest_job`` of a Definitions object
(``execute_in_process(tags=...)``) and ``dg.materialize(..., tags=...)``.
"""
from __future__ import annotations

import datetime as dt

import dagster as dg

from dagster_project import analysis
from dagster_project.assets.digest import query_digest
from dagster_project.assets.ingest import ingest_assets, slow_query_events_checks
from dagster_project.jobs import ingest_job
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.warehouse import Warehouse
from tests.support.dagster_results import materializations

RANGE_START, RANGE_END = "2026-04-01", "2026-04-30"
INSTANCES = ["db-1", "db-2", "db-3"]


def range_tags(start: str, end: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}


def test_thirty_days_three_instances_in_one_run(source_tree, days, data_root):
    tree = source_tree(days(RANGE_START, 30), INSTANCES, files_per_day=1)
    defs = dg.Definitions(
        assets=[*ingest_assets, query_digest],
        asset_checks=[slow_query_events_checks],
        jobs=[ingest_job],
        resources={"data_root": DataRootResource(), "log_source": tree.resource()},
    )
    result = defs.resolve_job_def("ingest_job").execute_in_process(tags=range_tags(RANGE_START, RANGE_END))
    assert result.success

    # one run, each asset's step ran once and materialized all 30 partitions
    for node in ("slow_log_files", "slow_query_events", "query_digest"):
        mats = materializations(result, node)
        assert sorted(m.partition for m in mats) == [d.isoformat() for d in days(RANGE_START, 30)]
    files_meta = materializations(result, "slow_log_files")[0].metadata
    assert files_meta["files"].value == 90
    assert files_meta["bytes"].value == tree.bytes()

    parts = Warehouse().list_partitions("slow_query_events")
    assert len(parts) == 90
    assert {i for _, i, _ in parts} == set(INSTANCES)
    assert len(Warehouse().list_partitions("query_digest")) == 30
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert len(result.get_asset_check_evaluations()) == 3

    events = materializations(result, "slow_query_events")[0].metadata["events"].value
    assert len(analysis.load_events()) == events
    assert analysis.load_digest()["count"].sum() == events


def test_materialize_with_range_tags_then_single_partition_rerun(source_tree, days, data_root):
    tree = source_tree(days("2026-05-01", 3), INSTANCES[:2], files_per_day=1)
    assets = [*ingest_assets, slow_query_events_checks]
    result = dg.materialize(assets, resources={"data_root": DataRootResource(), "log_source": tree.resource()}, tags=range_tags("2026-05-01", "2026-05-03"))
    assert result.success
    assert len(Warehouse().list_partitions("slow_query_events")) == 6
    total = len(analysis.load_events())

    # re-materializing one day of the range replaces that day only
    again = dg.materialize(assets, resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key="2026-05-02")
    assert again.success
    assert len(analysis.load_events()) == total
    assert len(Warehouse().list_partitions("slow_query_events")) == 6
    assert analysis.load_events("2026-05-02", "2026-05-02", by="partition")["date"].unique().tolist() == [dt.date(2026, 5, 2)]
