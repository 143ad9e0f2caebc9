"""Warehouse rows -> OpenSearch documents, with their deterministic ``_id``.

Pure: no client, no connection. The resource (``dagster_project.resources.opensearch``) sends
what these generators yield; the field names are the ones the templates (``templates.py``) map.

* digest index (``slowlog-digest-YYYY.MM.DD``): one document per (instance, query class) per day
  (``doc_type="daily"``) and, when the digest has the ``hourly`` column, one per class per hour
  (``doc_type="hourly"``). Field names are the ``query_digest`` warehouse columns
  (``query_time_sum``, ``rows_examined_p95``...), plus ``@timestamp``, ``doc_type`` and ``hour``.
  ``example`` is the *redacted* example query and ``fingerprint`` the redacted fingerprint (a
  fingerprint keeps what pt-query-digest keeps: a literal cut by the log, some comments).
  ``_id`` = sha1("instance|YYYY-MM-DD|checksum[|hour]"): re-publishing a day overwrites.
  The same index holds the ``db_load`` series (``doc_type="db_load"``), see :func:`load_documents`.
* raw-event index (``slowlog-events-YYYY.MM.DD``, optional): one document per slow-log event with
  the legacy field names (``user``, ``host``, ``IP``, ``Query_time``, ``Lock_time``, ``Rows_sent``,
  ``Rows_examined``, ``Query``, ``@timestamp``) plus ``instance``, ``checksum``, ``fingerprint``...;
  ``_id`` = sha1("instance|source_file|source_offset").

Top classes by total query time for a day (only ``doc_type: daily`` documents, hourly ones would
count twice)::

    {"query": {"term": {"doc_type": "daily"}}, "size": 0,
     "aggs": {"top": {"terms": {"field": "checksum", "size": 10, "order": {"qt": "desc"}},
                      "aggs": {"qt": {"sum": {"field": "query_time_sum"}}}}}}
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
from collections.abc import Iterator, Mapping
from typing import Any

from dagster_project.days import to_date
from dagster_project.opensearch.templates import METRICS, STATS

__all__ = ["digest_documents", "event_documents", "load_documents"]


def _sha1(*parts: Any) -> str:
    return hashlib.sha1("|".join("" if p is None else str(p) for p in parts).encode()).hexdigest()


def _plain(value: Any) -> Any:
    """numpy / pandas / pyarrow scalars -> JSON-ready Python values (NaN, NaT -> None)."""
    if value is None or type(value).__name__ == "NaTType":
        return None
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp
        return _plain(value.to_pydatetime())
    if hasattr(value, "item") and not hasattr(value, "__len__"):  # numpy scalar
        return _plain(value.item())
    if hasattr(value, "tolist"):  # numpy array
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _records(rows: Any) -> Iterator[dict]:
    """Dicts from: a pandas DataFrame, a pyarrow Table/RecordBatch, or an iterable of dicts/batches."""
    if rows is None:
        return
    if hasattr(rows, "to_dict") and hasattr(rows, "columns") and not hasattr(rows, "schema"):
        yield from rows.to_dict("records")  # pandas
        return
    if hasattr(rows, "to_pylist") and hasattr(rows, "schema"):  # pyarrow Table / RecordBatch
        if hasattr(rows, "to_batches"):
            for batch in rows.to_batches(max_chunksize=10_000):
                yield from batch.to_pylist()
        else:
            yield from rows.to_pylist()
        return
    if isinstance(rows, Mapping):
        yield dict(rows)
        return
    for item in rows:
        if isinstance(item, Mapping):
            yield dict(item)
        else:
            yield from _records(item)


def _redactor():
    from dagster_project.slowlog.redact import redact_query  # lazy: core module, no dagster

    return redact_query


def _day_start(day: _dt.date, hour: int = 0) -> str:
    return _dt.datetime(day.year, day.month, day.day, hour, tzinfo=_dt.timezone.utc).isoformat()


def digest_documents(rows: Any, day: _dt.date, *, redact: bool = True) -> Iterator[tuple[str, dict]]:
    """(``_id``, document) pairs for the digest index: one daily doc per row, one per hourly entry."""
    date_s = day.isoformat()
    redact_query = None
    for row in _records(rows):
        if row.get("date") is not None and to_date(row["date"]) != day:
            raise ValueError(f"digest row dated {to_date(row['date'])} passed to publish_digest(day={date_s})")
        if not row.get("checksum"):
            raise ValueError("digest row without a checksum")
        engine = row.get("engine")
        fingerprint, example = row.get("fingerprint"), row.get("example")
        if redact:
            if redact_query is None:
                redact_query = _redactor()
            # the stored example_redacted is redacted again with the engine's rules: a digest written
            # by an older version (or without knowing the engine) may have let a literal through
            example = row["example_redacted"] if "example_redacted" in row else example
            example = redact_query(example, engine) if isinstance(example, str) else None
            fingerprint = redact_query(fingerprint, engine) if isinstance(fingerprint, str) else fingerprint
        doc: dict[str, Any] = {
            "@timestamp": _day_start(day),
            "date": date_s,
            "doc_type": "daily",
            "instance": row.get("instance"),
            "engine": engine,
            "checksum": row["checksum"],
            "fingerprint": fingerprint,
            "db": row.get("db"),
            "user": row.get("user"),
            "host": row.get("host"),
            "count": row.get("count"),
            "first_seen": row.get("first_seen"),
            "last_seen": row.get("last_seen"),
            "example": example,
        }
        for m in METRICS:
            for s in STATS:
                key = f"{m}_{s}"
                if key in row:
                    doc[key] = row[key]
        if "query_time_missing" in row:
            doc["query_time_missing"] = row["query_time_missing"]
        doc = {k: _plain(v) for k, v in doc.items()}
        instance = doc["instance"]
        yield _sha1(instance, date_s, doc["checksum"]), doc

        hourly = row.get("hourly")
        if hourly is None or (isinstance(hourly, float) and math.isnan(hourly)):
            continue
        for h in _plain(hourly) or []:
            hour = int(h["hour"])
            hdoc = {
                "@timestamp": _day_start(day, hour),
                "date": date_s,
                "doc_type": "hourly",
                "hour": hour,
                "instance": instance,
                "engine": doc["engine"],
                "checksum": doc["checksum"],
                "fingerprint": doc["fingerprint"],
                "db": doc["db"],
                "user": doc["user"],
                "host": doc["host"],
                "count": h.get("count"),
                "query_time_sum": h.get("query_time_sum"),
                "query_time_p95": h.get("query_time_p95"),
            }
            yield _sha1(instance, date_s, doc["checksum"], hour), {k: _plain(v) for k, v in hdoc.items()}


def load_documents(rows: Any, day: _dt.date, *, redact: bool = True) -> Iterator[tuple[str, dict]]:
    """(``_id``, document) pairs of ``db_load`` rows (doc_type ``db_load``, ``@timestamp`` = the
    minute, ``fingerprint`` = "other" for the rest of an instance's classes); ids are
    sha1("instance|YYYY-MM-DD|load|minute|checksum")."""
    date_s = day.isoformat()
    redact_query = _redactor() if redact else None
    for row in _records(rows):
        minute = _plain(row.get("minute"))
        checksum = row.get("checksum")
        fingerprint = row.get("fingerprint")
        if checksum is None:
            fingerprint = "other"
        elif redact_query is not None and isinstance(fingerprint, str):
            fingerprint = redact_query(fingerprint, row.get("engine"))
        doc = {"@timestamp": minute, "date": date_s, "doc_type": "db_load", "instance": row.get("instance"),
               "checksum": checksum, "fingerprint": fingerprint, "rank": row.get("rank"),
               "aas": row.get("aas"), "query_time_s": row.get("query_time_s")}
        doc = {k: _plain(v) for k, v in doc.items()}
        yield _sha1(doc["instance"], date_s, "load", minute, checksum), doc


_EVENT_FIELDS = {  # event column -> legacy document field
    "instance": "instance",
    "engine": "engine",
    "user": "user",
    "host": "host",
    "ip": "IP",
    "db": "db",
    "query_time": "Query_time",
    "lock_time": "Lock_time",
    "rows_sent": "Rows_sent",
    "rows_examined": "Rows_examined",
    "checksum": "checksum",
    "fingerprint": "fingerprint",
    "source_file": "source_file",
    "source_offset": "source_offset",
}


def event_documents(batches: Any, *, redact: bool = True) -> Iterator[tuple[str, _dt.date, dict]]:
    """(``_id``, UTC day, document) triples for the raw-event index, legacy field names."""
    redact_query = _redactor() if redact else None
    for ev in _records(batches):
        ts = ev.get("ts")
        if ts is None:
            continue  # an event without a timestamp has no daily index
        ts_s = _plain(ts)
        day = _dt.datetime.fromisoformat(ts_s).astimezone(_dt.timezone.utc).date()
        doc = {"@timestamp": ts_s}
        for col, field in _EVENT_FIELDS.items():
            if col in ev:
                doc[field] = _plain(ev[col])
        query, fingerprint = ev.get("query"), ev.get("fingerprint")
        if redact_query is not None:
            engine = ev.get("engine")
            query = redact_query(query, engine) if isinstance(query, str) else query
            if isinstance(fingerprint, str):  # a fingerprint keeps what pt keeps: a cut literal, comments
                doc["fingerprint"] = redact_query(fingerprint, engine)
        doc["Query"] = _plain(query)
        if ev.get("source_file") is None or ev.get("source_offset") is None:
            raise ValueError("event without source_file/source_offset: cannot build a deterministic id")
        yield _sha1(ev.get("instance"), ev["source_file"], int(ev["source_offset"])), day, doc
