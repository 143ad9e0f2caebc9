"""Merge ``query_digest`` rows (days) into one row per instance x query class, from the rows alone.

Exact: ``count``, ``<m>_missing``, ``<m>_sum``, ``<m>_min``, ``<m>_max``, ``<m>_avg`` (sum over the
events that have a value), ``<m>_stddev`` (sample standard deviation, recombined from each day's
count, mean and stddev with the parallel-variance formula: exact up to float rounding),
``first_seen`` / ``last_seen``. Quantiles (``p50``, ``p95``, ``p99``) come from the sum of the daily
sketches (:mod:`dagster_project.slowlog.sketch`): within 1% of the exact nearest-rank quantile of
the range's events. The merged sketch is returned too, so a result merges again.

``example`` (and ``example_redacted``) is the one of the day with the largest ``query_time_max`` (the
slowest execution, as pt-query-digest picks it); ``db`` / ``user`` / ``host`` those of the day with
the most executions; ``hourly`` sums count and query time per hour of day (an hourly p95 is not
mergeable: null). ``date`` is the range's first day; ``days`` counts the days the class was seen.

The overflow rows (checksum :data:`~dagster_project.slowlog.digest_cap.OVERFLOW_CHECKSUM`: the events
of the classes past a digest's cap) merge like a class, into one row per instance, last. With
``max_classes``, the classes of an instance past the first ``max_classes`` (most query time) join
it, so a merged range stays capped too; sums over the rows stay every event's.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dagster_project.slowlog.digest import DIGEST_SCHEMA, METRICS, QUANTILES, SKETCH_COLUMNS
from dagster_project.slowlog.digest_cap import OVERFLOW_CHECKSUM, OVERFLOW_FINGERPRINT
from dagster_project.slowlog.sketch import GAMMA, ZERO_BUCKET

__all__ = ["merge_digest", "sketch_quantiles"]

KEYS = ["instance", "checksum"]


def sketch_quantiles(gid: np.ndarray, buckets: np.ndarray, counts: np.ndarray, n_groups: int,
                     qs: list[float]) -> tuple[dict[float, np.ndarray], list[list[int]], list[list[int]], np.ndarray]:
    """Merge (group, bucket, count) triples; returns ({q: bucket value per group (NaN when the group
    has no sketch)}, merged buckets per group, merged counts per group, total count per group)."""
    out_b: list[list[int]] = [[] for _ in range(n_groups)]
    out_c: list[list[int]] = [[] for _ in range(n_groups)]
    values = {q: np.full(n_groups, np.nan) for q in qs}
    totals = np.zeros(n_groups, dtype=np.int64)
    if len(gid) == 0:
        return values, out_b, out_c, totals
    key = gid.astype(np.int64) * (1 << 33) + (buckets.astype(np.int64) - ZERO_BUCKET)
    uniq, inverse = np.unique(key, return_inverse=True)
    merged = np.bincount(inverse, weights=counts).astype(np.int64)
    g = uniq >> 33
    b = (uniq & ((1 << 33) - 1)) + ZERO_BUCKET
    totals = np.bincount(g, weights=merged, minlength=n_groups).astype(np.int64)
    cum = np.cumsum(merged)
    before = np.concatenate([[0], np.cumsum(totals)[:-1]])  # counts of the groups before each group
    value_of = np.where(b == ZERO_BUCKET, 0.0, 2.0 * np.power(GAMMA, b.astype(np.float64)) / (GAMMA + 1.0))
    has = totals > 0
    for q in qs:
        rank = np.maximum(1, np.ceil(q * totals)).astype(np.int64)
        idx = np.searchsorted(cum, before + rank)
        values[q][has] = value_of[np.minimum(idx[has], len(cum) - 1)]
    starts = np.searchsorted(g, np.arange(n_groups))
    ends = np.searchsorted(g, np.arange(n_groups), side="right")
    bl, cl = b.tolist(), merged.tolist()
    for i in np.flatnonzero(has).tolist():
        out_b[i], out_c[i] = bl[starts[i]:ends[i]], cl[starts[i]:ends[i]]
    return values, out_b, out_c, totals


def _clamp(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """v within [lo, hi]; a NaN bound (not stored) does not clamp."""
    with np.errstate(invalid="ignore"):
        return np.fmax(np.fmin(v, hi), lo)


def _flat(table: pa.Table, gid: np.ndarray, column: str) -> tuple[np.ndarray, np.ndarray]:
    col = table.column(column).combine_chunks()
    if col.null_count == len(col) or len(col) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    parents = pc.list_parent_indices(col).to_numpy(zero_copy_only=False)
    return gid[parents], pc.list_flatten(col).to_numpy(zero_copy_only=False)


def merge_digest(rows: pa.Table | pd.DataFrame, max_classes: int | None = None) -> pd.DataFrame:
    """One row per (instance, checksum) of ``rows`` (digest rows of any days), the overflow last;
    at most ``max_classes`` classes per instance besides it (see the module doc)."""
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows, preserve_index=False)
    merged = _merge(table)
    if max_classes:
        is_class = merged["checksum"] != OVERFLOW_CHECKSUM
        rank = merged[is_class].groupby("instance", dropna=False).cumcount()  # rows are in class order
        past = merged[is_class][rank.to_numpy() >= max_classes]
        if len(past):
            drop = {(None if pd.isna(i) else i, c) for i, c in zip(past["instance"], past["checksum"])}
            moved = pa.array([k in drop for k in zip(table.column("instance").to_pylist(),
                                                      table.column("checksum").to_pylist())])
            for name, value in (("checksum", OVERFLOW_CHECKSUM), ("fingerprint", OVERFLOW_FINGERPRINT),
                                ("example", None), ("example_redacted", None)):
                i = table.schema.get_field_index(name)
                table = table.set_column(i, name, pc.if_else(moved, pa.scalar(value, pa.string()), table.column(name)))
            merged = _merge(table)
    return merged


def _merge(table: pa.Table) -> pd.DataFrame:
    if table.num_rows == 0:
        empty = DIGEST_SCHEMA.empty_table().to_pandas()
        return empty.assign(days=pd.Series(dtype="int64"))
    for name in DIGEST_SCHEMA.names:  # tolerate partitions written before a column existed
        if name not in table.column_names:
            table = table.append_column(DIGEST_SCHEMA.field(name), pa.nulls(table.num_rows, DIGEST_SCHEMA.field(name).type))
    df = table.drop_columns([*SKETCH_COLUMNS, "hourly"]).to_pandas()
    grouped = df.groupby(KEYS, dropna=False, sort=True)
    gid = grouped.ngroup().to_numpy()
    n_groups = grouped.ngroups
    first = grouped.head(1).set_index(gid[grouped.head(1).index]).sort_index()
    out = pd.DataFrame({k: first[k].to_numpy() for k in KEYS})
    out["date"] = grouped["date"].min().to_numpy() if "date" in df else None
    out["engine"] = grouped["engine"].first().to_numpy()
    out["fingerprint"] = grouped["fingerprint"].first().to_numpy()
    count = grouped["count"].sum().to_numpy().astype(np.int64)
    out["count"] = count
    row_count = df["count"].fillna(0).to_numpy(dtype=np.int64)
    for m in METRICS:
        missing = df[f"{m}_missing"].fillna(0).to_numpy(dtype=np.int64)
        n_i = row_count - missing
        s_i = df[f"{m}_sum"].fillna(0).to_numpy(dtype=float)
        has = n_i > 0
        n = np.bincount(gid, weights=n_i, minlength=n_groups)
        s = np.bincount(gid, weights=np.where(has, s_i, 0.0), minlength=n_groups)
        lo = pd.Series(np.where(has, df[f"{m}_min"], np.inf)).groupby(gid).min().to_numpy()
        hi = pd.Series(np.where(has, df[f"{m}_max"], -np.inf)).groupby(gid).max().to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, s / np.maximum(n, 1), 0.0)
            mean_i = np.where(has, s_i / np.maximum(n_i, 1), 0.0)
            sd_i = df[f"{m}_stddev"].fillna(0).to_numpy(dtype=float)
            m2_i = np.where(n_i > 1, sd_i * sd_i * (n_i - 1), 0.0) + n_i * (mean_i - mean[gid]) ** 2
            m2 = np.bincount(gid, weights=np.where(has, m2_i, 0.0), minlength=n_groups)
            stddev = np.where(n > 1, np.sqrt(np.maximum(m2, 0.0) / np.maximum(n - 1, 1)), 0.0)
        valid = n > 0
        out[f"{m}_sum"] = s
        out[f"{m}_min"] = np.where(valid, lo, 0.0)
        out[f"{m}_max"] = np.where(valid, hi, 0.0)
        out[f"{m}_avg"] = np.where(valid, _clamp(mean, lo, hi), 0.0)
        g_b, bucket = _flat(table, gid, f"{m}_sketch_bucket")
        _, cnt = _flat(table, gid, f"{m}_sketch_count")
        qv, mb, mc, _ = sketch_quantiles(g_b, bucket, cnt, n_groups, [q for _, q in QUANTILES])
        for name, q in QUANTILES:
            # a class without a sketch (digest written before sketches existed): the largest daily value
            fallback = df.groupby(gid)[f"{m}_{name}"].max().to_numpy(dtype=float)
            v = np.where(np.isnan(qv[q]), fallback, qv[q])
            out[f"{m}_{name}"] = np.where(valid, _clamp(v, lo, hi), 0.0)
        out[f"{m}_stddev"] = stddev
        out[f"{m}_missing"] = count - n.astype(np.int64)
        out[f"{m}_sketch_bucket"] = mb
        out[f"{m}_sketch_count"] = mc
    out["first_seen"] = grouped["first_seen"].min().to_numpy()
    out["last_seen"] = grouped["last_seen"].max().to_numpy()
    worst = df.assign(_g=gid, _k=df["query_time_max"].fillna(-math.inf)).sort_values(["_g", "_k"], kind="stable")
    worst = worst.groupby("_g").tail(1).set_index("_g").sort_index()
    out["example"] = worst["example"].to_numpy()
    out["example_redacted"] = worst["example_redacted"].to_numpy()
    busiest = df.assign(_g=gid).sort_values(["_g", "count"], kind="stable").groupby("_g").tail(1).set_index("_g").sort_index()
    for a in ("db", "user", "host"):
        out[a] = busiest[a].to_numpy()
    out["hourly"] = _merge_hourly(table, gid, n_groups)
    out["days"] = grouped["date"].nunique().to_numpy().astype(np.int64) if "date" in df else 1
    out = out[[*DIGEST_SCHEMA.names, "days"]].assign(_overflow=out["checksum"] == OVERFLOW_CHECKSUM)
    return out.sort_values(["_overflow", "query_time_sum", "count", "checksum"], ascending=[True, False, False, True],
                           kind="stable").drop(columns="_overflow").reset_index(drop=True)


def _merge_hourly(table: pa.Table, gid: np.ndarray, n_groups: int) -> list[list[dict]]:
    col = table.column("hourly").combine_chunks()
    out: list[list[dict]] = [[] for _ in range(n_groups)]
    if len(col) == 0 or col.null_count == len(col):
        return out
    parents = pc.list_parent_indices(col).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(col)
    hours = flat.field("hour").to_numpy(zero_copy_only=False).astype(np.int64)
    cnt = flat.field("count").fill_null(0).to_numpy(zero_copy_only=False)
    qts = flat.field("query_time_sum").fill_null(0.0).to_numpy(zero_copy_only=False)
    key = gid[parents] * 24 + hours
    uniq, inverse = np.unique(key, return_inverse=True)
    counts = np.bincount(inverse, weights=cnt).astype(np.int64)
    sums = np.bincount(inverse, weights=qts)
    for k, c, s in zip(uniq.tolist(), counts.tolist(), sums.tolist()):
        out[k // 24].append({"hour": k % 24, "count": c, "query_time_sum": s, "query_time_p95": None})
    return out
