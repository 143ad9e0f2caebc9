"""DB load per minute (slowlog/load.py), its chart (snapshots/db_load_chart.py) and its OpenSearch
documents, on the sample estate's week (captured from real servers)."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

from dagster_project.opensearch.documents import load_documents
from dagster_project.slowlog.load import DB_LOAD_SCHEMA, LoadSeries, split_by_minute
from dagster_project.slowlog.parse import parse_log
from dagster_project.snapshots.db_load_chart import REGRESSION_COLOR, db_load_chart, db_load_figure

ESTATE = Path(__file__).resolve().parents[2] / "dagster_project" / "sample_data" / "rds"
DAYS = [dt.date(2026, 11, 18) + dt.timedelta(days=i) for i in range(7)]
_DAY = re.compile(r"(2026-11-\d\d)")


@pytest.fixture(scope="module")
def week():
    """day -> (db_load table, events table) for each day of the sample estate."""
    out = {}
    for day in DAYS:
        load, events = LoadSeries(), []
        for inst_dir in sorted(p for p in ESTATE.iterdir() if p.is_dir()):
            for path in sorted(p for p in inst_dir.rglob("*.gz") if _DAY.search(p.name).group(1) == day.isoformat()):
                for batch in parse_log(path, instance=inst_dir.name):
                    load.add(batch)
                    events.append(pa.Table.from_batches([batch]).select(["ts", "instance", "checksum", "query_time"]))
        out[day] = (load.to_table(day), pa.concat_tables(events).to_pandas())
    return out


def test_a_long_query_is_spread_over_the_minutes_it_spans():
    end = pd.Timestamp("2026-11-24 12:02:30", tz="UTC").value // 1000
    idx, minute, seconds = split_by_minute(np.array([end, end]), np.array([150.0, 0.5]))
    assert idx.tolist() == [0, 0, 0, 1]
    start_minute = pd.Timestamp("2026-11-24 12:00", tz="UTC").value // 60_000_000_000
    assert (minute - start_minute).tolist() == [0, 1, 2, 2]
    assert seconds.tolist() == pytest.approx([60.0, 60.0, 30.0, 0.5])


def test_series_accounts_for_every_second_of_query_time(week):
    for day, (table, events) in week.items():
        assert table.schema == DB_LOAD_SCHEMA
        df = table.to_pandas()
        assert df["query_time_s"].sum() == pytest.approx(events["query_time"].sum(), rel=1e-9, abs=1e-9)
        per_instance = df.groupby("instance")["query_time_s"].sum()
        assert per_instance.to_dict() == pytest.approx(events.groupby("instance")["query_time"].sum().to_dict(), rel=1e-9, abs=1e-9)
        assert df["aas"].to_numpy() == pytest.approx(df["query_time_s"].to_numpy() / 60.0)
        assert (df["minute"].dt.second == 0).all()
        assert df.groupby("instance")["rank"].max().max() <= 10
        assert df[df["rank"] == 0]["checksum"].isna().all() and df[df["rank"] > 0]["checksum"].notna().all()
        # rank 1 is the class with the most query time on the instance that day
        for inst, g in events.groupby("instance"):
            top = g.groupby("checksum")["query_time"].sum().idxmax()
            assert set(df[(df["instance"] == inst) & (df["rank"] == 1)]["checksum"]) == {top}


def test_the_regression_day_stands_out(week, tmp_path):
    last = DAYS[-1]
    baseline = pd.concat([week[d][0].to_pandas() for d in DAYS[:-1]])
    fig = db_load_figure(week[last][0].to_pandas(), last, baseline, baseline_days=6)
    headers = {ax.get_title(loc="left").split(" · ")[0]: ax._left_title for ax in fig.axes if ax.get_title(loc="left")}
    assert list(headers)[0] == "orders-db"  # the busiest instance comes first
    assert headers["orders-db"].get_color() == REGRESSION_COLOR
    ratio = float(re.search(r"([\d.]+)× the daily mean", headers["orders-db"].get_text()).group(1))
    assert ratio > 5
    assert headers["users-db"].get_color() != REGRESSION_COLOR
    path = db_load_chart(week[last][0].to_pandas(), last, tmp_path / "db_load.png", baseline, 6)
    with Image.open(path) as img:
        assert img.size[0] == 1600 and 900 <= img.size[1] <= 1400
    # a quiet day of the same week: no instance in red
    quiet = db_load_figure(week[DAYS[-2]][0].to_pandas(), DAYS[-2],
                           pd.concat([week[d][0].to_pandas() for d in DAYS[:-2]]), baseline_days=5)
    assert all(ax._left_title.get_color() != REGRESSION_COLOR for ax in quiet.axes)


def test_empty_day_draws_a_message(tmp_path):
    fig = db_load_figure(DB_LOAD_SCHEMA.empty_table().to_pandas(), DAYS[0])
    assert "No slow queries" in fig.axes[0].texts[0].get_text()


def test_opensearch_documents_are_redacted_and_stable(week):
    table = week[DAYS[-1]][0]
    docs = list(load_documents(table, DAYS[-1]))
    assert len(docs) == table.num_rows and len({i for i, _ in docs}) == len(docs)
    assert docs == list(load_documents(table, DAYS[-1]))
    others = [d for _, d in docs if d["checksum"] is None]
    assert all(d["fingerprint"] == "other" and d["rank"] == 0 for d in others)
    assert all(d["doc_type"] == "db_load" and d["@timestamp"].endswith(":00+00:00") for _, d in docs)
    assert not any(re.search(r"\b\d{3,}\b", d["fingerprint"] or "") for _, d in docs)
