"""OpenSearch: the Dagster resource that publishes the query digest (and, optionally, raw events).

The connection (none / basic / SigV4 for Amazon OpenSearch Service ``es`` and Serverless ``aoss``),
template installation and the bulk publishers. What is sent lives beside it, without a connection:
the index templates in ``dagster_project.opensearch.templates`` and the row -> document mapping
(field names, deterministic ids, redaction) in ``dagster_project.opensearch.documents``.

Indices: one per UTC day, ``<prefix>YYYY.MM.DD`` (``slowlog-digest-*``, and ``slowlog-events-*``
when raw events are published). Re-publishing a day overwrites its documents, and documents of
classes that vanished from a re-published (day, instance) are deleted.

Credentials (``password``; AWS ones come from the default boto3 chain) never appear in reprs, logs
or error messages produced here; pass the password with ``dg.EnvVar("OPENSEARCH_PASSWORD")``. They
go over https only (unless ``allow_insecure_credentials``), with ``ca_certs`` / ``client_cert`` for
a private CA or mutual TLS: see ``dagster_project.resources.opensearch_transport``.
The errors are defined here, with the resource that raises them: Dagster names a failure by the
exception's module path (``dagster_project.resources.opensearch.OpenSearchUnreachableError: ...``).
A local node for development and tests: ``scripts/opensearch/opensearch.sh up``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, Optional

import dagster as dg
from pydantic import Field, PrivateAttr

from dagster_project.days import to_date
from dagster_project.opensearch.documents import digest_documents, event_documents, load_documents
from dagster_project.opensearch.templates import LOAD_PROPERTIES, index_templates
from dagster_project.resources.masking import mask_secrets
from dagster_project.resources.opensearch_transport import (
    TransportSettingsError, check_credentials_transport, strip_userinfo, tls_hint, tls_options,
)

__all__ = [
    "OpenSearchError",
    "OpenSearchPublishError",
    "OpenSearchResource",
    "OpenSearchSettingsError",
    "OpenSearchUnreachableError",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------- errors
class OpenSearchError(RuntimeError):
    """Any OpenSearch failure raised by this module (message is one line, without credentials)."""


class OpenSearchUnreachableError(OpenSearchError, ConnectionError):
    """No connection to the cluster (refused, DNS, TLS, timeout)."""


class OpenSearchSettingsError(OpenSearchError, ValueError):
    """Settings refused before any byte is sent (credentials over plain http, a missing CA file...)."""


class OpenSearchPublishError(OpenSearchError):
    """Some documents of a bulk publish were rejected."""

    def __init__(self, message: str, failures: list[dict] | None = None):
        super().__init__(message)
        self.failures = failures or []  # [{"_id", "_index", "status", "type", "reason"}] (no data)


# ------------------------------------------------------------------------------------ scrubbing
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
    verify_certs: bool = Field(default=True, description="verify TLS certificates (https hosts); False warns")
    ca_certs: Optional[str] = Field(default=None, description="CA bundle (PEM) to verify the cluster with, "
                                    "e.g. a private CA; default: certifi's public CAs")
    client_cert: Optional[str] = Field(default=None, description="client certificate (PEM) for mutual TLS")
    client_key: Optional[str] = Field(default=None, description="its private key (PEM), if not in client_cert")
    allow_insecure_credentials: bool = Field(
        default=False, description="send credentials (basic, URL, SigV4) over plain http anyway (warns)"
    )
    chunk_size: int = Field(default=500, description="documents per bulk request")

    _client: Any = PrivateAttr(default=None)
    _templates_ok: bool = PrivateAttr(default=False)

    # ---- never show the password (pydantic's repr/str go through __repr_args__)
    def __repr_args__(self):  # type: ignore[override]
        for key, value in mask_secrets(super().__repr_args__(), {"password"}):
            if key == "hosts" and value:
                value = [strip_userinfo(h) for h in value]
            yield key, value

    # ---- connection
    @property
    def display_host(self) -> str:
        return ", ".join(strip_userinfo(h) for h in self.hosts) or "<no hosts>"

    def _scrub(self, text: Any) -> str:
        text = strip_userinfo(str(text))
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
        try:  # before any connection exists: a refused configuration sends nothing
            check_credentials_transport(list(self.hosts), self.auth, self.allow_insecure_credentials)
            kwargs.update(tls_options(list(self.hosts), verify_certs=self.verify_certs, ca_certs=self.ca_certs,
                                      client_cert=self.client_cert, client_key=self.client_key))
        except TransportSettingsError as e:
            raise OpenSearchSettingsError(self._scrub(e)) from None
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
            reason = _short_reason(getattr(e, "info", None) or getattr(e, "error", None) or e)
            raise OpenSearchUnreachableError(
                f"OpenSearch at {self.display_host} is unreachable: {self._scrub(reason)}{tls_hint(reason)}"
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
        return index_templates(self.index_prefix, self.events_index_prefix, replicas, shards)

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
        day = to_date(day)
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
                   "Temporary failure in name resolution", "certificate verify failed", "certificate required",
                   "Connection reset"):
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
