"""Scratch of dead processes is removed, scratch of live ones never (dagster_project/scratch.py), and
the warehouse's temp files of a writer killed mid-write go with the next write of the partition.
Owners are real processes, killed with SIGKILL (no cleanup of their own runs)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from dagster_project.scratch import LOCK_FILE, owned_dir, owner_gone, owner_tag, remove_dead
from dagster_project.slowlog.parse import parse_log
from dagster_project.warehouse import EVENTS_TABLE, Warehouse
from tests.support.corpus import CORPUS, REPO

pytestmark = pytest.mark.timeout(120)

HOLD = (
    "import sys\n"
    "from dagster_project.scratch import owned_dir\n"
    "with owned_dir(sys.argv[1], sys.argv[2]) as path:\n"
    "    print(path, flush=True)\n"
    "    sys.stdin.read()\n"
)
# a warehouse writer that stops (for ever) once the first row group of its partition is on disk
WRITE = (
    "import sys, time\n"
    "from dagster_project.slowlog.parse import parse_log\n"
    "from dagster_project.warehouse import EVENTS_TABLE, Warehouse\n"
    "def batches():\n"
    "    yield from parse_log(sys.argv[2], instance='db-1')\n"
    "    print('WRITING', flush=True)\n"
    "    time.sleep(600)\n"
    "Warehouse(sys.argv[1]).write_partition(EVENTS_TABLE, '2026-11-24', batches(), instance='db-1')\n"
)
LOG = CORPUS / "percona/slowlogs/mysql5.7.log"


def _start(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_dead_owners_scratch_goes_and_live_owners_stays(tmp_path):
    live = _start(HOLD, str(tmp_path), ".staging-")
    dead = _start(HOLD, str(tmp_path), ".staging-")
    try:
        live_dir, dead_dir = Path(live.stdout.readline().strip()), Path(dead.stdout.readline().strip())
        (dead_dir / "mysql-slowquery.log.2026-11-24.03").write_bytes(LOG.read_bytes())  # a partial download
        assert remove_dead(tmp_path, ".staging-") == []  # both alive
        _kill(dead)
        assert dead_dir.is_dir()  # SIGKILL ran no cleanup
        assert remove_dead(tmp_path, ".staging-") == [dead_dir.name]
        assert sorted(p.name for p in tmp_path.iterdir()) == [live_dir.name]
        assert (live_dir / LOCK_FILE).exists()
        assert remove_dead(tmp_path, "slowlog-spool-") == []  # another kind of scratch: not looked at
    finally:
        live.stdin.close()
        live.wait(timeout=30)
    assert not live_dir.exists()  # its owner removes it on the way out


def test_scratch_whose_owner_cannot_be_seen_goes_only_once_old(tmp_path):
    other_host = tmp_path / f".staging-{os.getpid()}-0badf00d-abcd1234-another-host.example"
    legacy = tmp_path / ".staging-3f2a0c9e1b7d4e6f8a9b0c1d2e3f4a5b"  # a name from before owner tags
    for folder in (other_host, legacy):
        folder.mkdir()
        (folder / "part").write_bytes(b"x" * 1000)
    assert remove_dead(tmp_path, ".staging-", max_age_s=3600) == []
    day_ago = time.time() - 86400
    for path in (other_host / "part", other_host, legacy / "part", legacy):
        os.utime(path, (day_ago, day_ago))
    assert sorted(remove_dead(tmp_path, ".staging-", max_age_s=3600)) == sorted([other_host.name, legacy.name])


def test_a_folder_whose_owner_died_before_it_took_its_lock(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    tag = owner_tag(int(gone.stdout))
    assert owner_gone(tag) and not owner_gone(owner_tag())
    (tmp_path / f".staging-{tag}").mkdir()
    (tmp_path / f".staging-{owner_tag()}").mkdir()  # this process's, its lock not taken yet
    assert remove_dead(tmp_path, ".staging-") == [f".staging-{tag}"]


def test_owned_dir_is_removed_even_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError), owned_dir(tmp_path, "slowlog-spool-") as path:
        Path(path, "piece-000001.arrow").write_bytes(b"x")
        raise RuntimeError("parse failed")
    assert list(tmp_path.iterdir()) == []


def _temp_files(partition: Path) -> list[str]:
    return sorted(p.name for p in partition.iterdir() if ".tmp-" in p.name)


def test_writer_killed_mid_write_leaves_a_temp_file_the_next_write_removes(tmp_path):
    root = tmp_path / "data"
    partition = Warehouse(str(root)).partition_dir(EVENTS_TABLE, "2026-11-24", "db-1")
    killed = _start(WRITE, str(root), str(LOG))
    live = None
    try:
        assert killed.stdout.readline().strip() == "WRITING"
        _kill(killed)
        (dead_temp,) = _temp_files(Path(partition))
        live = _start(WRITE, str(root), str(LOG))  # a concurrent writer of the same partition, mid-write
        assert live.stdout.readline().strip() == "WRITING"
        (live_temp,) = set(_temp_files(Path(partition))) - {dead_temp}
        table = pa.Table.from_batches(list(parse_log(str(LOG), instance="db-1")))
        Warehouse(str(root)).write_partition(EVENTS_TABLE, "2026-11-24", table, instance="db-1")
        # the dead writer's temp file is gone at once (it used to wait an hour), the live one's is kept
        assert _temp_files(Path(partition)) == [live_temp]
    finally:
        for proc in (killed, live):
            if proc is not None and proc.poll() is None:
                _kill(proc)


def test_s3_temp_keys_of_dead_writers_go_once_old(s3_data_root, monkeypatch):
    """On S3 a writer's liveness cannot be seen: a ``_tmp-`` key goes once older than
    TMP_STALE_AFTER_S (an hour; 3 s here), with the next write of its partition."""
    import boto3

    from dagster_project import warehouse

    monkeypatch.setattr(warehouse, "TMP_STALE_AFTER_S", 3.0)
    wh = Warehouse()
    bucket, prefix = s3_data_root.removeprefix("s3://").split("/", 1)
    folder = f"{prefix}/warehouse/{EVENTS_TABLE}/date=2026-11-24/instance=db-1"
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key=f"{folder}/_tmp-0f1e2d3c4b5a69788796a5b4c3d2e1f0.parquet", Body=b"PAR1 cut")
    time.sleep(5)
    s3.put_object(Bucket=bucket, Key=f"{folder}/_tmp-00112233445566778899aabbccddeeff.parquet", Body=b"PAR1 busy")
    table = pa.Table.from_batches(list(parse_log(str(LOG), instance="db-1")))
    wh.write_partition(EVENTS_TABLE, "2026-11-24", table, instance="db-1")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{folder}/")["Contents"]
    keys = sorted(name for o in listed if (name := o["Key"].rsplit("/", 1)[1]))  # '': pyarrow's folder marker
    assert keys == ["_tmp-00112233445566778899aabbccddeeff.parquet", "part-0.parquet"]
