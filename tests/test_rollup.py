"""Daily digests merged into a week (rollup.merge_digest, analysis.load_digest) against the raw events
of the sample estate's week (captured from real servers): counts, sums, min, max exact, stddev to
float rounding, quantiles within the sketch's 1%; and a week's p95 merged in plain DuckDB SQL."""
from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dagster_project import analysis
from dagster_project.rollup import merge_digest
from dagster_project.slowlog.digest import Digest
from dagster_project.slowlog.parse import parse_log
from dagster_project.slowlog.sketch import GAMMA, Sketch, quantile_from_counts
from dagster_project.warehouse import Warehouse
from tests.support.corpus import REPO

ESTATE = REPO / "dagster_project" / "sample_data" / "rds"
DAYS = [dt.date(2026, 11, 18) + dt.timedelta(days=i) for i in range(7)]
_DAY = re.compile(r"(2026-11-\d\d)")
README = REPO / "README.md"


def _exact(values: np.ndarray, q: float) -> float:
    v = np.sort(values)
    return float(v[max(1, math.ceil(q * len(v))) - 1])


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """Each day's digest written to a warehouse, and every event of the week (one table)."""
    root = str(tmp_path_factory.mktemp("rollup") / "data")
    events = []
    for day in DAYS:
        digest = Digest(group_by=("instance", "checksum"), hourly=True)
        for inst_dir in sorted(ESTATE.iterdir()):
            if not inst_dir.is_dir():
                continue
            for path in sorted(p for p in inst_dir.rglob("*.gz") if _DAY.search(p.name).group(1) == day.isoformat()):
                for batch in parse_log(path, instance=inst_dir.name):
                    digest.add(batch)
                    t = pa.Table.from_batches([batch]).select(["instance", "checksum", "query_time"])
                    events.append(t.append_column("day", pa.array([day] * t.num_rows, pa.date32())))
        Warehouse(root).write_partition("query_digest", day, digest.to_table(day))
    return root, pa.concat_tables(events).to_pandas()


def test_week_merged_from_daily_digests_matches_the_raw_events(week):
    root, events = week
    merged = analysis.load_digest(DAYS[0], DAYS[-1], root=root)
    groups = events.groupby(["instance", "checksum"])
    assert len(merged) == groups.ngroups and merged["count"].sum() == len(events)
    assert (merged["days"] >= 1).all() and merged["days"].max() == 7
    by_key = merged.set_index(["instance", "checksum"])
    worst = 0.0
    for key, g in groups:
        row = by_key.loc[key]
        x = g["query_time"].dropna().to_numpy()
        assert row["count"] == len(g) and row["query_time_missing"] == len(g) - len(x)
        assert row["query_time_sum"] == pytest.approx(x.sum(), rel=1e-12, abs=1e-12)
        assert row["query_time_min"] == x.min() and row["query_time_max"] == x.max()
        assert row["query_time_avg"] == pytest.approx(x.mean(), rel=1e-12)
        if len(x) > 1:
            assert row["query_time_stddev"] == pytest.approx(x.std(ddof=1), rel=1e-6, abs=1e-12)
        for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            exact = _exact(x, q)
            assert row[f"query_time_{name}"] == pytest.approx(exact, rel=(GAMMA - 1) / (GAMMA + 1), abs=1e-12)
            worst = max(worst, abs(row[f"query_time_{name}"] - exact) / exact if exact else 0.0)
        assert sum(row["query_time_sketch_count"]) == len(x)
    assert worst < 0.01


def test_merge_is_associative_and_one_day_is_as_stored(week):
    root, _ = week
    whole = analysis.load_digest(DAYS[0], DAYS[-1], root=root).set_index(["instance", "checksum"]).sort_index()
    halves = merge_digest(pa.concat_tables([
        pa.Table.from_pandas(analysis.load_digest(DAYS[0], DAYS[2], root=root), preserve_index=False),
        pa.Table.from_pandas(analysis.load_digest(DAYS[3], DAYS[-1], root=root), preserve_index=False),
    ], promote_options="permissive")).set_index(["instance", "checksum"]).sort_index()
    for col in ("count", "query_time_sum", "query_time_max", "query_time_p95", "rows_examined_p99"):
        assert np.allclose(whole[col].to_numpy(dtype=float), halves[col].to_numpy(dtype=float), rtol=1e-12), col
    day = analysis.load_digest(DAYS[-1], root=root)
    stored = Warehouse(root).read_table("query_digest", DAYS[-1], DAYS[-1]).to_pandas()
    assert day.equals(stored) and "days" not in day


