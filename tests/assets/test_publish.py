"""Ingest -> digest -> OpenSearch, materialized for two days against a real OpenSearch node."""
import datetime as dt

import dagster as dg
import pytest

from dagster_project.assets.digest import query_digest
from dagster_project.assets.ingest import ingest_assets
from dagster_project.assets.publish import opensearch_digest
from dagster_project.resources.aws import LocalLogSourceResource
from dagster_project.resources.opensearch import OpenSearchResource
from dagster_project.resources.warehouse import DataRootResource
from tests.support.source_tree import GOOD_LOGS, SourceTree, relocate_times
from tests.support.dagster_results import materializations

pytestmark = pytest.mark.integration
DAYS = [dt.date(2026, 11, 23), dt.date(2026, 11, 24)]
ASSETS = [*ingest_assets, query_digest, opensearch_digest]


@pytest.fixture
def estate(tmp_path, monkeypatch):
    monkeypatch.setenv("SLOWLOG_DATA_ROOT", str(tmp_path / "data"))
    tree = SourceTree(root=tmp_path / "source", instances=[], days=DAYS)
    for d, day in enumerate(DAYS):
        for i, instance in enumerate(["orders-db", "users-db"]):
            for h, log in enumerate(GOOD_LOGS[d + i : d + i + 3]):
                tree.add_file(instance, day, 3 + 5 * h, relocate_times(log.read_bytes(), day, 3 + 5 * h))
    return tree


def _run(tree, opensearch, day, config=None):
    return dg.materialize(
        ASSETS,
        resources={"data_root": DataRootResource(), "log_source": LocalLogSourceResource(root=str(tree.root), instances=tree.instances),
                   "opensearch": opensearch},
        partition_key=str(day),
        run_config=config,
        raise_on_error=False,
    )


def test_two_days_idempotent_and_top_classes(estate, opensearch_url):
    prefix = "it-digest-"
    os_res = OpenSearchResource(hosts=[opensearch_url], index_prefix=prefix, events_index_prefix="it-events-")
    client = os_res.get_client()
    client.indices.delete(index=f"{prefix}*,it-events-*", ignore_unavailable=True)
    counts = {}
    for day in DAYS:
        res = _run(estate, os_res, day)
        assert res.success
        mat = materializations(res, "opensearch_digest")[0]
        counts[day] = mat.metadata["documents"].value
        index = f"{prefix}{day:%Y.%m.%d}"
        assert client.count(index=index, body={"query": {"term": {"doc_type": "daily"}}})["count"] == \
            materializations(res, "query_digest")[0].metadata["classes"].value
    assert all(n > 0 for n in counts.values())
    # idempotent: same partition again -> same number of documents, no duplicates
    again = _run(estate, os_res, DAYS[0])
    assert again.success
    index0 = f"{prefix}{DAYS[0]:%Y.%m.%d}"
    assert client.count(index=index0)["count"] == counts[DAYS[0]]
    # "top classes by total time" answered by OpenSearch == the warehouse digest
    agg = client.search(index=index0, body={
        "size": 0, "query": {"term": {"doc_type": "daily"}},
        "aggs": {"by_class": {"terms": {"field": "checksum", "size": 3, "order": {"t": "desc"}},
                              "aggs": {"t": {"sum": {"field": "query_time_sum"}}}}}})
    top = [b["key"] for b in agg["aggregations"]["by_class"]["buckets"]]
    from dagster_project.analysis import load_digest
    digest = load_digest(DAYS[0], DAYS[0])
    expected = digest.groupby("checksum")["query_time_sum"].sum().sort_values(ascending=False).index[:3].tolist()
    assert top == expected
    # the DB load series: one document per db_load row, the same load per instance
    from dagster_project.warehouse import Warehouse
    load = Warehouse().read_table("db_load", DAYS[0], DAYS[0]).to_pandas()
    assert len(load) > 0
    assert client.count(index=index0, body={"query": {"term": {"doc_type": "db_load"}}})["count"] == len(load)
    agg = client.search(index=index0, body={
        "size": 0, "query": {"term": {"doc_type": "db_load"}},
        "aggs": {"by_instance": {"terms": {"field": "instance"}, "aggs": {"s": {"sum": {"field": "query_time_s"}}}}}})
    got = {b["key"]: b["s"]["value"] for b in agg["aggregations"]["by_instance"]["buckets"]}
    assert got == pytest.approx(load.groupby("instance")["query_time_s"].sum().to_dict(), rel=1e-9)
    # no literal from a raw query reached the index
    hits = client.search(index=index0, body={"size": 500, "query": {"match_all": {}}})["hits"]["hits"]
    assert hits and all("'" not in (h["_source"].get("example") or "") for h in hits)


def test_bulk_rejection_fails_the_run(estate, opensearch_url):
    prefix = "it-broken-"
    os_res = OpenSearchResource(hosts=[opensearch_url], index_prefix=prefix)
    client = os_res.get_client()
    index = f"{prefix}{DAYS[0]:%Y.%m.%d}"
    client.indices.delete(index=f"{prefix}*", ignore_unavailable=True)
    client.indices.delete_index_template(name="*it-broken*", ignore=[404])
    # An index created beforehand with a conflicting, strict mapping: every document is rejected.
    client.indices.create(index=index, body={"mappings": {"dynamic": "strict", "properties": {
        "checksum": {"type": "long"}}}})
    res = _run(estate, os_res, DAYS[0])
    assert not res.success
    failure = [e for e in res.all_events if e.event_type_value == "STEP_FAILURE"][0]
    message = failure.event_specific_data.error.to_string()
    assert "OpenSearchPublishError" in message and "rejected by OpenSearch" in message
    assert "strict_dynamic_mapping_exception" in message  # the first reasons are in the error
    client.indices.delete(index=index, ignore_unavailable=True)
