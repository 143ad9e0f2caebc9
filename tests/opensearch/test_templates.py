"""The index templates (dagster_project/opensearch/templates.py), without a node.

The templates map ``dynamic: strict``, so a warehouse column that is published but not mapped
would have every document rejected by the cluster; these tests tie the mappings to the schemas
the warehouse defines (EVENT_SCHEMA, DIGEST_SCHEMA, DB_LOAD_SCHEMA).
"""
from __future__ import annotations

import copy
import datetime as dt
import fnmatch
import hashlib
import json

import pyarrow as pa
import pytest

from dagster_project.opensearch.templates import (
    LOAD_PROPERTIES,
    TEMPLATE_PRIORITY,
    digest_template,
    events_template,
    index_settings,
    index_templates,
    template_name,
    with_content_hash,
)
from dagster_project.resources.opensearch import OpenSearchResource
from dagster_project.slowlog.digest import DIGEST_SCHEMA, SKETCH_COLUMNS
from dagster_project.slowlog.events import EVENT_SCHEMA
from dagster_project.slowlog.load import DB_LOAD_SCHEMA

# Columns of the warehouse that are deliberately not fields of a document (each for a reason), so
# that a column added to a schema fails these tests until someone decides how it is indexed.
DIGEST_NOT_INDEXED = {
    *SKETCH_COLUMNS,  # mergeable sketches: warehouse-only, the quantiles are published instead
    "example_redacted",  # published as "example"
    "hourly",  # becomes the doc_type "hourly" documents
    "lock_time_missing", "rows_sent_missing", "rows_examined_missing",  # only query_time's is shown
}
EVENT_NOT_INDEXED = {"thread_id", "rows_affected", "bytes_sent", "extra", "extra_text", "source_length"}
# event column -> legacy field name of the seed system (its Kibana dashboards use these)
EVENT_FIELD_NAMES = {"ts": "@timestamp", "ip": "IP", "query": "Query", "query_time": "Query_time",
                     "lock_time": "Lock_time", "rows_sent": "Rows_sent", "rows_examined": "Rows_examined"}
DB_LOAD_FIELD_NAMES = {"minute": "@timestamp"}
TEXT_COLUMNS = {"fingerprint", "example", "query"}  # searched by words; everything else is exact


def _properties(body: dict) -> dict:
    return body["template"]["mappings"]["properties"]


def _expected_type(column: str, arrow_type: pa.DataType) -> str:
    if column in TEXT_COLUMNS:
        return "text"
    if pa.types.is_string(arrow_type) or pa.types.is_date(arrow_type):
        return "keyword"  # the digest's "date" is the partition key (YYYY-MM-DD), filtered by term
    if pa.types.is_timestamp(arrow_type):
        return "date"
    if pa.types.is_floating(arrow_type):
        return "double"
    if pa.types.is_int32(arrow_type):
        return "integer"
    if pa.types.is_integer(arrow_type):
        return "long"
    raise AssertionError(f"no expected mapping for {column}: {arrow_type}")


def _check_schema_mapped(schema: pa.Schema, properties: dict, not_indexed: set, names: dict) -> None:
    for field in schema:
        if field.name in not_indexed:
            assert names.get(field.name, field.name) not in properties, field.name
            continue
        name = names.get(field.name, field.name)
        assert name in properties, f"{field.name} is published but not mapped (strict mapping rejects it)"
        assert properties[name]["type"] == _expected_type(field.name, field.type), field.name


def test_every_indexed_digest_column_is_mapped_with_its_type():
    props = _properties(digest_template("slowlog-digest-"))
    _check_schema_mapped(DIGEST_SCHEMA, props, DIGEST_NOT_INDEXED, {})
    # the fields a digest document adds to the warehouse columns
    assert props["@timestamp"] == {"type": "date"}
    assert props["doc_type"]["type"] == "keyword"
    assert props["hour"] == {"type": "integer"}


def test_every_indexed_event_column_is_mapped_with_its_legacy_name():
    props = _properties(events_template("slowlog-events-"))
    _check_schema_mapped(EVENT_SCHEMA, props, EVENT_NOT_INDEXED, EVENT_FIELD_NAMES)
    # nothing but the published event columns: the raw-event index is the seed system's layout
    published = {EVENT_FIELD_NAMES.get(n, n) for n in EVENT_SCHEMA.names if n not in EVENT_NOT_INDEXED}
    assert set(props) == published
    assert props["IP"] == {"type": "keyword", "ignore_above": 64}


def test_the_db_load_series_is_mapped_in_the_digest_index():
    props = _properties(digest_template("slowlog-digest-"))
    _check_schema_mapped(DB_LOAD_SCHEMA, props, set(), DB_LOAD_FIELD_NAMES)
    assert LOAD_PROPERTIES.items() <= props.items()  # what the resource adds to an older day index


