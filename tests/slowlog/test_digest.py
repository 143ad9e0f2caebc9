"""Digest statistics: exact where promised, quantiles within 1% of the exact nearest-rank value."""
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pytest

from dagster_project.slowlog.digest import DIGEST_SCHEMA, Digest
from dagster_project.slowlog.events import EVENT_SCHEMA


def _batch(n, seed, checksums=("A" * 32, "B" * 32)):
    rng = np.random.default_rng(seed)
    qt = rng.lognormal(mean=-5, sigma=2.0, size=n)
    qt[rng.random(n) < 0.05] = 0.0  # some zero-time events
    t0 = datetime(2026, 11, 24, tzinfo=timezone.utc)
    cols = {name: pa.nulls(n, f.type) for name, f in zip(EVENT_SCHEMA.names, EVENT_SCHEMA)}
    cs = [checksums[i % len(checksums)] for i in range(n)]
    cols.update(
        ts=pa.array([t0 + timedelta(seconds=int(s)) for s in rng.integers(0, 86400, n)], EVENT_SCHEMA.field("ts").type),
        instance=pa.array(["db-1" if i % 3 else "db-2" for i in range(n)]),
        engine=pa.array(["mysql"] * n),
        checksum=pa.array(cs),
        fingerprint=pa.array(["select ?" if c[0] == "A" else "update t set a=?" for c in cs]),
        query=pa.array([f"select {i}" for i in range(n)]),
        query_time=pa.array(qt),
        lock_time=pa.array(qt / 10),
        rows_sent=pa.array(rng.integers(0, 1000, n)),
        rows_examined=pa.array(rng.integers(0, 100000, n)),
        user=pa.array(["app"] * n),
        db=pa.array(["billing" if i % 10 == 0 else "shop" for i in range(n)]),
    )
    return pa.RecordBatch.from_arrays([cols[name] for name in EVENT_SCHEMA.names], schema=EVENT_SCHEMA), qt, cs


def _exact(values, q):
    v = np.sort(values)
    return float(v[max(1, math.ceil(q * len(v))) - 1])


def test_exact_stats_and_quantiles_within_one_percent():
    batch, qt, cs = _batch(20000, 1)
    d = Digest()
    for piece in (batch.slice(0, 7000), batch.slice(7000)):
        d.add(piece)
    classes = {c["checksum"]: c for c in d.classes()}
    for key in ("A" * 32, "B" * 32):
        mask = np.array([c == key for c in cs])
        x = qt[mask]
        stats = classes[key]["query_time"]
        assert classes[key]["count"] == mask.sum()
        assert stats["sum"] == pytest.approx(x.sum(), rel=1e-9)
        assert stats["min"] == x.min() and stats["max"] == x.max()
        assert stats["avg"] == pytest.approx(x.mean(), rel=1e-9)
        assert stats["stddev"] == pytest.approx(x.std(ddof=1), rel=1e-6)  # sample stddev, as pt
        for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            exact = _exact(x, q)
            assert stats[name] == pytest.approx(exact, rel=0.01, abs=1e-12), name


def test_order_by_total_time_and_common_attributes():
    batch, qt, cs = _batch(1000, 2)
    d = Digest()
    d.add(batch)
    out = d.classes()
    assert out[0]["query_time"]["sum"] >= out[1]["query_time"]["sum"]
    assert all(c["db"] == "shop" and c["user"] == "app" for c in out)  # most frequent value
    assert all(c["first_seen"].endswith("Z") and c["first_seen"] <= c["last_seen"] for c in out)
    # the example is the slowest event of the class
    for c in out:
        mask = np.array([x == c["checksum"] for x in cs])
        slowest = int(np.flatnonzero(mask)[np.argmax(qt[mask])])
        assert c["example"] == f"select {slowest}"


def test_merge_equals_single_pass_and_group_by_instance():
    batch, _, _ = _batch(5000, 3)
    single = Digest(group_by=("instance", "checksum"), hourly=True)
    single.add(batch)
    a, b = Digest(group_by=("instance", "checksum"), hourly=True), Digest(group_by=("instance", "checksum"), hourly=True)
    a.add(batch.slice(0, 2500))
    b.add(batch.slice(2500))
    a.merge(b)
    assert {(c["instance"], c["checksum"]) for c in a.classes()} == {(i, c) for i in ("db-1", "db-2") for c in ("A" * 32, "B" * 32)}
    for x, y in zip(single.classes(), a.classes()):
        assert x["count"] == y["count"] and x["query_time"]["p95"] == y["query_time"]["p95"]
        assert x["query_time"]["sum"] == pytest.approx(y["query_time"]["sum"])
    table = a.to_table("2026-11-24")
    assert table.schema == DIGEST_SCHEMA and table.num_rows == 4
    hourly = table.column("hourly").to_pylist()
    assert sum(h["count"] for row in hourly for h in row) == 5000
    assert all(0 <= h["hour"] < 24 for row in hourly for h in row)


def test_events_without_query_time_are_counted_and_left_out_of_the_figures():
    """A real orders-db hour with Query_time removed from three entries (issue 14): counted in
    ``count`` and ``query_time_missing``; sum / min / max / avg / quantiles / stddev over the others."""
    import gzip
    import io
    import re
    from pathlib import Path

    from dagster_project.slowlog.parse import parse_log

    path = (Path(__file__).resolve().parents[2] / "dagster_project" / "sample_data" / "rds" / "orders-db"
            / "slowquery" / "mysql-slowquery.log.2026-11-24.09.gz")
    lines = gzip.open(path).read().split(b"\n")
    cut = [i for i, line in enumerate(lines) if line.startswith(b"# Query_time:")][:3]
    for i in cut:
        lines[i] = re.sub(rb"Query_time: \S+\s+", b"", lines[i])
    parsed = parse_log(io.BytesIO(b"\n".join(lines)))
    batches = list(parsed)
    table = pa.Table.from_batches(batches)
    assert parsed.stats.rejected == 0 and table.column("query_time").null_count == 3
    d = Digest()
    for b in batches:
        d.add(b)
    classes = d.classes()
    assert sum(c["query_time_missing"] for c in classes) == 3 and sum(c["count"] for c in classes) == table.num_rows
    df = table.to_pandas()
    for c in classes:
        x = df[df["checksum"] == c["checksum"]]["query_time"].dropna().to_numpy()
        qt = c["query_time"]
        assert c["count"] - c["query_time_missing"] == len(x)
        assert qt["min"] <= qt["avg"] <= qt["max"]
        assert qt["sum"] == pytest.approx(x.sum(), rel=1e-12) and qt["avg"] == pytest.approx(x.mean(), rel=1e-12)
        assert qt["stddev"] == pytest.approx(x.std(ddof=1) if len(x) > 1 else 0.0, rel=1e-6, abs=1e-15)
        assert qt["p95"] == pytest.approx(_exact(x, 0.95), rel=0.01)
    row = d.to_table().to_pandas()
    assert row["query_time_missing"].sum() == 3
    assert (row["count"] - row["query_time_missing"] == row["query_time_sketch_count"].map(sum)).all()
