"""OpenSearch: the Dagster resource that publishes the query digest (and, optionally, raw events).

One place for everything OpenSearch: connection (none / basic / SigV4 for Amazon OpenSearch Service
``es`` and Serverless ``aoss``), the two composable index templates, and the bulk publishers.

Indices (one per UTC day, ``<prefix>YYYY.MM.DD``):

* ``slowlog-digest-*``: one document per (instance, query class) per day (``doc_type="daily"``) and,
  when the digest has the ``hourly`` column, one per class per hour (``doc_type="hourly"``). Field
  names are the ``query_digest`` warehouse columns (``query_time_sum``, ``rows_examined_p95``...),
  plus ``@timestamp``, ``doc_type`` and ``hour``. ``example`` is the *redacted* example query.
  ``_id`` = sha1("instance|YYYY-MM-DD|checksum[|hour]"): re-publishing a day overwrites, and
  documents of classes that vanished from a re-published (day, instance) are deleted.
* ``slowlog-events-*`` (optional): one document per slow-log event with the legacy field names
  (``user``, ``host``, ``IP``, ``Query_time``, ``Lock_time``, ``Rows_sent``, ``Rows_examined``,
  ``Query``, ``@timestamp``) plus ``instance``, ``checksum``, ``fingerprint``...;
  ``_id`` = sha1("instance|source_file|source_offset").

Top classes by total query time for a day (only ``doc_type: daily`` documents, hourly ones would
count twice)::

    {"query": {"term": {"doc_type": "daily"}}, "size": 0,
     "aggs": {"top": {"terms": {"field": "checksum", "size": 10, "order": {"qt": "desc"}},
                      "aggs": {"qt": {"sum": {"field": "query_time_sum"}}}}}}

Credentials (``password``; AWS ones come from the default boto3 chain) never appear in reprs, logs
or error messages produced here; pass the password with ``dg.EnvVar("OPENSEARCH_PASSWORD")``.
A local node for development and tests: ``scripts/opensearch/opensearch.sh up``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, Optional
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field, PrivateAttr

from dagster_project.resources.masking import mask_secrets

__all__ = [
    "OpenSearchError",
    "OpenSearchPublishError",
    "OpenSearchResource",
    "OpenSearchUnreachableError",
    "digest_template",
    "events_template",
    "digest_documents",
    "load_documents",
    "event_documents",
]

log = logging.getLogger(__name__)

METRICS = ("query_time", "lock_time", "rows_sent", "rows_examined")
STATS = ("sum", "min", "max", "avg", "p50", "p95", "p99", "stddev")
DIGEST_KEYWORDS = ("instance", "engine", "checksum", "db", "user", "host", "date", "doc_type")
TEMPLATE_PRIORITY = 100
# doc_type "db_load": one document per instance x minute x top class (or "other") of the db_load table
LOAD_PROPERTIES = {"rank": {"type": "integer"}, "aas": {"type": "double"}, "query_time_s": {"type": "double"},
                   "query_time_missing": {"type": "long"}}
_MANAGED_BY = "slowlog-pipeline"


# --------------------------------------------------------------------------------------- errors
class OpenSearchError(RuntimeError):
    """Any OpenSearch failure raised by this module (message is one line, without credentials)."""


class OpenSearchUnreachableError(OpenSearchError, ConnectionError):
    """No connection to the cluster (refused, DNS, TLS, timeout)."""


class OpenSearchPublishError(OpenSearchError):
    """Some documents of a bulk publish were rejected."""

    def __init__(self, message: str, failures: list[dict] | None = None):
        super().__init__(message)
        self.failures = failures or []  # [{"_id", "_index", "status", "type", "reason"}] (no data)


# -------------------------------------------------------------------------------------- templates
def _keyword() -> dict:
    return {"type": "keyword", "ignore_above": 1024}


def _index_settings(replicas: int | None, shards: int | None) -> dict:
    settings: dict[str, Any] = {}
    if shards is not None:
        settings["number_of_shards"] = shards
    if replicas is not None:
        settings["number_of_replicas"] = replicas
    return settings


def digest_template(prefix: str, replicas: int | None = 0, shards: int | None = 1) -> dict:
    """Composable index template body for the digest indices ``<prefix>*``."""
    props: dict[str, Any] = {k: _keyword() for k in DIGEST_KEYWORDS}
    props["@timestamp"] = {"type": "date"}
    props["hour"] = {"type": "integer"}
    props["fingerprint"] = {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 8191}}}
    props["example"] = {"type": "text"}
    props["count"] = {"type": "long"}
    for m in METRICS:
        for s in STATS:
            props[f"{m}_{s}"] = {"type": "double"}
    props["first_seen"] = {"type": "date"}
    props["last_seen"] = {"type": "date"}
    props.update(LOAD_PROPERTIES)
    return {
        "index_patterns": [f"{prefix}*"],
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": _index_settings(replicas, shards),
            # strict: a field this module does not know is a bug, not data to guess a type for
            "mappings": {"dynamic": "strict", "properties": props},
        },
        "_meta": {"managed_by": _MANAGED_BY, "kind": "digest"},
    }


def events_template(prefix: str, replicas: int | None = 0, shards: int | None = 1) -> dict:
    """Composable index template body for the raw-event indices (legacy seed field names)."""
    props: dict[str, Any] = {
        "@timestamp": {"type": "date"},
        "instance": _keyword(),
        "engine": _keyword(),
        "user": _keyword(),
        "host": _keyword(),
        "IP": {"type": "keyword", "ignore_above": 64},
        "db": _keyword(),
        "Query_time": {"type": "double"},
        "Lock_time": {"type": "double"},
        "Rows_sent": {"type": "long"},
        "Rows_examined": {"type": "long"},
        "Query": {"type": "text"},
        "checksum": _keyword(),
        "fingerprint": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 8191}}},
        "source_file": _keyword(),
        "source_offset": {"type": "long"},
    }
    return {
        "index_patterns": [f"{prefix}*"],
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": _index_settings(replicas, shards),
            "mappings": {"dynamic": "strict", "properties": props},
        },
        "_meta": {"managed_by": _MANAGED_BY, "kind": "events"},
    }


def _template_name(prefix: str) -> str:
    return prefix.strip("-_.*") or "slowlog"


def _with_hash(body: dict) -> dict:
    body = json.loads(json.dumps(body))
    digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()
    body["_meta"]["hash"] = digest
    return body


# ------------------------------------------------------------------------------ row -> document
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


def _day(value: Any) -> _dt.date:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime().date()
    return _dt.date.fromisoformat(str(value)[:10])


def _day_start(day: _dt.date, hour: int = 0) -> str:
    return _dt.datetime(day.year, day.month, day.day, hour, tzinfo=_dt.timezone.utc).isoformat()


def digest_documents(rows: Any, day: _dt.date, *, redact: bool = True) -> Iterator[tuple[str, dict]]:
    """(``_id``, document) pairs for the digest index: one daily doc per row, one per hourly entry."""
    date_s = day.isoformat()
    redact_query = None
    for row in _records(rows):
        if row.get("date") is not None and _day(row["date"]) != day:
            raise ValueError(f"digest row dated {_day(row['date'])} passed to publish_digest(day={date_s})")
        if not row.get("checksum"):
            raise ValueError("digest row without a checksum")
        if redact:
            if "example_redacted" in row:
                example = row["example_redacted"]
            else:
                if redact_query is None:
                    redact_query = _redactor()
                example = row.get("example")
                example = redact_query(example) if isinstance(example, str) else None
        else:
            example = row.get("example")
        doc: dict[str, Any] = {
            "@timestamp": _day_start(day),
            "date": date_s,
            "doc_type": "daily",
            "instance": row.get("instance"),
            "engine": row.get("engine"),
            "checksum": row["checksum"],
            "fingerprint": row.get("fingerprint"),
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
            fingerprint = redact_query(fingerprint)
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
        query = ev.get("query")
        doc["Query"] = redact_query(query) if (redact_query and isinstance(query, str)) else _plain(query)
        if ev.get("source_file") is None or ev.get("source_offset") is None:
            raise ValueError("event without source_file/source_offset: cannot build a deterministic id")
        yield _sha1(ev.get("instance"), ev["source_file"], int(ev["source_offset"])), day, doc


# ------------------------------------------------------------------------------------ scrubbing
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")


def _strip_userinfo(url: str) -> str:
    return _USERINFO.sub(r"\1", url)


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -------------------------------------------------------------------------------------- resource
class OpenSearchResource(dg.ConfigurableResource):
    """Connection to an OpenSearch cluster (self-managed, Amazon OpenSearch Service or Serverless)."""

    hosts: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:9200"],
        description="Cluster URLs, e.g. https://search-x.eu-west-1.es.amazonaws.com:443",
    )
    auth: Literal["none", "basic", "sigv4"] = Field(default="none", description="none | basic | sigv4")
    username: Optional[str] = Field(default=None, description="basic auth user")
    password: Optional[str] = Field(
        default=None, description='basic auth password; pass dg.EnvVar("OPENSEARCH_PASSWORD")'
    )
    aws_region: Optional[str] = Field(default=None, description="sigv4: region (default: boto3's)")
    aws_service: Literal["es", "aoss"] = Field(
        default="es", description="sigv4: es (OpenSearch Service) or aoss (Serverless)"
    )
    index_prefix: str = Field(default="slowlog-digest-", description="digest indices: <prefix>YYYY.MM.DD")
    events_index_prefix: str = Field(default="slowlog-events-", description="raw-event indices")
    timeout_s: float = Field(default=30.0, description="per-request timeout, seconds")
    number_of_replicas: int = Field(default=0, description="replicas of new indices (template)")
    number_of_shards: int = Field(default=1, description="primary shards of new indices (template)")
    verify_certs: bool = Field(default=True, description="verify TLS certificates (https hosts)")
    chunk_size: int = Field(default=500, description="documents per bulk request")

    _client: Any = PrivateAttr(default=None)
    _templates_ok: bool = PrivateAttr(default=False)

    # ---- never show the password (pydantic's repr/str go through __repr_args__)
    def __repr_args__(self):  # type: ignore[override]
        for key, value in mask_secrets(super().__repr_args__(), {"password"}):
            if key == "hosts" and value:
                value = [_strip_userinfo(h) for h in value]
            yield key, value

    # ---- connection
    @property
    def display_host(self) -> str:
        return ", ".join(_strip_userinfo(h) for h in self.hosts) or "<no hosts>"

    def _scrub(self, text: Any) -> str:
        text = _strip_userinfo(str(text))
        for secret in (self.password,):
            if secret:
                text = text.replace(secret, "***")
        return _one_line(text)

    def get_client(self):
        """An ``opensearchpy.OpenSearch`` client for this configuration (cached per resource)."""
        if self._client is not None:
            return self._client
        from opensearchpy import OpenSearch, RequestsHttpConnection

        if not self.hosts:
            raise OpenSearchError("OpenSearchResource.hosts is empty")
        kwargs: dict[str, Any] = {
            "hosts": list(self.hosts),
            "timeout": self.timeout_s,
            "max_retries": 2,
            "retry_on_timeout": True,
            "http_compress": True,
        }
        if any(urlsplit(h).scheme == "https" for h in self.hosts):
            kwargs["use_ssl"] = True
            kwargs["verify_certs"] = self.verify_certs
            if not self.verify_certs:
                kwargs["ssl_show_warn"] = False
        if self.auth == "basic":
            if not self.username or self.password is None:
                raise OpenSearchError("auth=basic needs username and password")
            kwargs["http_auth"] = (self.username, self.password)
        elif self.auth == "sigv4":
            import boto3
            from opensearchpy import AWSV4SignerAuth

            session = boto3.Session()
            credentials = session.get_credentials()
            if credentials is None:
                raise OpenSearchError("auth=sigv4: no AWS credentials found in the default boto3 chain")
            region = self.aws_region or session.region_name
            if not region:
                raise OpenSearchError("auth=sigv4 needs aws_region (or AWS_REGION / a profile region)")
            kwargs["http_auth"] = AWSV4SignerAuth(credentials, region, self.aws_service)
            kwargs["connection_class"] = RequestsHttpConnection
            kwargs["pool_maxsize"] = 10
        self._client = OpenSearch(**kwargs)
        return self._client

    def teardown_after_execution(self, context) -> None:  # noqa: ARG002 - dagster hook
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    @contextlib.contextmanager
    def _errors(self, action: str):
        """Translate opensearch-py exceptions into one-line errors without credentials."""
        from opensearchpy import exceptions as ose

        try:
            yield
        except OpenSearchError:
            raise
        except ose.ConnectionError as e:  # includes ConnectionTimeout, SSLError
            reason = getattr(e, "info", None) or getattr(e, "error", None) or e
            raise OpenSearchUnreachableError(
                f"OpenSearch at {self.display_host} is unreachable: {self._scrub(_short_reason(reason))}"
            ) from None
        except ose.TransportError as e:
            status = e.status_code
            if status in (401, 403):
                msg = f"OpenSearch at {self.display_host} refused {action} (HTTP {status}, auth={self.auth})"
            else:
                msg = f"OpenSearch at {self.display_host}: {action} failed (HTTP {status}): {_error_reason(e.info, e.error)}"
            raise OpenSearchError(self._scrub(msg)) from None

    def ping(self) -> dict:
        """Cluster info (``GET /``); raises :class:`OpenSearchUnreachableError` when down."""
        with self._errors("GET /"):
            return self.get_client().info()

    # ---- templates
    @property
    def _serverless(self) -> bool:
        return self.auth == "sigv4" and self.aws_service == "aoss"

    def templates(self) -> dict[str, dict]:
        """Template name -> body (with a content hash in ``_meta``) for both index families."""
        replicas = None if self._serverless else self.number_of_replicas
        shards = None if self._serverless else self.number_of_shards
        return {
            _template_name(self.index_prefix): _with_hash(digest_template(self.index_prefix, replicas, shards)),
            _template_name(self.events_index_prefix): _with_hash(
                events_template(self.events_index_prefix, replicas, shards)
            ),
        }

    def ensure_templates(self) -> dict[str, str]:
        """Install both index templates; idempotent. Returns name -> "created"|"updated"|"unchanged"."""
        client = self.get_client()
        result: dict[str, str] = {}
        with self._errors("installing index templates"):
            for name, body in self.templates().items():
                current = None
                if client.indices.exists_index_template(name=name):
                    got = client.indices.get_index_template(name=name).get("index_templates", [])
                    current = got[0]["index_template"] if got else None
                if current is not None and (current.get("_meta") or {}).get("hash") == body["_meta"]["hash"]:
                    result[name] = "unchanged"
                    continue
                client.indices.put_index_template(name=name, body=body)
                result[name] = "created" if current is None else "updated"
                log.info("OpenSearch index template %s %s", name, result[name])
        self._templates_ok = True
        return result

    # ---- publishing
    def digest_index(self, day: _dt.date) -> str:
        return f"{self.index_prefix}{day:%Y.%m.%d}"

    def events_index(self, day: _dt.date) -> str:
        return f"{self.events_index_prefix}{day:%Y.%m.%d}"

    def _bulk(self, actions: Iterable[dict]) -> tuple[int, list[dict]]:
        """Index ``actions``; returns (successes, failures). Retries 429 rejections 3 times."""
        from opensearchpy import exceptions as ose
        from opensearchpy.helpers import streaming_bulk

        ok_count = 0
        failures: list[dict] = []
        with self._errors("bulk indexing"):
            for ok, item in streaming_bulk(
                self.get_client(),
                actions,
                chunk_size=self.chunk_size,
                max_chunk_bytes=20 * 1024 * 1024,
                raise_on_error=False,
                raise_on_exception=False,
                max_retries=3,
                initial_backoff=1,
                max_backoff=30,
            ):
                if ok:
                    ok_count += 1
                    continue
                _op, info = next(iter(item.items()))
                exc = info.get("exception")
                if isinstance(exc, ose.ConnectionError):
                    raise exc  # the whole cluster is gone: report that, not N item failures
                failures.append(
                    {
                        "_index": info.get("_index"),
                        "_id": info.get("_id"),
                        "status": info.get("status"),
                        "reason": self._scrub(_error_reason(info.get("error"))),
                    }
                )
        return ok_count, failures

    def _raise_failures(self, what: str, total: int, failures: list[dict]) -> None:
        reasons = "; ".join(
            f"[{f['_id'][:12] if f.get('_id') else '?'}] {f['status']} {f['reason']}" for f in failures[:3]
        )
        raise OpenSearchPublishError(
            self._scrub(f"{len(failures)} of {total} {what} documents were rejected by OpenSearch at "
                        f"{self.display_host}: {reasons}"),
            failures,
        )

    def _refresh(self, indices: Iterable[str]) -> None:
        if self._serverless:
            return  # Serverless has no refresh API; documents become visible within seconds
        names = ",".join(sorted(set(indices)))
        if names:
            with self._errors("refresh"):
                self.get_client().indices.refresh(index=names, ignore_unavailable=True)

    def publish_digest(self, rows: Any, day: _dt.date | str, *, redact: bool = True, prune: bool = True,
                       load: Any = None) -> dict:
        """Index the day's digest rows (``query_digest`` columns) into ``<index_prefix>YYYY.MM.DD``.

        ``rows``: pandas DataFrame, pyarrow Table or iterable of dicts. ``example`` is the redacted
        one (``example_redacted``, else ``redact_query(example)``) unless ``redact=False``.
        ``prune``: afterwards delete the documents of this day and of the published instances whose
        ids were not produced now (classes gone since an earlier publish), so a re-publish leaves
        exactly the current digest. Raises :class:`OpenSearchPublishError` if any document is
        rejected. ``load``: the day's ``db_load`` rows, indexed too (``doc_type: db_load``).
        Returns ``{"index", "documents", "daily", "hourly", "db_load", "failed", "deleted"}``.
        """
        day = _day(day)
        index = self.digest_index(day)
        if not self._templates_ok:
            self.ensure_templates()
        ids: list[str] = []
        instances: set[Any] = set()
        counts = {"daily": 0, "hourly": 0, "db_load": 0}
        if load is not None:
            self._add_load_mapping(index)

        def documents() -> Iterator[tuple[str, dict]]:
            yield from digest_documents(rows, day, redact=redact)
            if load is not None:
                yield from load_documents(load, day, redact=redact)

        def actions() -> Iterator[dict]:
            for _id, doc in documents():
                ids.append(_id)
                instances.add(doc.get("instance"))
                counts[doc["doc_type"]] += 1
                yield {"_op_type": "index", "_index": index, "_id": _id, "_source": doc}

        ok, failures = self._bulk(actions())
        if failures:
            with contextlib.suppress(OpenSearchError):
                self._refresh([index])
            self._raise_failures("digest", ok + len(failures), failures)
        deleted = self._prune(index, instances, ids) if (prune and ids) else 0
        self._refresh([index])
        return {"index": index, "documents": ok, "daily": counts["daily"], "hourly": counts["hourly"],
                "db_load": counts["db_load"], "failed": 0, "deleted": deleted}

    def _add_load_mapping(self, index: str) -> None:
        """An index created before the db_load fields existed gets them (mappings only grow)."""
        client = self.get_client()
        with self._errors("updating the index mapping"):
            if client.indices.exists(index=index):
                client.indices.put_mapping(index=index, body={"properties": LOAD_PROPERTIES})

    def _prune(self, index: str, instances: set[Any], ids: list[str]) -> int:
        if len(ids) > 60_000:  # ids query limit (index.max_terms_count 65536)
            log.warning("not pruning %s: %d ids exceed the ids-query limit", index, len(ids))
            return 0
        named = sorted(i for i in instances if i is not None)
        should: list[dict] = []
        if named:
            should.append({"terms": {"instance": named}})
        if None in instances:
            should.append({"bool": {"must_not": {"exists": {"field": "instance"}}}})
        query = {"bool": {"filter": [{"bool": {"should": should, "minimum_should_match": 1}}],
                          "must_not": [{"ids": {"values": ids}}]}}
        client = self.get_client()
        with self._errors("pruning stale documents"):
            if not self._serverless:
                client.indices.refresh(index=index)
            res = client.delete_by_query(index=index, body={"query": query}, conflicts="proceed",
                                         refresh=not self._serverless)
        return int(res.get("deleted", 0))

    def publish_events(self, batches: Any, *, redact: bool = True) -> dict:
        """Index raw events (EVENT_SCHEMA batches, Tables, DataFrames or dicts) into
        ``<events_index_prefix>YYYY.MM.DD`` (UTC day of ``ts``) with the legacy field names.
        Ids: sha1(instance|source_file|source_offset). Returns
        ``{"indices": [...], "documents", "failed": 0}``; raises :class:`OpenSearchPublishError`."""
        if not self._templates_ok:
            self.ensure_templates()
        indices: set[str] = set()

        def actions() -> Iterator[dict]:
            for _id, day, doc in event_documents(batches, redact=redact):
                index = self.events_index(day)
                indices.add(index)
                yield {"_op_type": "index", "_index": index, "_id": _id, "_source": doc}

        ok, failures = self._bulk(actions())
        if failures:
            with contextlib.suppress(OpenSearchError):
                self._refresh(indices)
            self._raise_failures("event", ok + len(failures), failures)
        self._refresh(indices)
        return {"indices": sorted(indices), "documents": ok, "failed": 0}


def _short_reason(reason: Any) -> str:
    """The innermost useful part of a urllib3/requests connection error."""
    text = str(reason)
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route to host",
                   "Temporary failure in name resolution", "certificate verify failed", "Connection reset"):
        if marker in text:
            return marker
    return text


def _error_reason(*candidates: Any) -> str:
    """'type: reason' from an OpenSearch error body (dict or str), caused_by included."""
    for c in candidates:
        if isinstance(c, Mapping):
            err = c.get("error", c)
            if isinstance(err, Mapping):
                text = f"{err.get('type', 'error')}: {err.get('reason', '')}"
                cause = err.get("caused_by")
                if isinstance(cause, Mapping):
                    text += f" (caused by {cause.get('type')}: {cause.get('reason')})"
                return _one_line(text, 300)
            if err:
                return _one_line(str(err), 300)
        elif c:
            return _one_line(str(c), 300)
    return "unknown error"