def test_load_digest_needs_no_events_table(week):
    root, _ = week
    assert not (Path(root) / "warehouse" / "slow_query_events").exists()
    merged = analysis.load_digest(DAYS[0], DAYS[-1], root=root)
    assert merged["first_seen"].notna().all() and merged["example"].notna().all()
    assert (merged["first_seen"] <= merged["last_seen"]).all()


def test_the_readme_duckdb_week_p95_is_the_merged_sketch(week):
    duckdb = pytest.importorskip("duckdb")
    root, _ = week
    text = README.read_text()
    block = re.search(r"```python\n(import duckdb\n\n# a week's p95 .*?)```", text, re.S)
    assert block, "README: the DuckDB week p95 block is missing"
    sql = re.search(r'"""(.*?)"""', block.group(1), re.S).group(1)
    sql = sql.replace("data/warehouse", f"{root}/warehouse")
    got = duckdb.sql(sql).df().set_index(["instance", "checksum"])
    merged = analysis.load_digest(DAYS[0], DAYS[-1], root=root).set_index(["instance", "checksum"])
    assert len(got) == min(len(merged), 10)
    for key, row in got.iterrows():
        assert row["calls"] == merged.loc[key, "count"]
        assert row["p95_s"] == pytest.approx(merged.loc[key, "query_time_p95"], rel=1e-9)


def test_sketch_portable_form_round_trips():
    sk = Sketch()
    sk.zeros = 3
    sk.buckets.update({-300: 2, 5: 7, 40: 1})
    buckets, counts = sk.to_lists()
    assert buckets[0] == -(2**31) and counts == [3, 2, 7, 1]
    for q in (0.1, 0.25, 0.5, 0.95, 1.0):
        assert quantile_from_counts(buckets, counts, q, 0.0, 10.0) == sk.quantile(q, sk.n, 0.0, 10.0)


def test_monday_report_has_the_week_merged_from_the_digests(week):
    from dagster_project.snapshots.slack_message import build_report_text

    root, events = week
    monday = dt.date(2026, 11, 23)
    assert monday.weekday() == 0
    first = monday - dt.timedelta(days=6)
    merged = analysis.load_digest(first, monday, root=root)
    text = build_report_text(monday, analysis.load_digest(monday, root=root), None, week=merged,
                             week_days=(first, monday), load=[("orders-db", 10.6, 12.8), ("users-db", 1.4, 0.9)])
    n_week = int(merged["count"].sum())
    assert f"*Week 2026-11-17 – 2026-11-23*: {n_week:,} events · {len(merged)} query classes" in text
    assert text.count("(week)") == 3
    assert "*DB load*" in text and "`orders-db` 10.6 s (*×12.8*)" in text and "`users-db` 1.4 s (×0.9)" in text
    tuesday = build_report_text(monday + dt.timedelta(days=1), analysis.load_digest(DAYS[-1], root=root), None)
    assert "*Week" not in tuesday


def test_regression_baseline_is_the_p95_of_the_trailing_week(week):
    """The last day's regressions (an index dropped on orders-db) against the six days before: the
    baseline p95 is the p95 of every baseline execution (merged sketches), not a mean of daily p95s."""
    from dagster_project.snapshots.regressions import find_regressions

    root, events = week
    current = analysis.load_digest(DAYS[-1], root=root)
    baseline = analysis.load_digest(DAYS[0], DAYS[-2], root=root)
    found = find_regressions(current, baseline, baseline_days_available=6, day=DAYS[-1])
    top = found.iloc[0]
    assert top["instance"] == "orders-db" and top["kind"] == "p95+total_time"
    assert top["fingerprint"].startswith("select id, total, status, created_at from orders")
    before = events[(events["day"] < DAYS[-1]) & (events["instance"] == "orders-db")
                    & (events["checksum"] == top["checksum"])]["query_time"].dropna().to_numpy()
    assert top["baseline_count"] == len(before)
    assert top["baseline_query_time_p95"] == pytest.approx(_exact(before, 0.95), rel=0.01)
    assert top["baseline_days"] == len(set(events[(events["day"] < DAYS[-1]) & (events["checksum"] == top["checksum"])]["day"]))
    assert top["baseline_query_time_sum"] == pytest.approx(before.sum() / top["baseline_days"], rel=1e-12)
