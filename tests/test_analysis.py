"""analysis.load_events / load_digest: date and instance filters, event-time semantics, pruning."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from dagster_project import analysis
from dagster_project.slowlog.digest import DIGEST_SCHEMA
from dagster_project.slowlog.events import EVENT_SCHEMA
from dagster_project.warehouse import Warehouse

EV = "slow_query_events"
UTC = dt.timezone.utc


def events(instance: str, times: list[dt.datetime | None], qt: float = 1.0) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"ts": t, "instance": instance, "engine": "mysql", "query_time": qt, "checksum": "A" * 32,
             "query": f"select {i}", "source_offset": i}
            for i, t in enumerate(times)
        ],
        schema=EVENT_SCHEMA,
    )


def noon(day: str, seconds: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC) + dt.timedelta(seconds=seconds)


@pytest.fixture
def root(tmp_path, monkeypatch):
    r = tmp_path / "data"
    monkeypatch.setenv("SLOWLOG_DATA_ROOT", str(r))
    # 5 days x 3 instances, day index + 1 events each (instance db-3 twice as many)
    for d in range(5):
        day = (dt.date(2026, 2, 1) + dt.timedelta(days=d)).isoformat()
        for inst in ("db-1", "db-2", "db-3"):
            n = (d + 1) * (2 if inst == "db-3" else 1)
            Warehouse(str(r)).write_partition(EV, day, events(inst, [noon(day, i) for i in range(n)]), instance=inst)
    return r


def test_filters_by_date_and_instance(root):
    df = analysis.load_events()
    assert isinstance(df, pd.DataFrame)
    assert len(df) == (1 + 2 + 3 + 4 + 5) * 4  # db-1 + db-2 + 2 x db-3
    assert len(analysis.load_events("2026-02-02", "2026-02-03")) == (2 + 3) * 4
    assert len(analysis.load_events(dt.date(2026, 2, 2), dt.date(2026, 2, 2))) == 2 * 4
    assert len(analysis.load_events(start="2026-02-04")) == (4 + 5) * 4
    assert len(analysis.load_events(end="2026-02-01")) == 1 * 4
    assert len(analysis.load_events(instance="db-3")) == 15 * 2
    two = analysis.load_events("2026-02-05", "2026-02-05", instance=["db-1", "db-2"])
    assert len(two) == 10 and set(two["instance"]) == {"db-1", "db-2"}
    assert set(two["date"]) == {dt.date(2026, 2, 5)}
    assert len(analysis.load_events("2026-03-01", "2026-03-31")) == 0
    with pytest.raises(ValueError):
        analysis.load_events("2026-02-05", "2026-02-01")


def test_columns(root):
    df = analysis.load_events("2026-02-01", "2026-02-01", columns=["query_time", "instance"])
    assert list(df.columns) == ["query_time", "instance"] and len(df) == 4
    assert str(df["query_time"].dtype) == "float64"
    whole = analysis.load_events("2026-02-01", "2026-02-01", by="partition", columns=["ts"])
    assert list(whole.columns) == ["ts"]


def test_by_event_time_across_midnight(root):
    # a file of 2026-02-03 that starts with an event of 2026-02-02 23:59:59 and has an event
    # without a timestamp
    straddler = events("db-9", [dt.datetime(2026, 2, 2, 23, 59, 59, tzinfo=UTC), noon("2026-02-03"), None])
    Warehouse().write_partition(EV, "2026-02-03", straddler, instance="db-9")
    d2 = analysis.load_events("2026-02-02", "2026-02-02", instance="db-9")
    assert d2["ts"].tolist() == [pd.Timestamp("2026-02-02 23:59:59", tz="UTC")]
    d3 = analysis.load_events("2026-02-03", "2026-02-03", instance="db-9")
    assert len(d3) == 2 and d3["ts"].isna().sum() == 1  # null ts: kept by its partition day
    by_part = analysis.load_events("2026-02-03", "2026-02-03", instance="db-9", by="partition")
    assert len(by_part) == 3


def test_reads_only_needed_partitions(root):
    # corrupt everything outside 2026-02-02 .. 2026-02-04 (load_events("2026-02-03") reads one day
    # each side for midnight stragglers) and outside db-2
    keep = set(Warehouse().partition_files(EV, "2026-02-02", "2026-02-04", "db-2"))
    for path in Warehouse().partition_files(EV):
        if path not in keep:
            with open(path, "wb") as f:
                f.write(b"corrupt")
    assert len(analysis.load_events("2026-02-03", "2026-02-03", instance="db-2")) == 3
    assert len(analysis.load_events("2026-02-02", "2026-02-04", instance="db-2", by="partition")) == 2 + 3 + 4
    with pytest.raises(Exception):
        analysis.load_events(instance="db-1")


def test_load_digest(root):
    for day, counts in (("2026-02-01", {"db-1": 3, "db-2": 4}), ("2026-02-02", {"db-1": 5})):
        rows = []
        for inst, n in counts.items():
            row = dict.fromkeys(DIGEST_SCHEMA.names)
            row.update(date=dt.date.fromisoformat(day), instance=inst, checksum="C" * 32, count=n, hourly=[])
            rows.append(row)
        Warehouse().write_partition("query_digest", day, pa.Table.from_pylist(rows, schema=DIGEST_SCHEMA))
    assert analysis.load_digest()["count"].sum() == 12
    assert analysis.load_digest("2026-02-02")["count"].tolist() == [5]
    assert analysis.load_digest(instance="db-2")["count"].tolist() == [4]
    df = analysis.load_digest(end="2026-02-01", instance=["db-1", "db-2"], columns=["instance", "count"])
    assert list(df.columns) == ["instance", "count"] and df["count"].sum() == 7


def test_empty_warehouse(tmp_path):
    df = analysis.load_events(root=tmp_path / "nothing")
    assert len(df) == 0 and "query_time" in df.columns
    assert len(analysis.load_digest(root=str(tmp_path / "nothing"))) == 0
