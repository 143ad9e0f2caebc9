"""Parallel digest over byte ranges == the serial digest."""
from pathlib import Path

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


def test_workers_are_forked_only_from_a_plain_process(monkeypatch):
    """Dagster maps SIGTERM to KeyboardInterrupt in every process it has run in; a forked pool
    worker hit by Pool.terminate can then unwind into its parent's stack (the suite hung in CI
    that way). Threads: a forked child can hang on a lock another thread held at the fork."""
    import signal
    import threading

    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.setattr(signal, "getsignal", lambda n: signal.SIG_DFL if n == signal.SIGTERM else signal.default_int_handler)
    assert parallel.start_method() == "fork"  # the CLI
    monkeypatch.setattr(signal, "getsignal", lambda n: signal.default_int_handler)
    assert parallel.start_method() == "spawn"  # after dagster.setup_interrupt_handlers
    monkeypatch.setattr(signal, "getsignal", lambda n: signal.SIG_DFL if n == signal.SIGTERM else signal.default_int_handler)
    monkeypatch.setattr(threading, "active_count", lambda: 2)
    assert parallel.start_method() == "spawn"  # a Dagster step, a test runner with servers


def test_the_cli_forks_its_workers():
    """The plain CLI process takes the fork path (its workers start in milliseconds)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "from dagster_project.slowlog import parallel; print(parallel.start_method())"],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "fork"
