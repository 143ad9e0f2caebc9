"""The two composable index templates, defined here and nowhere else.

Pure: no client, no connection. The resource (``dagster_project.resources.opensearch``) installs
what :func:`index_templates` returns and compares the content hash in ``_meta`` to decide whether
a cluster's template is current.

* ``<index_prefix>*`` (digest, ``slowlog-digest-YYYY.MM.DD``): the ``query_digest`` warehouse
  columns, plus ``@timestamp``, ``doc_type``, ``hour`` and the ``db_load`` fields.
* ``<events_index_prefix>*`` (raw events, ``slowlog-events-YYYY.MM.DD``): the legacy field names of
  the seed system (``Query_time``, ``Rows_examined``, ``IP``...), so its Kibana dashboards keep working.

Both map ``dynamic: strict``: a field the document builders do not know is a bug, not data to
guess a type for.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = [
    "DIGEST_KEYWORDS",
    "LOAD_PROPERTIES",
    "METRICS",
    "STATS",
    "TEMPLATE_PRIORITY",
    "digest_template",
    "events_template",
    "index_settings",
    "index_templates",
    "template_name",
    "with_content_hash",
]

# Digest fields are "<metric>_<stat>", as the query_digest columns (slowlog/digest.py).
METRICS = ("query_time", "lock_time", "rows_sent", "rows_examined")
STATS = ("sum", "min", "max", "avg", "p50", "p95", "p99", "stddev")
DIGEST_KEYWORDS = ("instance", "engine", "checksum", "db", "user", "host", "date", "doc_type")
# above OpenSearch's built-in templates (priority 0..) so ours wins for our prefixes
TEMPLATE_PRIORITY = 100
# doc_type "db_load": one document per instance x minute x top class (or "other") of the db_load table.
# Also put on an existing day index by the resource: an index created before these fields existed.
LOAD_PROPERTIES = {"rank": {"type": "integer"}, "aas": {"type": "double"}, "query_time_s": {"type": "double"},
                   "query_time_missing": {"type": "long"}}
_MANAGED_BY = "slowlog-pipeline"


def _keyword() -> dict:
    return {"type": "keyword", "ignore_above": 1024}


def _fingerprint() -> dict:
    # searchable as text, and aggregatable whole: fingerprints are long, hence the high ignore_above
    return {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 8191}}}


def _template(prefix: str, props: dict, kind: str, replicas: int | None, shards: int | None) -> dict:
    """A composable template for ``<prefix>*`` with strict mappings, above the built-in ones."""
    return {
        "index_patterns": [f"{prefix}*"],
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": index_settings(replicas, shards),
            "mappings": {"dynamic": "strict", "properties": props},
        },
        "_meta": {"managed_by": _MANAGED_BY, "kind": kind},
    }


def index_settings(replicas: int | None, shards: int | None) -> dict:
    """Index settings of a template; None leaves a setting out (Serverless rejects both)."""
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
    props["fingerprint"] = _fingerprint()
    props["example"] = {"type": "text"}
    props["count"] = {"type": "long"}
    for m in METRICS:
        for s in STATS:
            props[f"{m}_{s}"] = {"type": "double"}
    props["first_seen"] = {"type": "date"}
    props["last_seen"] = {"type": "date"}
    props.update(LOAD_PROPERTIES)
    return _template(prefix, props, "digest", replicas, shards)


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
        "fingerprint": _fingerprint(),
        "source_file": _keyword(),
        "source_offset": {"type": "long"},
    }
    return _template(prefix, props, "events", replicas, shards)


def template_name(prefix: str) -> str:
    """The template's name for an index prefix: ``slowlog-digest-`` -> ``slowlog-digest``."""
    return prefix.strip("-_.*") or "slowlog"


def with_content_hash(body: dict) -> dict:
    """A copy of ``body`` with ``_meta.hash`` = sha1 of its canonical JSON (the body without the hash),
    so that an unchanged template is not re-installed and a changed one is."""
    body = json.loads(json.dumps(body))
    digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()
    body["_meta"]["hash"] = digest
    return body


def index_templates(index_prefix: str, events_index_prefix: str, replicas: int | None,
                    shards: int | None) -> dict[str, dict]:
    """Template name -> body (with its content hash) for both index families."""
    return {
        template_name(index_prefix): with_content_hash(digest_template(index_prefix, replicas, shards)),
        template_name(events_index_prefix): with_content_hash(events_template(events_index_prefix, replicas, shards)),
    }
