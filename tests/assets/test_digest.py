"""query_digest materialized after the ingest assets."""
from __future__ import annotations

import re

import dagster as dg

from dagster_project import analysis
from dagster_project.assets.digest import query_digest
from dagster_project.assets.ingest import slow_log_files, slow_query_events
from dagster_project.slowlog.digest import Digest
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.warehouse import Warehouse

DAY = "2026-03-10"


def test_digest_of_one_day(source_tree, days, data_root):
    tree = source_tree(days(DAY, 1), ["db-1", "db-2"], files_per_day=4, seed=3)
    assets = [slow_log_files, slow_query_events, query_digest]
    result = dg.materialize(assets, resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key=DAY)
    assert result.success

    events = analysis.load_events(DAY, DAY, by="partition")
    digest = analysis.load_digest(DAY, DAY)
    md = {k: v.value for k, v in result.asset_materializations_for_node("query_digest")[0].metadata.items()}
    assert md["events"] == len(events) > 0
    assert md["classes"] == len(digest) == md["dagster/row_count"]
    assert "| instance |" in md["top_classes"] and "checksum" in md["top_classes"]

    assert (data_root / "warehouse" / "query_digest" / f"date={DAY}" / "part-0.parquet").exists()
    assert digest["count"].sum() == len(events)
    assert set(digest["instance"]) == {"db-1", "db-2"}
    assert all(re.fullmatch(r"[0-9A-F]{32}", c) for c in digest["checksum"])
    # one row per instance x checksum, counts equal to the events'
    by_class = events.groupby(["instance", "checksum"]).size()
    assert len(by_class) == len(digest)
    for row in digest.itertuples():
        assert by_class[(row.instance, row.checksum)] == row.count
    assert abs(digest["query_time_sum"].sum() - events["query_time"].sum()) < 1e-6
    # every event with a query time is in its class's stored sketch
    assert (digest["query_time_sketch_count"].map(sum) == digest["count"] - digest["query_time_missing"]).all()
    # the DB load series of the day: every second of query time, in minutes
    load = Warehouse().read_table("db_load", DAY, DAY).to_pandas()
    assert abs(load["query_time_s"].sum() - events["query_time"].sum()) < 1e-6
    assert set(load["instance"]) == {"db-1", "db-2"} and "db_load_rows" in md["per_day"]

    # same as a Digest computed directly
    d = Digest(group_by=("instance", "checksum"))
    d.add(Warehouse().read_table("slow_query_events", DAY, DAY).drop_columns(["date"]))
    assert len(d.classes()) == len(digest)

    # filters
    assert set(analysis.load_digest(DAY, DAY, instance="db-2")["instance"]) == {"db-2"}

    # idempotent
    again = dg.materialize([query_digest], resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key=DAY)
    assert again.success
    assert len(analysis.load_digest(DAY, DAY)) == len(digest)


def test_digest_of_a_day_without_events(source_tree, days, data_root):
    tree = source_tree(days(DAY, 1), ["db-1"], files_per_day=1)
    result = dg.materialize([query_digest], resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key="2026-03-11")
    assert result.success
    assert result.asset_materializations_for_node("query_digest")[0].metadata["classes"].value == 0
    assert len(analysis.load_digest("2026-03-11", "2026-03-11")) == 0
    assert Warehouse().read_table("db_load", "2026-03-11", "2026-03-11").num_rows == 0
