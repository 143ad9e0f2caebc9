"""OpenSearchResource against a real single-node OpenSearch (``opensearch_url`` in tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import uuid

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest

from dagster_project.resources.opensearch import (
    OpenSearchPublishError,
    OpenSearchResource,
    OpenSearchUnreachableError,
)
from tests.support.dagster_results import materializations

pytestmark = pytest.mark.integration

DAY1 = dt.date(2026, 11, 23)
DAY2 = dt.date(2026, 11, 24)
UTC = dt.timezone.utc
SECRET = "s3cr3t-Pa55-do-not-leak"


def _checksum(fingerprint: str) -> str:
    return hashlib.md5(fingerprint.encode()).hexdigest().upper()


def digest_row(day, instance, fingerprint, example, count, qt_sum, *, rows_examined_sum=None, hourly=()):
    """One `query_digest` row (Digest.to_table's flat columns) with self-consistent statistics."""
    avg = qt_sum / count
    row = {
        "date": day,
        "instance": instance,
        "engine": "mysql",
        "checksum": _checksum(fingerprint),
        "fingerprint": fingerprint,
        "count": count,
        "first_seen": dt.datetime.combine(day, dt.time(0, 3, 12), UTC),
        "last_seen": dt.datetime.combine(day, dt.time(23, 41, 5), UTC),
        "example": example,
        "db": "shop",
        "user": "app",
        "host": "10.0.3.17",
        "hourly": [dict(h) for h in hourly],
    }
    for metric, total in (
        ("query_time", qt_sum),
        ("lock_time", qt_sum / 200),
        ("rows_sent", float(count * 3)),
        ("rows_examined", float(rows_examined_sum if rows_examined_sum is not None else count * 1200)),
    ):
        mean = total / count
        row.update({
            f"{metric}_sum": total, f"{metric}_min": mean / 4, f"{metric}_max": mean * 6,
            f"{metric}_avg": mean, f"{metric}_p50": mean * 0.8, f"{metric}_p95": mean * 3.1,
            f"{metric}_p99": mean * 5.2, f"{metric}_stddev": mean * 0.9,
        })
    row["query_time_avg"] = avg
    return row


def day1_rows():
    return [
        digest_row(DAY1, "db-1", "select * from orders where customer_id = ?",
                   "SELECT * FROM orders WHERE customer_id = 48213", 1200, 840.5,
                   hourly=[{"hour": 3, "count": 700, "query_time_sum": 500.0, "query_time_p95": 1.9},
                           {"hour": 4, "count": 500, "query_time_sum": 340.5, "query_time_p95": 1.7}]),
        digest_row(DAY1, "db-1", "update carts set total = ? where id = ?",
                   "UPDATE carts SET total = 19.99 WHERE id = 77", 310, 95.25,
                   hourly=[{"hour": 3, "count": 310, "query_time_sum": 95.25, "query_time_p95": 0.8}]),
        digest_row(DAY1, "db-1", "select count(*) from events where ts > ?",
                   "select count(*) from events where ts > '2026-11-22 00:00:00'", 12, 1710.0),
        digest_row(DAY1, "db-2", "select * from orders where customer_id = ?",
                   "SELECT * FROM orders WHERE customer_id = 99", 80, 33.0,
                   hourly=[{"hour": 10, "count": 80, "query_time_sum": 33.0, "query_time_p95": 0.9}]),
    ]


def day2_rows():
    return [
        digest_row(DAY2, "db-1", "select * from orders where customer_id = ?",
                   "SELECT * FROM orders WHERE customer_id = 5", 900, 410.0),
        digest_row(DAY2, "db-2", "delete from sessions where expires < ?",
                   "DELETE FROM sessions WHERE expires < 1764000000", 44, 61.5),
    ]


@pytest.fixture
def osr(opensearch_url):
    tag = uuid.uuid4().hex[:8]
    res = OpenSearchResource(
        hosts=[opensearch_url],
        index_prefix=f"test-digest-{tag}-",
        events_index_prefix=f"test-events-{tag}-",
    )
    yield res
    client = res.get_client()
    client.indices.delete(index=f"test-*-{tag}-*", ignore_unavailable=True, expand_wildcards="all")
    for name in res.templates():
        client.indices.delete_index_template(name=name, ignore=[404])


def count(res, index, **term):
    query = {"term": term} if term else {"match_all": {}}
    return res.get_client().count(index=index, body={"query": query})["count"]


def test_templates_install_idempotently(osr):
    first = osr.ensure_templates()
    assert sorted(first.values()) == ["created", "created"]
    assert osr.ensure_templates() == {name: "unchanged" for name in first}

    client = osr.get_client()
    name = osr.index_prefix.strip("-")
    tpl = client.indices.get_index_template(name=name)["index_templates"][0]["index_template"]
    assert tpl["index_patterns"] == [f"{osr.index_prefix}*"]
    props = tpl["template"]["mappings"]["properties"]
    assert props["checksum"]["type"] == "keyword"
    assert props["fingerprint"]["type"] == "text" and props["fingerprint"]["fields"]["keyword"]["type"] == "keyword"
    assert props["query_time_p95"]["type"] == "double" and props["count"]["type"] == "long"
    assert props["@timestamp"]["type"] == "date" and props["hour"]["type"] == "integer"

    events = client.indices.get_index_template(name=osr.events_index_prefix.strip("-"))
    eprops = events["index_templates"][0]["index_template"]["template"]["mappings"]["properties"]
    for field in ("user", "host", "IP", "Query_time", "Lock_time", "Rows_sent", "Rows_examined", "Query",
                  "@timestamp", "instance", "checksum", "fingerprint"):
        assert field in eprops

    # a changed template (other replica count) is updated, not duplicated
    other = OpenSearchResource(hosts=osr.hosts, index_prefix=osr.index_prefix,
                               events_index_prefix=osr.events_index_prefix, number_of_replicas=1)
    assert set(other.ensure_templates().values()) == {"updated"}
    assert set(osr.ensure_templates().values()) == {"updated"}


def test_publish_two_days_exact_counts_and_idempotent(osr):
    r1 = osr.publish_digest(pd.DataFrame(day1_rows()), DAY1)
    r2 = osr.publish_digest(day2_rows(), DAY2)
    idx1, idx2 = osr.digest_index(DAY1), osr.digest_index(DAY2)
    assert r1 == {"index": idx1, "documents": 8, "daily": 4, "hourly": 4, "db_load": 0, "failed": 0, "deleted": 0}
    assert r2 == {"index": idx2, "documents": 2, "daily": 2, "hourly": 0, "db_load": 0, "failed": 0, "deleted": 0}
    assert idx1 == f"{osr.index_prefix}2026.11.23"
    assert (count(osr, idx1), count(osr, idx1, doc_type="daily"), count(osr, idx2)) == (8, 4, 2)

    # the index got the template: 1 shard, 0 replicas, strict mapping
    settings = osr.get_client().indices.get_settings(index=idx1)[idx1]["settings"]["index"]
    assert (settings["number_of_shards"], settings["number_of_replicas"]) == ("1", "0")
    health = osr.get_client().cluster.health(index=idx1)
    assert health["status"] == "green"

    # re-publish: same ids, same counts
    assert osr.publish_digest(day1_rows(), DAY1)["documents"] == 8
    assert osr.publish_digest(pd.DataFrame(day2_rows()), DAY2)["documents"] == 2
    assert (count(osr, idx1), count(osr, idx2)) == (8, 2)

    # deterministic ids: sha1(instance|date|checksum[|hour])
    row = day1_rows()[0]
    _id = hashlib.sha1(f"db-1|2026-11-23|{row['checksum']}".encode()).hexdigest()
    doc = osr.get_client().get(index=idx1, id=_id)["_source"]
    assert doc["count"] == 1200 and doc["query_time_sum"] == 840.5 and doc["doc_type"] == "daily"
    assert doc["@timestamp"].startswith("2026-11-23T00:00:00")
    assert doc["first_seen"].startswith("2026-11-23T00:03:12")
    hour_id = hashlib.sha1(f"db-1|2026-11-23|{row['checksum']}|4".encode()).hexdigest()
    hdoc = osr.get_client().get(index=idx1, id=hour_id)["_source"]
    assert (hdoc["hour"], hdoc["count"], hdoc["doc_type"]) == (4, 500, "hourly")
    assert hdoc["@timestamp"].startswith("2026-11-23T04:00:00")

    # a class that vanished from a re-published (day, instance) is removed with its hourly docs
    res = osr.publish_digest(day1_rows()[1:], DAY1)
    assert res["deleted"] == 3
    assert (count(osr, idx1), count(osr, idx1, doc_type="daily")) == (5, 3)


def test_example_is_redacted_unless_asked(osr):
    rows = day1_rows()[:1]
    osr.publish_digest(rows, DAY1)
    idx = osr.digest_index(DAY1)
    _id = hashlib.sha1(f"db-1|2026-11-23|{rows[0]['checksum']}".encode()).hexdigest()
    example = osr.get_client().get(index=idx, id=_id)["_source"]["example"]
    assert "48213" not in example and "?" in example

    rows[0]["example_redacted"] = "SELECT * FROM orders WHERE customer_id = ?"
    osr.publish_digest(rows, DAY1)
    assert osr.get_client().get(index=idx, id=_id)["_source"]["example"] == rows[0]["example_redacted"]

    osr.publish_digest(rows, DAY1, redact=False)
    assert osr.get_client().get(index=idx, id=_id)["_source"]["example"].endswith("= 48213")


def test_top_classes_by_total_query_time(osr):
    osr.publish_digest(day1_rows(), DAY1)
    osr.publish_digest(day2_rows(), DAY2)
    body = {
        "size": 0,
        "query": {"term": {"doc_type": "daily"}},  # hourly docs would count twice
        "aggs": {"top": {"terms": {"field": "checksum", "size": 10, "order": {"qt": "desc"}},
                         "aggs": {"qt": {"sum": {"field": "query_time_sum"}},
                                  "fp": {"terms": {"field": "fingerprint.keyword", "size": 1}}}}},
    }
    res = osr.get_client().search(index=f"{osr.index_prefix}*", body=body)
    got = [(b["fp"]["buckets"][0]["key"], round(b["qt"]["value"], 2)) for b in res["aggregations"]["top"]["buckets"]]
    assert got == [
        ("select count(*) from events where ts > ?", 1710.0),
        ("select * from orders where customer_id = ?", 1283.5),  # 840.5 + 33.0 + 410.0, two instances
        ("update carts set total = ? where id = ?", 95.25),
        ("delete from sessions where expires < ?", 61.5),
    ]


def test_digest_table_from_the_core(osr):
    """The real Digest.to_table output (pyarrow, hourly list<struct>) publishes as is."""
    from dagster_project.slowlog.digest import Digest
    from dagster_project.slowlog.events import EVENT_SCHEMA

    events = [
        {"ts": dt.datetime(2026, 11, 24, 3 + i % 3, 10, i, tzinfo=UTC), "instance": "db-1", "engine": "mysql",
         "user": "app", "host": "app-7", "ip": "10.0.3.17", "db": "shop", "query_time": 0.25 * (i + 1),
         "lock_time": 0.0001, "rows_sent": 1, "rows_examined": 1000 + i,
         "checksum": _checksum("select * from t where id = ?") if i % 2 else _checksum("select ?"),
         "fingerprint": "select * from t where id = ?" if i % 2 else "select ?",
         "query": f"select * from t where id = {i}" if i % 2 else "select 1",
         "source_file": "mysql-slowquery.log", "source_offset": 200 * i, "source_length": 200}
        for i in range(12)
    ]
    digest = Digest(group_by=("instance", "checksum"), hourly=True)
    digest.add(pa.RecordBatch.from_pylist(events, schema=EVENT_SCHEMA))
    table = digest.to_table(DAY2)
    res = osr.publish_digest(table, DAY2)
    assert (res["daily"], res["hourly"]) == (2, 6)
    assert count(osr, osr.digest_index(DAY2)) == 8


def test_bulk_rejection_raises_with_reason(osr):
    rows = day2_rows()
    rows[1]["query_time_sum"] = "not-a-number"
    with pytest.raises(OpenSearchPublishError) as err:
        osr.publish_digest(rows, DAY2)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("1 of 2 digest documents were rejected")
    assert "mapper_parsing_exception" in msg and "query_time_sum" in msg
    assert len(err.value.failures) == 1 and err.value.failures[0]["status"] == 400
    assert count(osr, osr.digest_index(DAY2)) == 1  # the good document is in

    # strict mapping: an unknown field is rejected too (no silent dynamic mapping)
    bad = {"_index": osr.digest_index(DAY2), "_id": "x", "_source": {"checksum": "X", "surprise": 1}}
    ok, failures = osr._bulk([bad])
    assert ok == 0 and "strict_dynamic_mapping_exception" in failures[0]["reason"]


def test_rejection_error_never_shows_the_password(opensearch_url):
    # the test node has no security plugin: it ignores the Authorization header
    tag = uuid.uuid4().hex[:8]
    res = OpenSearchResource(hosts=[opensearch_url], auth="basic", username="publisher", password=SECRET,
                             allow_insecure_credentials=True,  # the test node speaks plain http
                             index_prefix=f"test-digest-{tag}-", events_index_prefix=f"test-events-{tag}-")
    try:
        rows = day2_rows()
        rows[0]["count"] = SECRET  # even a document carrying the secret does not leak it
        with pytest.raises(OpenSearchPublishError) as err:
            res.publish_digest(rows, DAY2)
        assert SECRET not in str(err.value) and SECRET not in repr(err.value)
        assert SECRET not in repr(err.value.failures)
        assert SECRET not in repr(res) and SECRET not in str(res)
    finally:
        client = res.get_client()
        client.indices.delete(index=f"test-*-{tag}-*", ignore_unavailable=True, expand_wildcards="all")
        for name in res.templates():
            client.indices.delete_index_template(name=name, ignore=[404])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_host_is_one_clear_line_without_credentials():
    port = _free_port()
    res = OpenSearchResource(hosts=[f"http://admin:{SECRET}@127.0.0.1:{port}"], auth="basic",
                             username="admin", password=SECRET, timeout_s=3, allow_insecure_credentials=True)
    for call in (res.ensure_templates, lambda: res.publish_digest(day2_rows(), DAY2), res.ping):
        with pytest.raises(OpenSearchUnreachableError) as err:
            call()
        msg = str(err.value)
        assert msg.startswith(f"OpenSearch at http://127.0.0.1:{port} is unreachable: ")
        assert "Connection refused" in msg and "\n" not in msg
        assert SECRET not in msg and SECRET not in repr(err.value)
        assert err.value.__cause__ is None and err.value.__suppress_context__
    assert SECRET not in repr(res)


def test_publish_raw_events_with_legacy_field_names(osr):
    from dagster_project.slowlog.events import EVENT_SCHEMA

    events = [
        {"ts": dt.datetime(2026, 11, 23, 23, 59, 58, tzinfo=UTC), "instance": "db-1", "engine": "mysql",
         "user": "app", "host": "app-7", "ip": "10.0.3.17", "db": "shop", "query_time": 2.5, "lock_time": 0.01,
         "rows_sent": 1, "rows_examined": 48000, "checksum": _checksum("select * from users where email = ?"),
         "fingerprint": "select * from users where email = ?",
         "query": "SELECT * FROM users WHERE email = 'alice@example.com'",
         "source_file": "mysql-slowquery.log.2026-11-23.23", "source_offset": 0, "source_length": 310},
        {"ts": dt.datetime(2026, 11, 24, 0, 0, 3, tzinfo=UTC), "instance": "db-1", "engine": "mysql",
         "user": "batch", "host": "cron-1", "ip": "10.0.9.2", "db": "shop", "query_time": 12.0, "lock_time": 0.0,
         "rows_sent": 0, "rows_examined": 9100000, "checksum": _checksum("delete from sessions where expires < ?"),
         "fingerprint": "delete from sessions where expires < ?",
         "query": "DELETE FROM sessions WHERE expires < 1764000000",
         "source_file": "mysql-slowquery.log.2026-11-24.00", "source_offset": 0, "source_length": 250},
    ]
    batch = pa.RecordBatch.from_pylist(events, schema=EVENT_SCHEMA)
    res = osr.publish_events([batch])
    assert res == {"indices": [osr.events_index(DAY1), osr.events_index(DAY2)], "documents": 2, "failed": 0}
    assert osr.publish_events(pa.Table.from_batches([batch]))["documents"] == 2  # idempotent ids
    assert count(osr, f"{osr.events_index_prefix}*") == 2

    hits = osr.get_client().search(index=osr.events_index(DAY1), body={"query": {"match_all": {}}})["hits"]["hits"]
    src = hits[0]["_source"]
    _id = hashlib.sha1(b"db-1|mysql-slowquery.log.2026-11-23.23|0").hexdigest()
    assert hits[0]["_id"] == _id
    assert (src["user"], src["host"], src["IP"], src["Query_time"], src["Rows_examined"]) == (
        "app", "app-7", "10.0.3.17", 2.5, 48000)
    assert "alice" not in src["Query"] and src["Query"].startswith("SELECT * FROM users WHERE email = ")
    assert src["@timestamp"].startswith("2026-11-23T23:59:58")


def test_resource_in_a_dagster_run_with_env_password(opensearch_url, monkeypatch):
    monkeypatch.setenv("TEST_OPENSEARCH_PASSWORD", SECRET)
    tag = uuid.uuid4().hex[:8]

    @dg.asset
    def published(opensearch: OpenSearchResource) -> dg.MaterializeResult:
        res = opensearch.publish_digest(day2_rows(), DAY2)
        return dg.MaterializeResult(metadata={"documents": res["documents"], "index": res["index"]})

    resource = OpenSearchResource(hosts=[opensearch_url], auth="basic", username="u",
                                  password=dg.EnvVar("TEST_OPENSEARCH_PASSWORD"), allow_insecure_credentials=True,
                                  index_prefix=f"test-digest-{tag}-", events_index_prefix=f"test-events-{tag}-")
    result = dg.materialize([published], resources={"opensearch": resource})
    try:
        assert result.success
        mat = materializations(result, "published")[0]
        assert mat.metadata["documents"].value == 2
    finally:
        cleanup = OpenSearchResource(hosts=[opensearch_url], index_prefix=f"test-digest-{tag}-",
                                     events_index_prefix=f"test-events-{tag}-")
        client = cleanup.get_client()
        client.indices.delete(index=f"test-*-{tag}-*", ignore_unavailable=True, expand_wildcards="all")
        for name in cleanup.templates():
            client.indices.delete_index_template(name=name, ignore=[404])
