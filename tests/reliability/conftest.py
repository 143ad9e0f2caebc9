"""Fixtures and helpers of the reliability tests (faults and bad input, end to end through Dagster).

* ``opensearch_url``: the real OpenSearch node of ``tests/integration/conftest.py`` (re-exported).
* ``data_root``: a fresh ``SLOWLOG_DATA_ROOT`` per test.
* ``rds_log(hour, reps)``: real corpus slow logs moved to ``DAY``/``hour`` (RDS-like content).
* ``rds_resource(srv, ...)``: an ``RDSLogSourceResource`` on the local RDS API server, fake keys,
  botocore retries off and a fast loop-level backoff (the retries under test are ours).
* ``expected_events(content, instance, name)`` / ``stored_events(day, instance)``: the events parsed
  straight from a file's final bytes vs. what the warehouse holds, in one comparable form.
"""
from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path

import pyarrow as pa
import pytest

from dagster_project import analysis
from dagster_project.resources.aws import RDSLogSourceResource
from dagster_project.slowlog.events import EVENT_SCHEMA
from dagster_project.slowlog.parse import parse_log
from tests.dagster.conftest import GOOD_LOGS, relocate_times
from tests.integration.conftest import opensearch_url  # noqa: F401  (re-exported fixture)
from tests.support import UTF8_ENTRY

DAY = dt.date(2026, 11, 20)
AWS_KEY_ID = "AKIAFAKE0RELIABILITY1"
AWS_SECRET = "fake-secret-r3liab1lity-Kx9wQz"
# The columns an event is compared on (every stored column but the partition keys).
EVENT_COLUMNS = EVENT_SCHEMA.names


def rds_name(hour: int, day: dt.date = DAY) -> str:
    return f"slowquery/mysql-slowquery.log.{day.isoformat()}.{hour:02d}"


def rds_log(hour: int, reps: int = 1, day: dt.date = DAY) -> bytes:
    """Every good corpus log plus a UTF-8/XML-special entry, ``reps`` times, moved to day/hour."""
    one = b"".join(
        (p.read_bytes() if p.read_bytes().endswith(b"\n") else p.read_bytes() + b"\n") for p in GOOD_LOGS
    ) + UTF8_ENTRY.encode("utf-8")
    return relocate_times(one * reps, day, hour)


def rds_resource(srv, instances=("db-1",), **kwargs) -> RDSLogSourceResource:
    args = dict(
        instances=list(instances),
        region_name="us-east-1",
        endpoint_url=srv.endpoint_url,
        aws_access_key_id=AWS_KEY_ID,
        aws_secret_access_key=AWS_SECRET,
        max_attempts=0,  # botocore's own retries off: its backoff is slow; the loop-level ones are tested
        max_loop_retries=8,
        backoff_base=0.001,
    )
    args.update(kwargs)
    return RDSLogSourceResource(**args)


def _rows(table: pa.Table) -> list[dict]:
    table = table.select([c for c in EVENT_COLUMNS if c in table.column_names])
    rows = table.to_pylist()
    return sorted(rows, key=lambda r: (r["source_file"] or "", r["source_offset"] or 0))


def expected_events(content: bytes, instance: str, name: str, engine: str = "mysql") -> list[dict]:
    """Events parsed directly from the final bytes of one file (what ingestion must store)."""
    local = name.rsplit("/", 1)[-1]
    return _rows(parse_log(io.BytesIO(content), instance=instance, engine=engine, source_file=local).read_all())


def stored_events(day: dt.date, instance: str, root: str | os.PathLike | None = None) -> list[dict]:
    """The warehouse rows of one day x instance partition, via ``analysis.load_events``' reader."""
    return _rows(analysis.read_events(day, day, instance=instance, root=root, by="partition"))


def event_log_text(result, instance=None) -> str:
    """Everything the run recorded: every stored event record (``instance``), every event (str),
    its metadata and error chains, and the stored run."""
    parts = []
    if instance is not None:
        parts += [str(r) for r in instance.all_logs(result.run_id)]
        parts.append(str(instance.get_run_by_id(result.run_id)))
    for ev in result.all_events:
        parts.append(str(ev))
        data = ev.event_specific_data
        err = getattr(data, "error", None)
        if err is not None:
            parts.append(err.to_string())
        for md in (getattr(getattr(data, "materialization", None), "metadata", None) or {}).values():
            parts.append(str(getattr(md, "value", md)))
    return "\n".join(parts)


def failure_message(result) -> str:
    """The step failure(s) of a run as users see them (description + error chain)."""
    out = []
    for ev in result.all_events:
        if ev.event_type_value == "STEP_FAILURE":
            data = ev.step_failure_data
            if data.user_failure_data and data.user_failure_data.description:
                out.append(data.user_failure_data.description)
            out.append(data.error.to_string())
    return "\n".join(out)


def hidden_leftovers(root: Path) -> list[str]:
    """Temp/staging files and folders left anywhere under a data root."""
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*")
        if p.name.startswith(".") and any(t in p.name for t in (".tmp-", ".old-", ".staging-", ".part"))
    )


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "data"
    monkeypatch.setenv("SLOWLOG_DATA_ROOT", str(root))
    monkeypatch.delenv("SLOWLOG_MAX_REJECTED_RATIO", raising=False)
    return root


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch):
    for key in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_ENDPOINT_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL_ID"):
        monkeypatch.delenv(key, raising=False)
