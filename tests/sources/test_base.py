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


_SLOTS_CHILD = """
import sys
from dagster_project.sources.base import DownloadSlots, download_concurrently
from dagster_project.sources.rds import RDSLogSource
from tests.support.rds_api_server import RDSApiServer

url, key, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
import boto3
client = boto3.client("rds", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                      aws_secret_access_key="y")
src = RDSLogSource(client, backoff_base=0.001, backoff_max=0.01)
files = src.list_files("db-1")
outcomes = download_concurrently(lambda lf: src.download(lf, out), files, 8, slots=DownloadSlots(key, n))
assert all(err is None for _, _, err in outcomes), [err for _, _, err in outcomes if err]
"""


def test_download_slots_bound_several_processes_together(tmp_path):
    """Three processes, 8 threads each, one pool of 3 slots: never more than 3 downloads in flight
    at the server (each file is one call), and every file still lands."""
    import subprocess
    import uuid

    from tests.support.rds_api_server import RDSApiServer

    files = {f"slowquery/mysql-slowquery.log.2026-11-24.{h:02d}": f"# Time: {h}\nSELECT {h};\n" for h in range(12)}
    key = f"test-{uuid.uuid4().hex}"
    repo = str(Path(__file__).resolve().parents[2])
    with RDSApiServer({"db-1": files}, latency=0.05) as srv:
        procs = [subprocess.Popen([sys.executable, "-c", _SLOTS_CHILD, srv.endpoint_url, key, "3",
                                   str(tmp_path / f"p{i}")], cwd=repo) for i in range(3)]
        assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
        downloads = [c for c in srv.calls if c.get("Action") == "DownloadDBLogFilePortion"]
        assert len(downloads) == 36
        assert srv.peak_in_flight_by_action["DownloadDBLogFilePortion"] == 3  # reached, never passed
    for i in range(3):
        assert sorted(p.name for p in (tmp_path / f"p{i}").iterdir()) == sorted(n.split("/")[1] for n in files)


@pytest.mark.timeout(60)  # a leaked slot would make the last acquire wait forever
def test_download_slots_gate_each_http_attempt_of_a_client(tmp_path):
    """Slots attached to a boto3 client: 8 threads, 2 slots, a throttle every 4th call. At most 2
    attempts reach the server at once (retries included), every file lands, and once detached
    the client is free again."""
    import uuid

    from dagster_project.sources.base import DownloadSlots, download_concurrently
    from dagster_project.sources.rds import RDSLogSource
    from tests.support.rds_api_server import RDSApiServer

    files = {f"slowquery/mysql-slowquery.log.2026-11-24.{h:02d}": f"# Time: {h}\nSELECT {h};\n" for h in range(12)}
    with RDSApiServer({"db-1": files}, latency=0.03, throttle_every=4) as srv:
        src = RDSLogSource(srv.client(max_attempts=5), backoff_base=0.001, backoff_max=0.01)
        slots = DownloadSlots(f"test-{uuid.uuid4().hex}", 2)
        assert src.gate_calls(slots)
        outcomes = download_concurrently(lambda lf: src.download(lf, tmp_path), src.list_files("db-1"), 8)
        assert all(err is None for _, _, err in outcomes) and len(outcomes) == 12
        assert srv.throttled >= 3
        assert srv.peak_in_flight <= 2 and srv.peak_in_flight_by_action["DownloadDBLogFilePortion"] == 2
        src.gate_calls(None)
        held = [slots.acquire(), slots.acquire()]  # every slot free again: nothing leaked
        for fd in held:
            DownloadSlots.release(fd)


@pytest.mark.timeout(60)
def test_download_slot_waiters_take_whichever_slot_frees_first():
    """Two slots, one held for the whole test: four waiters still all get the other slot, one after
    another, while the first stays held (none waits behind the busy slot while one is free)."""
    import threading
    import time
    import uuid

    from dagster_project.sources.base import DownloadSlots

    slots = DownloadSlots(f"test-{uuid.uuid4().hex}", 2)
    busy, free = slots.acquire(), slots.acquire()
    busy_released = threading.Event()
    got: list[bool] = []  # per waiter: did it get a slot while `busy` was still held?

    def waiter() -> None:
        fd = slots.acquire()
        got.append(not busy_released.is_set())
        time.sleep(0.02)
        DownloadSlots.release(fd)

    threads = [threading.Thread(target=waiter) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.1)  # every waiter is waiting: both slots are held
    assert got == []
    DownloadSlots.release(free)
    for t in threads:
        t.join(timeout=10)  # served through the one free slot; the busy one is never released meanwhile
    busy_released.set()
    DownloadSlots.release(busy)
    assert got == [True] * 4
