"""warehouse: hive-partitioned Parquet, atomic + idempotent writes, partition-pruned reads (local and S3)."""
from __future__ import annotations

import datetime as dt
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_project.slowlog.digest import DIGEST_SCHEMA
from dagster_project.slowlog.events import EVENT_SCHEMA
from dagster_project.warehouse import Warehouse

EV = "slow_query_events"


def events(day: str, instance: str, n: int, hour: int = 12, qt: float = 1.0) -> pa.Table:
    start = dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.timezone.utc)
    rows = [
        {
            "ts": start + dt.timedelta(seconds=i),
            "instance": instance,
            "engine": "mysql",
            "query_time": qt,
            "checksum": "A" * 32,
            "fingerprint": "select ?",
            "query": f"select {i}",
            "source_file": "f",
            "source_offset": i * 10,
        }
        for i in range(n)
    ]
    return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)


def listing(path) -> list[str]:
    return sorted(os.listdir(path))


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.delenv("SLOWLOG_DATA_ROOT", raising=False)
    return str(tmp_path / "data")


@pytest.fixture
def wh(root):
    return Warehouse(root)


def test_layout_and_round_trip(root, wh):
    res = wh.write_partition(EV, "2026-01-02", events("2026-01-02", "db-1", 5), instance="db-1")
    assert res["rows"] == 5 and res["files"] == 1 and res["bytes"] > 0
    part = os.path.join(root, "warehouse", EV, "date=2026-01-02", "instance=db-1")
    assert res["path"] == part
    assert listing(part) == ["part-0.parquet"]
    meta = pq.read_metadata(os.path.join(part, "part-0.parquet"))
    assert meta.num_rows == 5 and meta.row_group(0).column(0).compression == "ZSTD"
    table = wh.read_table(EV)
    assert table.num_rows == 5
    assert table.schema.field("date").type == pa.date32()
    assert set(table.column("date").to_pylist()) == {dt.date(2026, 1, 2)}
    assert set(table.column("instance").to_pylist()) == {"db-1"}


def test_default_root_is_env_or_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLOWLOG_DATA_ROOT", raising=False)
    Warehouse().write_partition(EV, "2026-01-02", events("2026-01-02", "db-1", 1), instance="db-1")
    assert (tmp_path / "data" / "warehouse" / EV / "date=2026-01-02" / "instance=db-1" / "part-0.parquet").exists()
    monkeypatch.setenv("SLOWLOG_DATA_ROOT", str(tmp_path / "elsewhere"))
    Warehouse().write_partition(EV, "2026-01-02", events("2026-01-02", "db-1", 1), instance="db-1")
    assert (tmp_path / "elsewhere" / "warehouse" / EV).is_dir()


def test_rewrite_replaces_never_duplicates(root, wh):
    for _ in range(3):
        wh.write_partition(EV, "2026-01-02", events("2026-01-02", "db-1", 5), instance="db-1")
    assert wh.read_table(EV).num_rows == 5
    wh.write_partition(EV, "2026-01-02", events("2026-01-02", "db-1", 2), instance="db-1")
    assert wh.read_table(EV).num_rows == 2
    day_dir = os.path.join(root, "warehouse", EV, "date=2026-01-02")
    assert listing(day_dir) == ["instance=db-1"]  # no temp / old folders left


def test_streaming_write_is_atomic_for_readers(wh):
    wh.write_partition(EV, "2026-01-02", events("2026-01-02", "db-1", 3), instance="db-1")
    seen_midway = []

    def batches():
        for i in range(20):
            if i == 10:  # half written: a reader still sees the old partition, complete
                seen_midway.append(wh.read_table(EV).num_rows)
            yield events("2026-01-02", "db-1", 100).to_batches()[0]

    res = wh.write_partition(EV, "2026-01-02", batches(), instance="db-1")
    assert seen_midway == [3]
    assert res["rows"] == 2000
    assert wh.read_table(EV).num_rows == 2000


