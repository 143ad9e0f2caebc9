"""The whole ingest -> events -> digest flow with the data root on S3 (moto server, real HTTP)."""
from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import boto3
import dagster as dg

from dagster_project import analysis
from dagster_project.assets.digest import query_digest
from dagster_project.assets.ingest import ingest_assets, slow_query_events_checks
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.warehouse import Warehouse

DAY = "2026-03-20"
from tests.support.corpus import CORPUS  # noqa: E402
from tests.support.dagster_results import materializations

CORPUS_LOG = CORPUS / "percona/slowlogs/slow053.txt"
GZ_EVENTS = 10  # events in slow053.txt
ASSETS = [*ingest_assets, slow_query_events_checks, query_digest]


def test_flow_on_s3(source_tree, days, relocate, s3_data_root):
    tree = source_tree(days(DAY, 1), ["db-1", "db-2"], files_per_day=2, seed=5)
    # plus a gzip-compressed rotated file: stored as is, parsed through the gzip magic bytes
    gz = tree.add_file("db-1", dt.date(2026, 3, 20), 23, gzip.compress(relocate(CORPUS_LOG.read_bytes(), dt.date(2026, 3, 20), 23)))
    gz = gz.rename(gz.with_name(gz.name + ".gz"))
    tree.files[(dt.date(2026, 3, 20), "db-1")][-1] = gz
    result = dg.materialize(ASSETS, resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key=DAY)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    n = materializations(result, "slow_query_events")[0].metadata["events"].value
    assert n > 0

    bucket, prefix = s3_data_root[5:].split("/", 1)
    s3 = boto3.client("s3")
    for src in tree.paths(instance="db-2"):
        body = s3.get_object(Bucket=bucket, Key=f"{prefix}/raw/date={DAY}/instance=db-2/{src.name}")["Body"].read()
        assert body == src.read_bytes()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert not [k for k in keys if "/_tmp-" in k or "/.staging" in k]

    assert len(analysis.load_events(DAY, DAY)) == n
    assert analysis.load_digest(DAY, DAY)["count"].sum() == n
    manifest = Warehouse().read_manifest("slow_query_events", DAY, "db-1")
    assert manifest["files"] == 3
    gz_stats = next(f for f in manifest["per_file"] if f["file"].endswith(".gz"))
    assert gz_stats["events"] == GZ_EVENTS and gz_stats["rejected"] == 0
    raw_gz = s3.get_object(Bucket=bucket, Key=f"{prefix}/raw/date={DAY}/instance=db-1/{gz.name}")["Body"].read()
    assert raw_gz == gz.read_bytes()

    again = dg.materialize(ASSETS, resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key=DAY)
    assert again.success
    assert len(analysis.load_events(DAY, DAY)) == n
    assert len(Warehouse().partition_files("slow_query_events", DAY, DAY)) == 2
