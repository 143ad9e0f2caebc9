"""Materializing the same partition twice gives the same warehouse and the same OpenSearch index.

The first run goes through throttling and 5xx answers of the RDS API, the second does not: the
faults must leave no trace in the data (raw bytes, events, digest, manifests, documents).
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from dagster_project.assets.digest import query_digest
from dagster_project.assets.ingest import ingest_assets
from dagster_project.assets.publish import opensearch_digest
from dagster_project.resources.opensearch import OpenSearchResource
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.warehouse import Warehouse
from tests.support.dagster_results import failure_message, materializations
from tests.support.ingest import DAY, rds_log, rds_name, rds_resource
from tests.support.rds_api_server import RDSApiServer

pytestmark = pytest.mark.usefixtures("no_ambient_aws")  # no AWS/Slack credentials from the environment
KEY = DAY.isoformat()
FILES = {
    "db-1": {rds_name(h): rds_log(h, reps=2) for h in (1, 7, 19)},
    "db-2": {rds_name(h): rds_log(h) for h in (3, 11)},
}


def sorted_table(table: pa.Table, keys: list[str]) -> list[dict]:
    return table.sort_by([(k, "ascending") for k in keys]).to_pylist()


def snapshot(data_root: Path) -> dict:
    """Everything a run leaves in the warehouse, in comparable form."""
    raw = {str(p.relative_to(data_root)): p.read_bytes() for p in sorted((data_root / "raw").rglob("*")) if p.is_file()}
    manifests = {}
    for instance in FILES:
        m = Warehouse().read_manifest("slow_query_events", DAY, instance)
        m.pop("written_at")
        manifests[instance] = m
    events = Warehouse().read_table("slow_query_events", DAY, DAY)
    digest = Warehouse().read_table("query_digest", DAY, DAY)
    return {
        "raw": raw,
        "manifests": manifests,
        "events": sorted_table(events, ["instance", "source_file", "source_offset"]),
        "digest": sorted_table(digest, ["instance", "checksum"]),
        "files": sorted(str(p.relative_to(data_root)) for p in (data_root / "warehouse").rglob("*")),
    }


def run(srv, assets, **resources) -> dg.ExecuteInProcessResult:
    result = dg.materialize(assets, partition_key=KEY, raise_on_error=False,
                            resources={"data_root": DataRootResource(), "log_source": rds_resource(srv, instances=list(FILES)), **resources})
    assert result.success, failure_message(result)
    return result


def test_same_partition_twice_gives_identical_parquet(data_root):
    assets = [*ingest_assets, query_digest]
    with RDSApiServer(FILES, max_portion_bytes=4096, throttle_every=5, error_5xx_every=11) as srv:
        run(srv, assets)
        assert srv.throttled and srv.errors_5xx
    first = snapshot(data_root)
    assert len(first["events"]) > 200 and len(first["digest"]) > 20
    with RDSApiServer(FILES, max_portion_bytes=64 * 1024) as srv:
        run(srv, assets)
    second = snapshot(data_root)
    for part in first:
        assert second[part] == first[part], part
    # exactly one Parquet file per partition, whatever the number of runs
    assert [f for f in second["files"] if f.endswith(".parquet")] == [
        f"warehouse/db_load/date={KEY}/part-0.parquet",
        f"warehouse/db_load_units/date={KEY}/instance=db-1/part-0.parquet",
        f"warehouse/db_load_units/date={KEY}/instance=db-2/part-0.parquet",
        f"warehouse/query_digest/date={KEY}/part-0.parquet",
        f"warehouse/query_digest_units/date={KEY}/instance=db-1/part-0.parquet",
        f"warehouse/query_digest_units/date={KEY}/instance=db-2/part-0.parquet",
        f"warehouse/slow_query_events/date={KEY}/instance=db-1/part-0.parquet",
        f"warehouse/slow_query_events/date={KEY}/instance=db-2/part-0.parquet",
    ]


@pytest.mark.integration
def test_same_partition_twice_gives_identical_opensearch_documents(data_root, opensearch_url):
    tag = f"rel-idem-{uuid.uuid4().hex[:8]}-"
    os_res = OpenSearchResource(hosts=[opensearch_url], index_prefix=f"{tag}digest-",
                                events_index_prefix=f"{tag}events-")
    client = os_res.get_client()
    index = f"{tag}digest-{DAY:%Y.%m.%d}"

    def documents() -> dict[str, dict]:
        client.indices.refresh(index=index)
        hits = client.search(index=index, body={"size": 10_000, "query": {"match_all": {}}})["hits"]["hits"]
        return {h["_id"]: h["_source"] for h in hits}

    assets = [*ingest_assets, query_digest, opensearch_digest]
    try:
        with RDSApiServer(FILES, max_portion_bytes=4096, throttle_every=6) as srv:
            r1 = run(srv, assets, opensearch=os_res)
            first = documents()
            r2 = run(srv, assets, opensearch=os_res)
            second = documents()
        n1 = materializations(r1, "opensearch_digest")[0].metadata["documents"].value
        n2 = materializations(r2, "opensearch_digest")[0].metadata["documents"].value
        assert n1 == n2 == len(first) == len(second) == client.count(index=index)["count"]
        assert json.dumps(second, sort_keys=True) == json.dumps(first, sort_keys=True)
        digest_rows = Warehouse().read_table("query_digest", DAY, DAY).num_rows
        assert sum(1 for d in second.values() if d["doc_type"] == "daily") == digest_rows
    finally:
        client.indices.delete(index=f"{tag}*", ignore_unavailable=True, expand_wildcards="all")
        for name in os_res.templates():
            client.indices.delete_index_template(name=name, ignore=[404])