def test_failed_write_keeps_old_partition(root, wh):
    wh.write_partition(EV, "2026-01-02", events("2026-01-02", "db-1", 3), instance="db-1")

    def broken():
        yield events("2026-01-02", "db-1", 100).to_batches()[0]
        raise RuntimeError("parser blew up")

    with pytest.raises(RuntimeError):
        wh.write_partition(EV, "2026-01-02", broken(), instance="db-1")
    assert wh.read_table(EV).num_rows == 3
    assert listing(os.path.join(root, "warehouse", EV, "date=2026-01-02")) == ["instance=db-1"]


def test_concurrent_writers_of_one_partition(root, wh):
    import threading

    errors = []

    def writer(n):
        try:
            for _ in range(10):
                wh.write_partition(EV, "2026-01-02", events("2026-01-02", "db-1", n), instance="db-1")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in (3, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert wh.read_table(EV).num_rows in (3, 7)  # one whole version, never both
    assert listing(os.path.join(root, "warehouse", EV, "date=2026-01-02")) == ["instance=db-1"]


def test_resolve_root(monkeypatch, tmp_path):
    from dagster_project.settings import resolve_root

    monkeypatch.setenv("SLOWLOG_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    r = resolve_root("s3://bucket/some/prefix/")
    assert r.base == "bucket/some/prefix" and not r.is_local
    assert r.path("warehouse", "t") == "bucket/some/prefix/warehouse/t"
    local = resolve_root(str(tmp_path))
    assert local.is_local and local.base == str(tmp_path)
    assert resolve_root(f"file://{tmp_path}").base == str(tmp_path)


def test_leftover_hidden_folders_are_invisible(root, wh):
    wh.write_partition(EV, "2026-01-02", events("2026-01-02", "db-1", 3), instance="db-1")
    stale = os.path.join(root, "warehouse", EV, "date=2026-01-02", ".instance=db-1.tmp-dead")
    os.makedirs(stale)
    pq.write_table(events("2026-01-02", "db-1", 50), os.path.join(stale, "part-0.parquet"))
    assert wh.read_table(EV).num_rows == 3


def test_manifest_callable_sees_final_stats(wh):
    stats = {"events": 0}

    def batches():
        for _ in range(4):
            stats["events"] += 10
            yield events("2026-01-02", "db-1", 10).to_batches()[0]

    wh.write_partition(EV, "2026-01-02", batches(), instance="db-1", manifest=lambda: dict(stats))
    manifest = wh.read_manifest(EV, "2026-01-02", "db-1")
    assert manifest["events"] == 40 and manifest["rows_written"] == 40
    assert wh.read_table(EV).num_rows == 40  # _manifest.json is not data
    assert wh.read_manifest(EV, "2026-01-03", "db-1") is None


def test_empty_partition_and_schema_conformance(wh):
    res = wh.write_partition(EV, "2026-01-02", iter(()), instance="db-1")
    assert res["rows"] == 0
    assert wh.read_table(EV).num_rows == 0
    # a batch with fewer columns in another order is written in EVENT_SCHEMA
    partial = pa.table({"query_time": [1.5], "instance": ["db-2"]})
    wh.write_partition(EV, "2026-01-02", partial, instance="db-2")
    t = wh.read_table(EV, instance="db-2")
    assert t.column("query_time").to_pylist() == [1.5] and t.column("ts").to_pylist() == [None]
    file_schema = pq.read_schema(wh.partition_files(EV, instance="db-2")[0])
    assert file_schema.names == EVENT_SCHEMA.names


def test_reads_only_needed_partitions(wh):
    for day in ("2026-01-01", "2026-01-02", "2026-01-03"):
        for inst in ("db-1", "db-2"):
            wh.write_partition(EV, day, events(day, inst, 2), instance=inst)
    files = wh.partition_files(EV, "2026-01-02", "2026-01-02", "db-2")
    assert [f.split("/warehouse/")[1] for f in files] == [f"{EV}/date=2026-01-02/instance=db-2/part-0.parquet"]
    # corrupt every other partition: pruned reads never open them
    for path in wh.partition_files(EV):
        if path not in files:
            with open(path, "wb") as f:
                f.write(b"not parquet")
    t = wh.read_table(EV, "2026-01-02", "2026-01-02", ["db-2"], columns=["ts", "instance", "date"])
    assert t.num_rows == 2 and t.column_names == ["ts", "instance", "date"]
    with pytest.raises(Exception):
        wh.read_table(EV)
    assert [(d.isoformat(), i) for d, i, _ in wh.list_partitions(EV, "2026-01-02", None)] == [
        ("2026-01-02", "db-1"), ("2026-01-02", "db-2"), ("2026-01-03", "db-1"), ("2026-01-03", "db-2")
    ]


def test_per_day_table_partition(root, wh):
    t = DIGEST_SCHEMA.empty_table()
    row = {name: None for name in DIGEST_SCHEMA.names}
    row.update(date=dt.date(2026, 1, 2), instance="db-1", checksum="B" * 32, count=7, hourly=[])
    t = pa.Table.from_pylist([row], schema=DIGEST_SCHEMA)
    res = wh.write_partition("query_digest", "2026-01-02", t)
    assert res["rows"] == 1
    assert listing(os.path.join(root, "warehouse", "query_digest", "date=2026-01-02")) == ["part-0.parquet"]
    back = wh.read_table("query_digest", "2026-01-01", "2026-01-05")
    assert back.column("count").to_pylist() == [7]
    assert back.column("date").to_pylist() == [dt.date(2026, 1, 2)]
    assert wh.read_table("query_digest", instance="db-9").num_rows == 0


def test_iter_batches_streams(wh):
    wh.write_partition(EV, "2026-01-02", events("2026-01-02", "db-1", 300), instance="db-1")
    batches = list(wh.iter_batches(EV, "2026-01-02", "2026-01-02", batch_size=100))
    assert sum(b.num_rows for b in batches) == 300 and len(batches) >= 3
    assert list(wh.iter_batches(EV, "2026-02-01", "2026-02-01")) == []


# --------------------------------------------------------------------------------------------- S3
def test_s3_round_trip(s3_data_root):
    wh = Warehouse(s3_data_root)
    for _ in range(2):
        res = wh.write_partition(
            EV, "2026-01-02", iter(events("2026-01-02", "db-1", 5).to_batches()), instance="db-1", manifest={"events": 5}
        )
    assert res["rows"] == 5
    wh.write_partition(EV, "2026-01-03", events("2026-01-03", "db-1", 4), instance="db-1")
    assert wh.read_table(EV).num_rows == 9
    assert wh.read_table(EV, "2026-01-03", "2026-01-03").num_rows == 4
    assert wh.read_manifest(EV, "2026-01-02", "db-1")["events"] == 5
    files = wh.partition_files(EV, "2026-01-02", "2026-01-02")
    assert [f.rsplit("/", 3)[1:] for f in files] == [["date=2026-01-02", "instance=db-1", "part-0.parquet"]]

    import boto3

    s3 = boto3.client("s3")
    bucket, prefix = s3_data_root[5:].split("/", 1)
    # (pyarrow may leave empty "folder/" marker objects; readers, Athena included, skip them)
    keys = sorted(
        o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"] if not o["Key"].endswith("/")
    )
    assert keys == [
        f"{prefix}/warehouse/{EV}/date=2026-01-02/instance=db-1/_manifest.json",
        f"{prefix}/warehouse/{EV}/date=2026-01-02/instance=db-1/part-0.parquet",
        f"{prefix}/warehouse/{EV}/date=2026-01-03/instance=db-1/part-0.parquet",
    ]
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read())
    assert manifest["rows_written"] == 5


def test_s3_put_file(s3_data_root, tmp_path):
    from dagster_project.settings import resolve_root

    r = resolve_root(s3_data_root)
    wh = Warehouse(r)
    assert wh.root is r  # a resolved root is taken as is
    src = tmp_path / "f.log"
    src.write_bytes(b"abc" * 1000)
    dest = f"{wh.raw_dir('2026-01-02', 'db-1')}/f.log"
    assert wh.put_file(str(src), dest) == 3000
    assert [i.base_name for i in wh.list_raw_files("2026-01-02", "db-1")] == ["f.log"]
    with r.fs.open_input_stream(dest) as f:
        assert f.read() == b"abc" * 1000
