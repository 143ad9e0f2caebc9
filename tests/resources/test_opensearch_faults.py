"""``opensearch_digest`` under faults: a real OpenSearch node behind tests/support/faulty_proxy.py.

The warehouse day (ingest + digest of real slow logs) is built once per module; each test publishes
it through the proxy into its own index prefix and checks, on the node directly, that the index
holds exactly the documents of the digest: every deterministic id once, nothing else.
"""
from __future__ import annotations

import socket
import uuid
from types import SimpleNamespace

import dagster as dg
import pytest

from dagster_project.warehouse import Warehouse
from dagster_project.assets.digest import query_digest
from dagster_project.assets.ingest import ingest_assets
from dagster_project.assets.publish import opensearch_digest
from dagster_project.opensearch.documents import digest_documents, load_documents
from dagster_project.resources.aws import LocalLogSourceResource
from dagster_project.resources.opensearch import OpenSearchResource
from dagster_project.resources.warehouse import DataRootResource
from tests.support.dagster_results import event_log_text, failure_message, materializations
from tests.support.ingest import DAY, rds_log, rds_name
from tests.support.faulty_proxy import FaultyProxy

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_ambient_aws")]
KEY = DAY.isoformat()
PASSWORD = "fake-os-password-123"


@pytest.fixture(scope="module")
def published_day(tmp_path_factory):
    """A warehouse with one day of events and its digest (2 instances, real logs)."""
    src = tmp_path_factory.mktemp("os-src")
    for instance, hours in {"db-1": (1, 5, 9), "db-2": (2, 14)}.items():
        folder = src / instance / "slowquery"
        folder.mkdir(parents=True)
        for h in hours:
            (folder / rds_name(h).rsplit("/", 1)[1]).write_bytes(rds_log(h))
    root = tmp_path_factory.mktemp("os-data") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLOWLOG_DATA_ROOT", str(root))
        res = dg.materialize([*ingest_assets, query_digest], partition_key=KEY,
                             resources={"data_root": DataRootResource(), "log_source": LocalLogSourceResource(root=str(src), instances=["db-1", "db-2"])})
        assert res.success
    digest = Warehouse(str(root)).read_table("query_digest", DAY, DAY)
    load = Warehouse(str(root)).read_table("db_load", DAY, DAY)
    ids = {_id for _id, _ in digest_documents(digest, DAY)}
    daily = digest.num_rows
    assert daily > 20 and len(ids) > daily  # daily + hourly documents
    load_ids = {_id for _id, _ in load_documents(load, DAY)}
    assert load_ids and not load_ids & ids
    ids |= load_ids  # and the DB load series (doc_type db_load)
    return SimpleNamespace(root=root, ids=ids, daily=daily)


@pytest.fixture
def day(published_day, monkeypatch):
    monkeypatch.setenv("SLOWLOG_DATA_ROOT", str(published_day.root))
    return published_day


@pytest.fixture
def proxy(opensearch_url):
    with FaultyProxy(opensearch_url) as p:
        yield p


@pytest.fixture
def prefix(opensearch_url):
    tag = f"rel-{uuid.uuid4().hex[:8]}-"
    yield f"{tag}digest-"
    cleanup = OpenSearchResource(hosts=[opensearch_url], index_prefix=f"{tag}digest-", events_index_prefix=f"{tag}events-")
    client = cleanup.get_client()
    client.indices.delete(index=f"{tag}*", ignore_unavailable=True, expand_wildcards="all")
    for name in cleanup.templates():
        client.indices.delete_index_template(name=name, ignore=[404])


def resource(hosts, prefix, **kwargs) -> OpenSearchResource:
    args = dict(hosts=[hosts] if isinstance(hosts, str) else hosts, index_prefix=prefix,
                events_index_prefix=prefix.replace("-digest-", "-events-"), timeout_s=10)
    args.update(kwargs)
    return OpenSearchResource(**args)


def publish(os_resource: OpenSearchResource, instance=None) -> dg.ExecuteInProcessResult:
    return dg.materialize([opensearch_digest], resources={"opensearch": os_resource, "data_root": DataRootResource()}, partition_key=KEY,
                          raise_on_error=False, instance=instance)


def index_ids(opensearch_url: str, prefix: str) -> list[str]:
    """Every document id in the day's index, read from the node directly (not through the proxy)."""
    client = OpenSearchResource(hosts=[opensearch_url]).get_client()
    index = f"{prefix}{DAY:%Y.%m.%d}"
    client.indices.refresh(index=index, ignore_unavailable=True)
    if not client.indices.exists(index=index):
        return []
    hits = client.search(index=index, body={"size": 10_000, "_source": False, "query": {"match_all": {}}})
    return [h["_id"] for h in hits["hits"]["hits"]]