@pytest.mark.parametrize("template", [digest_template, events_template])
def test_keywords_are_exact_and_text_is_also_aggregatable_whole(template):
    body = template("p-")
    props = _properties(body)
    assert body["template"]["mappings"]["dynamic"] == "strict"
    keywords = {k for k, v in props.items() if v["type"] == "keyword"}
    assert {"instance", "engine", "checksum", "db", "user", "host"} <= keywords
    assert all(props[k]["ignore_above"] in (64, 1024) for k in keywords)
    # fingerprint: full-text search, and terms aggregations on the whole normalized query
    assert props["fingerprint"] == {"type": "text",
                                    "fields": {"keyword": {"type": "keyword", "ignore_above": 8191}}}
    text = {k for k, v in props.items() if v["type"] == "text"}
    assert text == ({"fingerprint", "example"} if template is digest_template else {"fingerprint", "Query"})


def test_patterns_priority_and_meta():
    res = OpenSearchResource(index_prefix="acme-digest-", events_index_prefix="acme-events-")
    bodies = res.templates()
    assert set(bodies) == {"acme-digest", "acme-events"}
    day = dt.date(2026, 11, 24)
    [digest_pattern] = bodies["acme-digest"]["index_patterns"]
    [events_pattern] = bodies["acme-events"]["index_patterns"]
    assert fnmatch.fnmatch(res.digest_index(day), digest_pattern) and fnmatch.fnmatch(res.events_index(day), events_pattern)
    assert not fnmatch.fnmatch(res.events_index(day), digest_pattern)
    for kind, body in (("digest", bodies["acme-digest"]), ("events", bodies["acme-events"])):
        assert body["priority"] == TEMPLATE_PRIORITY
        assert body["_meta"]["managed_by"] == "slowlog-pipeline" and body["_meta"]["kind"] == kind


def test_template_names_from_prefixes():
    assert template_name("slowlog-digest-") == "slowlog-digest"
    assert template_name("logs.slow_*") == "logs.slow"
    assert template_name("-*") == "slowlog"  # a prefix of separators only still gives a valid name


def test_settings_and_serverless():
    assert index_settings(0, 1) == {"number_of_shards": 1, "number_of_replicas": 0}
    assert index_settings(None, None) == {}
    managed = OpenSearchResource(number_of_replicas=2, number_of_shards=3).templates()
    assert all(b["template"]["settings"] == {"number_of_shards": 3, "number_of_replicas": 2} for b in managed.values())
    # Amazon OpenSearch Serverless rejects shard / replica settings
    serverless = OpenSearchResource(auth="sigv4", aws_service="aoss", aws_region="eu-west-1").templates()
    assert all(b["template"]["settings"] == {} for b in serverless.values())
    # the managed Service ("es"), signed too, keeps them
    signed = OpenSearchResource(auth="sigv4", aws_service="es", aws_region="eu-west-1").templates()
    assert all(b["template"]["settings"] == {"number_of_shards": 1, "number_of_replicas": 0} for b in signed.values())


def test_content_hash_is_stable_and_follows_the_body():
    first = index_templates("slowlog-digest-", "slowlog-events-", 0, 1)
    again = index_templates("slowlog-digest-", "slowlog-events-", 0, 1)
    assert first == again
    hashes = {name: body["_meta"]["hash"] for name, body in first.items()}
    assert all(len(h) == 40 for h in hashes.values()) and len(set(hashes.values())) == 2
    # the resource installs exactly these (what ensure_templates compares against the cluster's)
    assert OpenSearchResource().templates() == first

    body = digest_template("slowlog-digest-")
    original = copy.deepcopy(body)
    hashed = with_content_hash(body)
    assert body == original  # the input is not modified
    assert {k: v for k, v in hashed["_meta"].items() if k != "hash"} == original["_meta"]
    # sha1 of the canonical JSON of the body without the hash: the templates already installed on
    # clusters carry hashes computed this way, a different definition would re-install them all
    canonical = json.dumps(original, sort_keys=True).encode()
    assert hashed["_meta"]["hash"] == hashlib.sha1(canonical).hexdigest()
    # key order is not content: the hash of a reordered body is the same
    reordered = dict(reversed(list(body.items())))
    reordered["template"] = dict(reversed(list(body["template"].items())))
    assert with_content_hash(reordered)["_meta"]["hash"] == hashed["_meta"]["hash"]

    changed = copy.deepcopy(body)
    _properties(changed)["new_field"] = {"type": "keyword"}
    assert with_content_hash(changed)["_meta"]["hash"] != hashed["_meta"]["hash"]
    other_settings = with_content_hash(digest_template("slowlog-digest-", replicas=1))
    assert other_settings["_meta"]["hash"] != hashed["_meta"]["hash"]
    other_prefix = with_content_hash(digest_template("acme-"))
    assert other_prefix["_meta"]["hash"] != hashed["_meta"]["hash"]
