"""Helpers of the end-to-end ingest tests (RDS-like estate on ``DAY``, faults, concurrency, secrets).

* ``rds_log(hour, reps)``: real corpus slow logs moved to ``DAY``/``hour`` (RDS-like content);
  ``rds_name(hour)``: its name on RDS.
* ``rds_resource(srv, ...)``: an ``RDSLogSourceResource`` on the local RDS API server, fake keys,
  botocore retries off and a fast loop-level backoff (the retries under test are ours).
* ``expected_events(content, instance, name)`` / ``stored_events(day, instance)``: the events parsed
  straight from a file's final bytes vs. what the warehouse holds, in one comparable form.
* ``materialize(resource)``: ``slow_log_files`` + ``slow_query_events`` for ``DAY``;
  ``assert_nothing_lost(srv, data_root, instance, names)``: raw copies == served bytes and stored
  events == events parsed from them.
"""
from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pyarrow as pa

from dagster_project import analysis
from dagster_project.assets.ingest import SLOW_LOG_FILES, SLOW_QUERY_EVENTS, ingest_assets
from dagster_project.resources.aws import RDSLogSourceResource
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.slowlog.events import EVENT_SCHEMA
from dagster_project.slowlog.parse import parse_log
from tests.support import UTF8_ENTRY
from tests.support.source_tree import GOOD_LOGS, relocate_times

if TYPE_CHECKING:
    from tests.support.rds_api_server import RDSApiServer

DAY = dt.date(2026, 11, 20)
KEY = DAY.isoformat()
AWS_KEY_ID = "AKIAFAKE0RELIABILITY1"
AWS_SECRET = "fake-secret-r3liab1lity-Kx9wQz"
# The columns an event is compared on (every stored column but the partition keys).
EVENT_COLUMNS = EVENT_SCHEMA.names
INGEST = ingest_assets


def rds_name(hour: int, day: dt.date = DAY) -> str:
    return f"slowquery/mysql-slowquery.log.{day.isoformat()}.{hour:02d}"


def rds_log(hour: int, reps: int = 1, day: dt.date = DAY) -> bytes:
    """Every good corpus log plus a UTF-8/XML-special entry, ``reps`` times, moved to day/hour."""
    one = b"".join(
        (p.read_bytes() if p.read_bytes().endswith(b"\n") else p.read_bytes() + b"\n") for p in GOOD_LOGS
    ) + UTF8_ENTRY.encode("utf-8")
    return relocate_times(one * reps, day, hour)


def log_entries(hour: int, n: int) -> list[bytes]:
    """The first ``n`` whole entries of ``rds_log(hour)``."""
    text = rds_log(hour).decode()
    parts = [p for p in text.split("# Time: ")[1:]][:n]
    return [("# Time: " + p).encode() for p in parts]


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


def hidden_leftovers(root: Path) -> list[str]:
    """Temp/staging files and folders left anywhere under a data root."""
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*")
        if p.name.startswith(".") and any(t in p.name for t in (".tmp-", ".old-", ".staging-", ".part"))
    )


def materialize(resource, assets=INGEST, **kwargs) -> dg.ExecuteInProcessResult:
    """``assets`` (default: both ingest assets) for ``DAY``; ``selection=[SLOW_QUERY_EVENTS]`` re-parses
    ``raw/`` alone, ``selection=[SLOW_LOG_FILES]`` downloads alone."""
    return dg.materialize(assets, resources={"data_root": DataRootResource(), "log_source": resource}, partition_key=KEY, raise_on_error=False,
                          **kwargs)


def raw_path(data_root: Path, instance: str, name: str) -> Path:
    return data_root / "raw" / f"date={KEY}" / f"instance={instance}" / name.rsplit("/", 1)[-1]


def served_expectation(srv: RDSApiServer, instance: str, names) -> list[dict]:
    rows = []
    for name in names:
        rows += expected_events(srv.served_bytes(instance, name), instance, name)
    return sorted(rows, key=lambda r: (r["source_file"], r["source_offset"]))


def assert_nothing_lost(srv: RDSApiServer, data_root: Path, instance: str, names) -> int:
    """Raw copies == what the server serves now; Parquet rows == events parsed from those bytes."""
    for name in names:
        assert raw_path(data_root, instance, name).read_bytes() == srv.served_bytes(instance, name), name
    expected = served_expectation(srv, instance, names)
    stored = stored_events(DAY, instance)
    assert len(stored) == len(expected) and stored == expected  # events lost = 0, none duplicated
    assert analysis.load_events(DAY, DAY, instance=instance, by="partition").shape[0] == len(expected)
    return len(expected)
