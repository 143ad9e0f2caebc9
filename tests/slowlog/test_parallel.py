"""Parallel digest over byte ranges == the serial digest."""
import pytest

from dagster_project.slowlog import parallel
from dagster_project.slowlog.digest import Digest
from dagster_project.slowlog.parse import parse_log
from tests.support.corpus import FILEBEAT, PERCONA


def test_parallel_equals_serial(tmp_path, monkeypatch):
    logs = sorted((PERCONA / "slowlogs").glob("slow0[0-5]*.txt")) + sorted((FILEBEAT / "mysql-slowlog").glob("*.log"))
    big = tmp_path / "big.log"
    big.write_bytes(b"".join(p.read_bytes().rstrip(b"\n") + b"\n" for p in logs) * 3)
    serial = Digest()
    parsed = parse_log(big)
    for b in parsed:
        serial.add(b)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)
    assert parallel.parallel_ok(str(big), 3)
    points = parallel.split_points(str(big), "mysql", 3)
    assert len(points) == 4 and points[0] == 0 and points[-1] == big.stat().st_size
    par, stats = parallel.digest_file_parallel(str(big), workers=3)
    assert stats.events == parsed.stats.events and stats.rejected == parsed.stats.rejected
    assert stats.bytes_total == big.stat().st_size and stats.accounted
    a, b = serial.classes(), par.classes()
    assert [(c["checksum"], c["count"], c["db"]) for c in a] == [(c["checksum"], c["count"], c["db"]) for c in b]
    for x, y in zip(a, b):
        assert x["query_time"]["sum"] == pytest.approx(y["query_time"]["sum"])
