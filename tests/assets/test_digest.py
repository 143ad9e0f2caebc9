"""query_digest materialized after the ingest assets."""
from __future__ import annotations

import re

import dagster as dg
import pyarrow as pa

from dagster_project import analysis
from dagster_project.assets.digest import query_digest
from dagster_project.assets.ingest import ingest_assets
from dagster_project.slowlog.digest import Digest
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.warehouse import Warehouse
from tests.support.dagster_results import materializations

DAY = "2026-03-10"


def test_digest_of_one_day(source_tree, days, data_root):
    tree = source_tree(days(DAY, 1), ["db-1", "db-2"], files_per_day=4, seed=3)
    assets = [*ingest_assets, query_digest]
    result = dg.materialize(assets, resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key=DAY)
    assert result.success

    events = analysis.load_events(DAY, DAY, by="partition")
    digest = analysis.load_digest(DAY, DAY)
    md = {k: v.value for k, v in materializations(result, "query_digest")[0].metadata.items()}
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


def _digest_tables(data_root) -> tuple:
    import pyarrow.parquet as pq

    day_dir = lambda table: data_root / "warehouse" / table / f"date={DAY}" / "part-0.parquet"  # noqa: E731
    return pq.read_table(day_dir("query_digest")), pq.read_table(day_dir("db_load"))


def _assert_same_tables(a, b) -> None:
    """Equal row for row: exact but for float sums (their last bit depends on batch boundaries)."""
    assert a.schema == b.schema and a.num_rows == b.num_rows > 0
    for name in a.column_names:
        x, y = a.column(name).to_pylist(), b.column(name).to_pylist()
        if a.schema.field(name).type in (pa.float64(), pa.float32()):
            assert all((u is None and v is None) or abs(u - v) <= 1e-9 * max(1.0, abs(u)) for u, v in zip(x, y)), name
        else:
            assert x == y, name


def test_digest_from_the_parse_steps_parts_equals_the_digest_of_the_events(source_tree, days, data_root):
    """The parse steps digest their instance-days; query_digest concatenates those parts. Where a
    part does not match its events (here: the events rewritten without one, as an older version
    or a crash between the two writes leaves them), that instance is read from its events, and
    the day's tables are the same either way."""
    tree = source_tree(days(DAY, 1), ["db-1", "db-2", "db-3"], files_per_day=3, seed=5)
    resources = {"data_root": DataRootResource(), "log_source": tree.resource()}
    first = dg.materialize([*ingest_assets, query_digest], resources=resources, partition_key=DAY)
    assert first.success
    per_day = materializations(first, "query_digest")[0].metadata["per_day"].value
    assert "instances_from_parts" in per_day and "| 3 | 0 |" in per_day
    from_parts = _digest_tables(data_root)

    wh = Warehouse()
    for instance in ("db-1", "db-3"):  # events rewritten, same rows, manifest without the parts' id
        events = wh.read_table("slow_query_events", DAY, DAY, instance=instance).drop_columns(["date"])
        manifest = {k: v for k, v in wh.read_manifest("slow_query_events", DAY, instance).items() if k != "digest_id"}
        wh.write_partition("slow_query_events", DAY, events, instance=instance, manifest=manifest)
    again = dg.materialize([query_digest], resources=resources, partition_key=DAY)
    assert again.success
    assert "| 1 | 2 |" in materializations(again, "query_digest")[0].metadata["per_day"].value
    for a, b in zip(from_parts, _digest_tables(data_root)):
        _assert_same_tables(a, b)

    # and equal to one Digest over the whole day's events (what query_digest computed before parts)
    d = Digest(group_by=("instance", "checksum"), hourly=True)
    d.add(wh.read_table("slow_query_events", DAY, DAY).drop_columns(["date"]))
    whole = d.to_table(DAY)
    _assert_same_tables(whole.cast(from_parts[0].schema), from_parts[0])


def test_digest_of_a_day_without_events(source_tree, days, data_root):
    tree = source_tree(days(DAY, 1), ["db-1"], files_per_day=1)
    result = dg.materialize([query_digest], resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key="2026-03-11")
    assert result.success
    assert materializations(result, "query_digest")[0].metadata["classes"].value == 0
    assert len(analysis.load_digest("2026-03-11", "2026-03-11")) == 0
    assert Warehouse().read_table("db_load", "2026-03-11", "2026-03-11").num_rows == 0
