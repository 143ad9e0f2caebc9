"""LogFile / engine_of / marker counting / atomic writes."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dagster_project.sources import TRUNCATION_MARKER, LogFile, day_from_name, engine_of  # noqa: E402
from dagster_project.sources.base import atomic_writer, count_markers, day_window_ms  # noqa: E402


def test_local_name_and_engine():
    lf = LogFile("db-1", "slowquery/mysql-slowquery.log.2026-11-24.03", 10, 0, dt.date(2026, 11, 24))
    assert lf.local_name == "mysql-slowquery.log.2026-11-24.03" and lf.engine == "mysql"
    pg = LogFile("pg-1", "error/postgresql.log.2026-11-24-03", 10, 0, dt.date(2026, 11, 24))
    assert pg.local_name == "postgresql.log.2026-11-24-03" and pg.engine == "postgres"
    assert LogFile("r", "redis-slowlog.2026-11-24.jsonl", 1, 0, None).engine == "redis"
    assert engine_of("mysql-slowquery.log.2026-11-24.cloudwatch") == "mysql"
    assert engine_of("error/mysql-error.log") is None
    # frozen + hashable; ref does not take part in equality
    assert LogFile("a", "n", 1, 2, None, ref="x") == LogFile("a", "n", 1, 2, None, ref="y")
    with pytest.raises(AttributeError):
        lf.size = 3  # type: ignore[misc]


def test_day_from_name_and_window():
    assert day_from_name("slowquery/mysql-slowquery.log.2026-11-24.03") == dt.date(2026, 11, 24)
    assert day_from_name("redis-slowlog.2026-02-30.jsonl") is None
    assert day_from_name("mysql-slowquery.log") is None
    lo, hi = day_window_ms(dt.date(1970, 1, 2))
    assert (lo, hi) == (86_400_000, 2 * 86_400_000 - 1)


def test_count_markers_across_chunks():
    m = TRUNCATION_MARKER.encode()
    data = b"a" * 10 + m + b"\nb" + m + m + b"\n" + m
    for size in (1, 2, 5, 7, len(m) - 1, len(m), 100):
        carry, total = b"", 0
        for i in range(0, len(data), size):
            n, carry = count_markers(data[i:i + size], carry)
            total += n
        assert total == 4, size


def test_atomic_writer(tmp_path):
    dest = tmp_path / "sub" / "f.log"
    with atomic_writer(dest) as fh:
        fh.write(b"one")
    assert dest.read_bytes() == b"one"
    with pytest.raises(RuntimeError):
        with atomic_writer(dest) as fh:
            fh.write(b"two, half written")
            raise RuntimeError("boom")
    assert dest.read_bytes() == b"one"
    assert [p.name for p in dest.parent.iterdir()] == ["f.log"]