def assert_exact(opensearch_url: str, prefix: str, day) -> None:
    ids = index_ids(opensearch_url, prefix)
    assert len(ids) == len(set(ids)) == len(day.ids)  # nothing twice, nothing missing
    assert set(ids) == day.ids
    client = OpenSearchResource(hosts=[opensearch_url]).get_client()
    daily = client.count(index=f"{prefix}{DAY:%Y.%m.%d}", body={"query": {"term": {"doc_type": "daily"}}})["count"]
    assert daily == day.daily  # one daily document per digest row


def documents_metadata(result) -> int:
    [mat] = materializations(result, "opensearch_digest")
    return mat.metadata["documents"].value


# ---------------------------------------------------------------------------------- 429 / 503
@pytest.mark.parametrize("status", [429, 503])
def test_first_bulk_requests_refused_then_published_exactly(day, proxy, prefix, opensearch_url, status):
    proxy.fail(status, times=2)
    result = publish(resource(proxy.url, prefix, chunk_size=100))
    assert result.success, failure_message(result)
    assert proxy.count("/_bulk", f"failed:{status}") == 2
    assert documents_metadata(result) == len(day.ids)
    assert_exact(opensearch_url, prefix, day)


@pytest.mark.parametrize("status", [429, 503])
def test_bulk_refused_for_good_fails_clearly_then_rerun_is_exact(day, proxy, prefix, opensearch_url, status):
    proxy.fail(status, times=None)
    result = publish(resource(proxy.url, prefix))
    assert not result.success
    assert materializations(result, "opensearch_digest") == []  # nothing recorded as done
    message = failure_message(result)
    assert "OpenSearchPublishError" in message
    assert f"documents were rejected by OpenSearch at {proxy.url}" in message and f"] {status} " in message
    attempts = proxy.count("/_bulk", f"failed:{status}")
    assert 2 <= attempts <= 10  # retried, but bounded (today: helpers' 3 retries on 429, transport's 2 on 503)
    assert index_ids(opensearch_url, prefix) == []

    proxy.clear()
    again = publish(resource(proxy.url, prefix))
    assert again.success
    assert_exact(opensearch_url, prefix, day)


# --------------------------------------------------------------------------- connection faults
def test_connection_dropped_mid_bulk_fails_clearly_and_rerun_is_exact(day, proxy, prefix, opensearch_url):
    """Bulk 3 and later reach the node, then the connection is cut mid-response (the node indexed, the
    client never hears): the run fails clearly, nothing is recorded as published; the re-run ends
    with every document exactly once."""
    proxy.drop(times=None, skip=2, when="response")
    result = publish(resource(proxy.url, prefix, chunk_size=20))
    assert not result.success
    assert materializations(result, "opensearch_digest") == []
    message = failure_message(result)
    line = next(l for l in message.splitlines() if "OpenSearchUnreachableError" in l)
    assert f"OpenSearch at {proxy.url} is unreachable" in line
    assert proxy.count("/_bulk", "dropped:response") == 3  # the transport's 2 retries, then it gives up
    partial = index_ids(opensearch_url, prefix)
    assert 0 < len(partial) < len(day.ids)  # half published...

    proxy.clear()
    again = publish(resource(proxy.url, prefix, chunk_size=20))
    assert again.success
    assert documents_metadata(again) == len(day.ids)
    assert_exact(opensearch_url, prefix, day)  # ...and the re-run leaves no duplicate, no gap


@pytest.mark.parametrize("when", ["request", "response"])
def test_one_dropped_connection_is_retried_transparently(day, proxy, prefix, opensearch_url, when):
    proxy.drop(times=1, skip=1, when=when)
    result = publish(resource(proxy.url, prefix, chunk_size=50))
    assert result.success, failure_message(result)
    assert proxy.count("/_bulk", f"dropped:{when}") == 1
    assert_exact(opensearch_url, prefix, day)


def test_stalled_bulk_times_out_and_is_retried(day, proxy, prefix, opensearch_url):
    proxy.stall(3.0, times=1)
    result = publish(resource(proxy.url, prefix, timeout_s=1))
    assert result.success, failure_message(result)
    chunks = -(-len(day.ids) // 500)  # bulk requests of chunk_size 500
    assert proxy.count("/_bulk", "stalled") == 1 and proxy.count("/_bulk") == chunks + 1  # one retried
    assert_exact(opensearch_url, prefix, day)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_opensearch_down_is_one_clear_line_naming_the_host_without_password(day, prefix):
    port = _free_port()
    instance = dg.DagsterInstance.ephemeral()
    res = resource(f"http://publisher:{PASSWORD}@127.0.0.1:{port}", prefix, auth="basic", username="publisher",
                   password=PASSWORD, timeout_s=2, allow_insecure_credentials=True)
    result = publish(res, instance=instance)
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    error = failure.step_failure_data.error
    while error.cause is not None and "OpenSearch" not in error.message:
        error = error.cause
    message = error.message.strip()
    assert message == (f"dagster_project.resources.opensearch.OpenSearchUnreachableError: OpenSearch at "
                       f"http://127.0.0.1:{port} is unreachable: Connection refused")
    everything = event_log_text(result, instance)
    assert PASSWORD not in everything and f"publisher:{PASSWORD}" not in everything
