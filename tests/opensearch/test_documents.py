"""Warehouse rows -> OpenSearch documents (dagster_project/opensearch/documents.py), without a node.

Real batches: two logs of the shared corpus (a MySQL 5.5 slow log, a pgbench PostgreSQL log full of
literals) parsed with dagster_project.slowlog, digested as the query_digest asset does.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from dagster_project.opensearch.documents import _plain, digest_documents, event_documents, load_documents
from dagster_project.opensearch.templates import digest_template, events_template
from dagster_project.slowlog.digest import Digest
from dagster_project.slowlog.events import EVENT_SCHEMA
from dagster_project.slowlog.load import LoadSeries
from dagster_project.slowlog.parse import parse_log
from dagster_project.slowlog.redact import redact_query

UTC = dt.timezone.utc
GROUP_BY = ("instance", "checksum")  # as the query_digest asset
# (corpus path, instance, UTC day of all its events)
LOGS = {
    "mysql": ("filebeat/mysql-slowlog/mysql-ubuntu-5.5.53.log", "orders-db", dt.date(2016, 12, 9)),
    "postgres": ("pgbadger/fixtures/light.postgres.log.bz2", "reports-pg", dt.date(2017, 9, 6)),
}
# literals of the raw queries that must never reach OpenSearch when redacting
LITERAL = re.compile(r"'[^']*'|\b\d{3,}\b")


@pytest.fixture(scope="module", params=sorted(LOGS))
def log(request, corpus):
    path, instance, day = LOGS[request.param]
    events = parse_log(corpus / path, instance=instance).read_all()
    digest = Digest(group_by=GROUP_BY, hourly=True)
    digest.add(events)
    load = LoadSeries()
    load.add(events)
    return {"events": events, "digest": digest.to_table(day), "load": load.to_table(day), "day": day,
            "path": corpus / path, "instance": instance}


def _sha1(*parts) -> str:
    return hashlib.sha1("|".join("" if p is None else str(p) for p in parts).encode()).hexdigest()


def _matches_mapping(value, mapping: dict) -> bool:
    """Whether OpenSearch would accept ``value`` for a field of this mapping (None: field absent)."""
    if value is None:
        return True
    kind = mapping["type"]
    if kind in ("keyword", "text"):
        return isinstance(value, str)
    if kind == "double":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind in ("long", "integer"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "date":
        return isinstance(value, str) and dt.datetime.fromisoformat(value) is not None
    raise AssertionError(kind)


def _check_against_template(docs, template: dict) -> None:
    props = template["template"]["mappings"]["properties"]
    for doc in docs:
        json.dumps(doc, allow_nan=False)  # plain JSON: no NaN, numpy or Arrow values left
        unmapped = set(doc) - set(props)
        assert not unmapped, f"strict mapping would reject {unmapped}"
        bad = {k: v for k, v in doc.items() if not _matches_mapping(v, props[k])}
        assert not bad, bad


def test_documents_are_plain_json_the_templates_accept(log):
    digest = list(digest_documents(log["digest"], log["day"]))
    load = list(load_documents(log["load"], log["day"]))
    events = list(event_documents(log["events"]))
    assert digest and load and len(events) == log["events"].num_rows
    _check_against_template([d for _, d in digest + load], digest_template("slowlog-digest-"))
    _check_against_template([d for _, _, d in events], events_template("slowlog-events-"))


def test_every_input_shape_gives_the_same_documents(log):
    table, day = log["digest"], log["day"]
    from_arrow = list(digest_documents(table, day))
    assert list(digest_documents(table.to_pandas(), day)) == from_arrow  # NaN / numpy / Timestamp values
    assert list(digest_documents(table.to_batches(max_chunksize=3), day)) == from_arrow
    assert list(digest_documents(table.to_pylist(), day)) == from_arrow
    events = log["events"]
    assert list(event_documents(events.to_pandas())) == list(event_documents(events))


def test_digest_documents_one_daily_per_class_and_one_per_hour(log):
    table, day = log["digest"], log["day"]
    docs = list(digest_documents(table, day))
    daily = [d for _, d in docs if d["doc_type"] == "daily"]
    hourly = [d for _, d in docs if d["doc_type"] == "hourly"]
    rows = table.to_pylist()
    assert len(daily) == len(rows)
    assert len(hourly) == sum(len(r["hourly"]) for r in rows)
    for row, doc in zip(rows, daily):
        assert doc["checksum"] == row["checksum"] and doc["count"] == row["count"]
        assert doc["query_time_sum"] == row["query_time_sum"] and doc["query_time_missing"] == row["query_time_missing"]
        assert doc["first_seen"] == row["first_seen"].isoformat()
        per_hour = [h for h in hourly if h["checksum"] == row["checksum"]]
        assert sum(h["count"] for h in per_hour) == row["count"]
        assert sum(h["query_time_sum"] for h in per_hour) == pytest.approx(row["query_time_sum"])
    # the day field: every document of the day carries it; @timestamp is the day's (or hour's) start
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert {d["date"] for _, d in docs} == {day.isoformat()}
    assert {d["@timestamp"] for d in daily} == {midnight.isoformat()}
    assert all(h["@timestamp"] == (midnight + dt.timedelta(hours=h["hour"])).isoformat() for h in hourly)
    assert all(h["instance"] == log["instance"] for h in hourly)


def test_ids_are_deterministic_and_idempotent_across_reruns(log):
    day = log["day"]
    docs = list(digest_documents(log["digest"], day)) + list(load_documents(log["load"], day))
    assert len({i for i, _ in docs}) == len(docs)
    # a re-run from a fresh parse of the same file (what a re-materialization does) has the same ids
    again = parse_log(log["path"], instance=log["instance"]).read_all()
    digest = Digest(group_by=GROUP_BY, hourly=True)
    digest.add(again)
    load = LoadSeries()
    load.add(again)
    assert list(digest_documents(digest.to_table(day), day)) + list(load_documents(load.to_table(day), day)) == docs
    for _id, doc in docs:
        if doc["doc_type"] == "daily":
            assert _id == _sha1(doc["instance"], doc["date"], doc["checksum"])
        elif doc["doc_type"] == "hourly":
            assert _id == _sha1(doc["instance"], doc["date"], doc["checksum"], doc["hour"])
        else:
            assert _id == _sha1(doc["instance"], doc["date"], "load", doc["@timestamp"], doc["checksum"])

    events = list(event_documents(log["events"]))
    assert len({i for i, _, _ in events}) == len(events)
    assert [e[0] for e in event_documents(again)] == [e[0] for e in events]
    for (_id, _, doc), ev in zip(events, log["events"].to_pylist()):
        assert _id == _sha1(ev["instance"], ev["source_file"], ev["source_offset"])
    # the same file of another instance is other documents
    other = log["events"].set_column(1, "instance", pa.array(["elsewhere"] * log["events"].num_rows))
    assert not {e[0] for e in event_documents(other)} & {e[0] for e in events}


def test_literals_are_redacted_by_default_and_kept_with_redact_false(log):
    table, day = log["digest"], log["day"]
    rows = {r["checksum"]: r for r in table.to_pylist()}
    assert any(LITERAL.search(r["example"]) for r in rows.values())  # the corpus has literals to hide
    redacted = [d for _, d in digest_documents(table, day) if d["doc_type"] == "daily"]
    assert not any(LITERAL.search(d["example"]) for d in redacted)
    assert all(d["example"] == rows[d["checksum"]]["example_redacted"] for d in redacted)
    # a digest without the example_redacted column is redacted here
    bare = table.drop_columns(["example_redacted"])
    assert [d for _, d in digest_documents(bare, day)] == [d for _, d in digest_documents(table, day)]
    kept = [d for _, d in digest_documents(table, day, redact=False) if d["doc_type"] == "daily"]
    assert all(d["example"] == rows[d["checksum"]]["example"] for d in kept)

    queries = log["events"].column("query").to_pylist()
    events = [d for _, _, d in event_documents(log["events"])]
    assert [d["Query"] for d in events] == [redact_query(q) for q in queries]
    assert not any(LITERAL.search(d["Query"]) for d in events)
    assert [d["Query"] for _, _, d in event_documents(log["events"], redact=False)] == queries

    load = [d for _, d in load_documents(log["load"], day)]
    assert not any(LITERAL.search(d["fingerprint"]) for d in load)
    assert all(d["fingerprint"] == "other" for d in load if d["checksum"] is None)


def test_event_documents_use_the_legacy_field_names_and_the_utc_day(log):
    for _id, day, doc in event_documents(log["events"]):
        assert day == log["day"] == dt.datetime.fromisoformat(doc["@timestamp"]).date()
        assert {"Query_time", "Lock_time", "Rows_sent", "Rows_examined", "IP", "Query"} <= set(doc)
        assert not {"query_time", "ip", "query", "ts"} & set(doc)
    # the index of an event is its UTC day, whatever the zone of its timestamp
    late = {"ts": dt.datetime(2026, 11, 24, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            "instance": "db-1", "source_file": "f", "source_offset": 7, "query": "select 1"}
    [(_, day, doc)] = event_documents([late])
    assert day == dt.date(2026, 11, 25) and doc["@timestamp"] == "2026-11-24T23:30:00-05:00"


def test_rows_that_cannot_become_documents():
    day = dt.date(2026, 11, 24)
    with pytest.raises(ValueError, match=r"dated 2026-11-23 passed to publish_digest\(day=2026-11-24\)"):
        list(digest_documents([{"date": "2026-11-23", "checksum": "A" * 32}], day))
    with pytest.raises(ValueError, match="without a checksum"):
        list(digest_documents([{"date": day, "checksum": None}], day))
    # a row's day given as a pandas Timestamp or a datetime is the same day (dagster_project.days.to_date)
    for same_day in (pd.Timestamp("2026-11-24"), dt.datetime(2026, 11, 24, 5), "2026-11-24T00:00:00Z"):
        [(_, doc)] = digest_documents([{"date": same_day, "checksum": "A" * 32}], day)
        assert doc["date"] == "2026-11-24"
    # no timestamp: no daily index to put it in, skipped; no source position: no deterministic id
    assert list(event_documents([{"ts": None, "source_file": "f", "source_offset": 1}])) == []
    with pytest.raises(ValueError, match="deterministic id"):
        list(event_documents([{"ts": dt.datetime(2026, 11, 24, tzinfo=UTC), "source_file": "f"}]))


def test_plain_turns_numpy_pandas_and_arrow_values_into_json():
    assert _plain(None) is None and _plain(float("nan")) is None and _plain(float("inf")) is None
    assert _plain(pd.NaT) is None and _plain(np.float64("nan")) is None
    assert _plain(np.int64(7)) == 7 and type(_plain(np.int64(7))) is int
    assert _plain(np.float32(0.5)) == 0.5 and _plain(np.bool_(True)) is True
    assert _plain(np.array([1, 2])) == [1, 2]
    assert _plain(dt.datetime(2026, 11, 24, 5)) == "2026-11-24T05:00:00+00:00"  # naive is UTC
    assert _plain(pd.Timestamp("2026-11-24 05:00", tz="UTC")) == "2026-11-24T05:00:00+00:00"
    assert _plain(dt.date(2026, 11, 24)) == "2026-11-24"
    assert _plain({"a": [np.int8(1), None, (np.nan,)]}) == {"a": [1, None, [None]]}

    # an EVENT_SCHEMA batch with nulls everywhere but the id parts: nulls stay null, not NaN
    n = 2
    cols = {f.name: pa.nulls(n, f.type) for f in EVENT_SCHEMA}
    cols.update(ts=pa.array([dt.datetime(2026, 11, 24, 1, tzinfo=UTC)] * n, EVENT_SCHEMA.field("ts").type),
                source_file=pa.array(["f", "f"]), source_offset=pa.array([0, 10], pa.int64()),
                query_time=pa.array([0.25, None], pa.float64()))
    batch = pa.RecordBatch.from_arrays([cols[f.name] for f in EVENT_SCHEMA], schema=EVENT_SCHEMA)
    docs = [d for _, _, d in event_documents(batch)]
    pandas_docs = [d for _, _, d in event_documents(batch.to_pandas())]
    assert docs == pandas_docs  # pandas' NaN for a null float becomes None too
    assert [d["Query_time"] for d in docs] == [0.25, None] and docs[0]["Query"] is None
    assert json.dumps(docs, allow_nan=False)
