"""Query regressions against a trailing baseline, on constructed digests."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from dagster_project.snapshots.regressions import (
    REGRESSIONS_SCHEMA,
    RegressionRules,
    find_regressions,
    to_table,
)

DAY = dt.date(2026, 3, 10)
BASE_DAYS = [DAY - dt.timedelta(days=i) for i in range(7, 0, -1)]


def row(day, checksum, count, p95, total, instance="db-1", fingerprint=None, example=None) -> dict:
    return {"date": day, "instance": instance, "checksum": checksum, "count": count,
            "query_time_p95": p95, "query_time_sum": total,
            "fingerprint": fingerprint or f"select * from t_{checksum.lower()} where id = ?",
            "example_redacted": example or f"select * from t_{checksum.lower()} where id = ?"}


def baseline(*specs, days=BASE_DAYS) -> pd.DataFrame:
    """specs: (checksum, count per day, p95, total per day[, instance])"""
    rows = []
    for d in days:
        for spec in specs:
            rows.append(row(d, *spec[:4], **({"instance": spec[4]} if len(spec) > 4 else {})))
    return pd.DataFrame(rows)


def today(*specs) -> pd.DataFrame:
    return pd.DataFrame([row(DAY, *s[:4], **({"instance": s[4]} if len(s) > 4 else {})) for s in specs])


def kinds(found: pd.DataFrame) -> dict:
    return {(r.instance, r.checksum): r.kind for r in found.itertuples()}


def test_stable_classes_are_not_reported():
    found = find_regressions(today(("A", 10, 1.0, 10.0), ("B", 5, 0.2, 1.0)),
                             baseline(("A", 10, 1.0, 10.0), ("B", 5, 0.2, 1.0)), day=DAY)
    assert found.empty
    assert list(found.columns) == REGRESSIONS_SCHEMA.names


def test_new_p95_total_and_both():
    base = baseline(("STABLE", 10, 1.0, 10.0), ("SLOWER", 10, 1.0, 10.0), ("BUSIER", 10, 1.0, 10.0),
                    ("WORSE", 10, 1.0, 10.0))
    cur = today(
        ("STABLE", 11, 1.2, 12.0),
        ("SLOWER", 10, 3.0, 15.0),   # p95 x3, total x1.5
        ("BUSIER", 50, 1.1, 50.0),   # total x5, p95 x1.1
        ("WORSE", 30, 2.5, 60.0),    # both
        ("FRESH", 2, 0.5, 1.0),      # not in the baseline
    )
    found = find_regressions(cur, base, day=DAY)
    assert kinds(found) == {("db-1", "SLOWER"): "p95", ("db-1", "BUSIER"): "total_time",
                            ("db-1", "WORSE"): "p95+total_time", ("db-1", "FRESH"): "new"}
    # sorted by today's total time
    assert list(found["checksum"]) == ["WORSE", "BUSIER", "SLOWER", "FRESH"]
    slower = found[found["checksum"] == "SLOWER"].iloc[0]
    assert slower["p95_ratio"] == pytest.approx(3.0) and slower["total_ratio"] == pytest.approx(1.5)
    assert slower["baseline_days"] == 7 and slower["baseline_count"] == 70
    assert slower["baseline_query_time_p95"] == pytest.approx(1.0)
    assert slower["baseline_query_time_sum"] == pytest.approx(10.0)
    fresh = found[found["checksum"] == "FRESH"].iloc[0]
    assert fresh["baseline_days"] == 0 and fresh["baseline_count"] == 0 and pd.isna(fresh["p95_ratio"])
    assert set(found["date"]) == {DAY} and set(found["factor"]) == {2.0}


def test_factor_is_configurable_and_inclusive():
    base = baseline(("A", 10, 1.0, 10.0))
    cur = today(("A", 10, 2.5, 10.0))
    assert kinds(find_regressions(cur, base, RegressionRules(factor=2.0))) == {("db-1", "A"): "p95"}
    assert find_regressions(cur, base, RegressionRules(factor=3.0)).empty
    assert kinds(find_regressions(cur, base, RegressionRules(factor=2.5))) == {("db-1", "A"): "p95"}


def test_min_baseline_count_guards_against_noise():
    base = baseline(("RARE", 1, 0.1, 0.1), days=BASE_DAYS[:3])  # 3 executions in the window
    cur = today(("RARE", 1, 5.0, 5.0))
    assert find_regressions(cur, base, RegressionRules(min_baseline_count=5)).empty
    assert kinds(find_regressions(cur, base, RegressionRules(min_baseline_count=3))) == {("db-1", "RARE"): "p95+total_time"}


def test_baseline_uses_the_days_a_class_was_seen():
    # rows without sketches (digests written before they existed): the baseline p95 falls back to
    # the largest daily p95 (an upper bound); with sketches it is the merged p95 (test_rollup.py)
    rows = [row(d, "NIGHTLY", 1, 10.0, 100.0) for d in BASE_DAYS[::3]]  # 3 of 7 days
    rows += [row(BASE_DAYS[1], "NIGHTLY", 1, 1000.0, 100.0)]  # one outlier day
    found = find_regressions(today(("NIGHTLY", 1, 15.0, 150.0)), pd.DataFrame(rows),
                             RegressionRules(min_baseline_count=1))
    assert found.empty  # 150 s vs a mean of 100 s per night; p95 15 vs the largest daily p95


def test_no_baseline_at_all_reports_nothing_as_new():
    cur = today(("A", 10, 1.0, 10.0))
    assert find_regressions(cur, baseline(days=[]), day=DAY).empty
    assert find_regressions(cur, pd.DataFrame(columns=["date", "instance", "checksum"]), day=DAY).empty
    # an explicit count of baseline days with a digest (e.g. days with zero classes) enables "new"
    found = find_regressions(cur, baseline(days=[]), baseline_days_available=3, day=DAY)
    assert kinds(found) == {("db-1", "A"): "new"}


def test_classes_are_per_instance():
    base = baseline(("A", 10, 1.0, 10.0, "db-1"))
    found = find_regressions(today(("A", 10, 1.0, 10.0, "db-1"), ("A", 10, 1.0, 10.0, "db-2")), base)
    assert kinds(found) == {("db-2", "A"): "new"}


def test_min_count_and_min_total_time_filter_the_report():
    base = baseline(("A", 10, 1.0, 10.0))
    cur = today(("A", 10, 3.0, 30.0), ("NEW", 1, 0.01, 0.01))
    assert set(kinds(find_regressions(cur, base, RegressionRules(min_count=2)))) == {("db-1", "A")}
    assert set(kinds(find_regressions(cur, base, RegressionRules(min_query_time_sum=1.0)))) == {("db-1", "A")}


def test_text_is_redacted():
    cur = pd.DataFrame([row(DAY, "LEAK", 3, 1.0, 3.0, fingerprint="select * from users where email = 'bob@example.com'",
                            example="select * from users where email = 'bob@example.com' and id = 991")])
    found = find_regressions(cur, baseline(("OTHER", 10, 1.0, 1.0)))
    assert found.iloc[0]["fingerprint"] == "select * from users where email = ?"
    assert "bob@" not in found.iloc[0]["example_redacted"] and "991" not in found.iloc[0]["example_redacted"]


def test_to_table_and_empty():
    found = find_regressions(today(("A", 10, 3.0, 30.0)), baseline(("A", 10, 1.0, 10.0)), day=DAY)
    table = to_table(found)
    assert table.schema.equals(REGRESSIONS_SCHEMA) and table.num_rows == 1
    assert table.column("date").to_pylist() == [DAY]
    empty = find_regressions(today(), baseline(("A", 10, 1.0, 10.0)), day=DAY)
    assert empty.empty and to_table(empty).schema.equals(REGRESSIONS_SCHEMA)
    assert isinstance(to_table(empty), pa.Table)


@pytest.mark.parametrize("kwargs", [{"factor": 1.0}, {"factor": float("nan")}, {"min_baseline_count": 0},
                                    {"min_count": 0}, {"min_query_time_sum": -1}])
def test_rules_are_validated(kwargs):
    with pytest.raises(ValueError):
        RegressionRules(**kwargs)
