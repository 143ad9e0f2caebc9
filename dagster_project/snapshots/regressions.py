"""Query regressions: a day's query classes against a trailing baseline (default the 7 days before).

A class is an (instance, checksum) pair of the ``query_digest`` table. It is reported when

* **new**: it does not appear in any baseline day (only when the baseline window holds at least one
  day of digest, otherwise every class would be "new");
* **p95**: its p95 query time is at least ``factor`` x its baseline p95: the p95 of every execution
  of the baseline window, from the merged daily sketches (:mod:`dagster_project.rollup`; within 1%),
  not an average of daily p95s;
* **total_time**: its total query time is at least ``factor`` x its baseline daily total (the mean
  over the baseline days it was seen, so a nightly job is compared with its own nights).

p95 / total comparisons need ``min_baseline_count`` baseline executions (noise guard); every
reported class needs ``min_count`` executions today and ``min_query_time_sum`` seconds of total
time today. Fingerprints and examples are redacted (no literal leaves the warehouse).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from dagster_project.rollup import merge_digest
from dagster_project.slowlog.digest_cap import OVERFLOW_CHECKSUM
from dagster_project.slowlog.redact import redact_query

__all__ = ["RegressionRules", "REGRESSIONS_TABLE", "REGRESSIONS_SCHEMA", "find_regressions", "to_table"]

REGRESSIONS_TABLE = "query_regressions"
KINDS = ("new", "p95", "total_time")

REGRESSIONS_SCHEMA = pa.schema([
    pa.field("date", pa.date32()),
    pa.field("instance", pa.string()),
    pa.field("checksum", pa.string()),
    pa.field("kind", pa.string()),  # "new" | "p95" | "total_time" | "p95+total_time"
    pa.field("fingerprint", pa.string()),  # redacted
    pa.field("count", pa.int64()),
    pa.field("query_time_sum", pa.float64()),
    pa.field("query_time_p95", pa.float64()),
    pa.field("baseline_days", pa.int32()),  # baseline days the class was seen on
    pa.field("baseline_count", pa.int64()),
    pa.field("baseline_query_time_sum", pa.float64()),  # mean daily total over the days seen
    pa.field("baseline_query_time_p95", pa.float64()),  # p95 of the merged baseline sketch
    pa.field("p95_ratio", pa.float64()),
    pa.field("total_ratio", pa.float64()),
    pa.field("factor", pa.float64()),
    pa.field("example_redacted", pa.string()),
])
COLUMNS = REGRESSIONS_SCHEMA.names


@dataclass(frozen=True)
class RegressionRules:
    factor: float = 2.0
    min_baseline_count: int = 5
    min_count: int = 1
    min_query_time_sum: float = 0.0

    def __post_init__(self) -> None:
        if not (self.factor > 1.0 and math.isfinite(self.factor)):
            raise ValueError(f"factor must be a number greater than 1, got {self.factor!r}")
        if self.min_baseline_count < 1 or self.min_count < 1:
            raise ValueError("min_baseline_count and min_count must be at least 1")
        if self.min_query_time_sum < 0:
            raise ValueError("min_query_time_sum must be >= 0")


def _baseline(baseline: pd.DataFrame) -> pd.DataFrame:
    cols = ["baseline_days", "baseline_count", "baseline_query_time_sum", "baseline_query_time_p95"]
    if baseline is None or baseline.empty:
        return pd.DataFrame(columns=["instance", "checksum", *cols]).set_index(["instance", "checksum"])
    # the baseline days merged into one row per class: p95 of the merged sketches (the week's p95
    # over every execution of the week, within 1%), exact counts and totals
    merged = baseline if "days" in baseline else merge_digest(baseline)
    out = pd.DataFrame({
        "instance": merged["instance"], "checksum": merged["checksum"],
        "baseline_days": merged["days"].astype("int32"),
        "baseline_count": merged["count"].astype("int64"),
        "baseline_query_time_sum": merged["query_time_sum"] / merged["days"].clip(lower=1),
        "baseline_query_time_p95": merged["query_time_p95"],
    })
    return out.set_index(["instance", "checksum"])


def _ratio(now: pd.Series, base: pd.Series) -> pd.Series:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = now.astype(float) / base.astype(float)
    return r.where(base.astype(float) > 0)


def find_regressions(
    current: pd.DataFrame,
    baseline: pd.DataFrame,
    rules: RegressionRules | None = None,
    *,
    baseline_days_available: int | None = None,
    day=None,
) -> pd.DataFrame:
    """The regressed classes of ``current`` (one day's digest) against ``baseline`` (the digest
    rows of the baseline days), sorted by total query time, descending; columns of
    :data:`REGRESSIONS_SCHEMA`.

    ``baseline_days_available``: how many baseline days have a digest partition (default: the
    distinct ``date`` values of ``baseline``); with 0, no class is reported as new.
    """
    rules = rules or RegressionRules()
    if current is None or current.empty:
        return pd.DataFrame({c: pd.Series(dtype=f.type.to_pandas_dtype()) for c, f in zip(COLUMNS, REGRESSIONS_SCHEMA)})
    if baseline_days_available is None:
        baseline_days_available = int(baseline["date"].nunique()) if baseline is not None and "date" in baseline else 0

    # the overflow row is the sum of many evicted classes, not a class: it cannot regress as one
    current = current[current["checksum"] != OVERFLOW_CHECKSUM]
    cur = current.groupby(["instance", "checksum"], dropna=False).agg(
        fingerprint=("fingerprint", "first"),
        count=("count", "sum"),
        query_time_sum=("query_time_sum", "sum"),
        query_time_p95=("query_time_p95", "max"),
        example_redacted=("example_redacted", "first") if "example_redacted" in current else ("fingerprint", "first"),
        **({"engine": ("engine", "first")} if "engine" in current else {}),
    )
    df = cur.join(_baseline(baseline), how="left")
    seen = df["baseline_days"].notna()
    enough = seen & (df["baseline_count"].fillna(0) >= rules.min_baseline_count)
    df["p95_ratio"] = _ratio(df["query_time_p95"], df["baseline_query_time_p95"])
    df["total_ratio"] = _ratio(df["query_time_sum"], df["baseline_query_time_sum"])

    is_new = ~seen & (baseline_days_available > 0)
    p95_up = enough & (df["p95_ratio"] >= rules.factor)
    total_up = enough & (df["total_ratio"] >= rules.factor)
    relevant = (df["count"] >= rules.min_count) & (df["query_time_sum"].fillna(0) >= rules.min_query_time_sum)
    kind = pd.Series("", index=df.index, dtype=object)
    kind[is_new] = "new"
    kind[p95_up & total_up] = "p95+total_time"
    kind[p95_up & ~total_up] = "p95"
    kind[total_up & ~p95_up] = "total_time"
    df["kind"] = kind
    out = df[(kind != "") & relevant].reset_index()
    engines = out["engine"] if "engine" in out else [None] * len(out)
    out["fingerprint"] = [redact_query(f, e) if isinstance(f, str) else f for f, e in zip(out["fingerprint"], engines)]
    out["example_redacted"] = [redact_query(x, e) if isinstance(x, str) else x
                               for x, e in zip(out["example_redacted"], engines)]
    out["factor"] = float(rules.factor)
    out["date"] = pd.to_datetime(day).date() if day is not None else (
        current["date"].iloc[0] if "date" in current else None)
    out["baseline_days"] = out["baseline_days"].fillna(0).astype("int32")
    out["baseline_count"] = out["baseline_count"].fillna(0).astype("int64")
    out = out.sort_values(["query_time_sum", "instance", "checksum"], ascending=[False, True, True])
    return out[COLUMNS].reset_index(drop=True)


def to_table(regressions: pd.DataFrame) -> pa.Table:
    """``regressions`` as a table of :data:`REGRESSIONS_SCHEMA` (for the warehouse)."""
    if regressions.empty:
        return REGRESSIONS_SCHEMA.empty_table()
    df = regressions.copy()
    df["date"] = [None if d is None or (isinstance(d, float) and math.isnan(d)) else pd.Timestamp(d).date()
                  for d in df["date"]]
    return pa.Table.from_pandas(df[COLUMNS], schema=REGRESSIONS_SCHEMA, preserve_index=False)
