"""The Parquet warehouse: hive-partitioned tables under ``<data root>/warehouse/``.

Layout::

    <root>/raw/date=YYYY-MM-DD/instance=<id>/<log file name>                  (byte-identical copies)
    <root>/warehouse/slow_query_events/date=YYYY-MM-DD/instance=<id>/part-0.parquet
    <root>/warehouse/slow_query_events/date=YYYY-MM-DD/instance=<id>/_manifest.json
    <root>/warehouse/query_digest/date=YYYY-MM-DD/part-0.parquet

Writes are idempotent per partition: re-materializing a partition *replaces* it, never appends.
They are also atomic for readers:

* local filesystem: the new ``part-0.parquet`` is written under a hidden name inside the partition
  (``.part-0.parquet.tmp-<uuid>``) and ``os.replace``d onto the old one, then the manifest the same
  way. A reader sees the old file or the new one, never none and never half of one; a crash or a
  failed rename at any point leaves the previous version in place.
* S3: the Parquet file is uploaded under a temporary key (``_tmp-<uuid>.parquet``, which readers,
  Athena included, ignore) and then copied onto ``part-0.parquet``; an S3 object replace is atomic.

Files and folders whose names start with ``.`` or ``_`` are invisible to :func:`read_table`
(pyarrow's and Athena's convention), which is also what keeps ``_manifest.json`` out of the data.

Batches are streamed through one ``pyarrow.parquet.ParquetWriter`` (zstd), so memory stays constant
whatever the partition size.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from dagster_project.settings import Root, resolve_root
from dagster_project.slowlog.digest import DIGEST_SCHEMA
from dagster_project.slowlog.events import EVENT_SCHEMA
from dagster_project.slowlog.load import DB_LOAD_SCHEMA
from dagster_project.slowlog.writer import RowGroupWriter

EVENTS_TABLE = "slow_query_events"
DIGEST_TABLE = "query_digest"
DB_LOAD_TABLE = "db_load"  # per day: per-minute load of each instance's top classes (slowlog/load.py)
PART_FILE = "part-0.parquet"
MANIFEST_FILE = "_manifest.json"
COMPRESSION = "zstd"
ROW_GROUP_ROWS = 128 * 1024

# Tables whose partitions are per day AND instance; every other table is per day only.
INSTANCE_PARTITIONED = {EVENTS_TABLE}
# Known file schemas (used for empty partitions and to read a table with a stable schema).
KNOWN_SCHEMAS: dict[str, pa.Schema] = {EVENTS_TABLE: EVENT_SCHEMA, DIGEST_TABLE: DIGEST_SCHEMA,
                                       DB_LOAD_TABLE: DB_LOAD_SCHEMA}

DateLike = dt.date | dt.datetime | str
Data = pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch | pa.Table]


# --------------------------------------------------------------------------------------- helpers
def to_date(value: DateLike) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def date_range(start: DateLike, end: DateLike) -> list[dt.date]:
    """Days from ``start`` to ``end``, both inclusive."""
    first, last = to_date(start), to_date(end)
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _seg(key: str, value: str) -> str:
    return f"{key}={quote(str(value), safe='')}"


def table_dir(table: str, root: Root | str | None = None) -> str:
    r = root if isinstance(root, Root) else resolve_root(root)
    return r.path("warehouse", table)


def partition_dir(
    table: str, date: DateLike, instance: str | None = None, root: Root | str | None = None
) -> str:
    """Path (inside the root's filesystem) of one partition directory."""
    r = root if isinstance(root, Root) else resolve_root(root)
    parts = ["warehouse", table, _seg("date", to_date(date).isoformat())]
    if instance is not None:
        parts.append(_seg("instance", instance))
    return r.path(*parts)


def raw_dir(date: DateLike, instance: str, root: Root | str | None = None) -> str:
    """``<root>/raw/date=YYYY-MM-DD/instance=<id>`` inside the root's filesystem."""
    r = root if isinstance(root, Root) else resolve_root(root)
    return r.path("raw", _seg("date", to_date(date).isoformat()), _seg("instance", instance))


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("_")


def _list(fs: pafs.FileSystem, path: str) -> list[pafs.FileInfo]:
    try:
        return fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=False))
    except (FileNotFoundError, NotADirectoryError):
        return []


def list_raw_files(date: DateLike, instance: str, root: Root | str | None = None) -> list[pafs.FileInfo]:
    """The raw log files of one day x instance, sorted by name (hidden temp files excluded)."""
    r = root if isinstance(root, Root) else resolve_root(root)
    infos = [
        i
        for i in _list(r.fs, raw_dir(date, instance, r))
        if i.type == pafs.FileType.File and not _hidden(i.base_name)
    ]
    return sorted(infos, key=lambda i: i.base_name)


def put_file(local_path: str, dest_path: str, root: Root) -> int:
    """Move/upload a local file to ``dest_path`` in the root's filesystem, atomically; returns bytes.

    Local root: ``os.replace`` (same filesystem expected; falls back to copy + replace).
    S3: upload under a hidden temporary key, then copy onto the final key.
    """
    size = os.path.getsize(local_path)
    if root.is_local:
        os.makedirs(os.path.dirname(dest_path), exist_ok=True)
        try:
            os.replace(local_path, dest_path)
        except OSError:  # different device
            tmp = os.path.join(os.path.dirname(dest_path), f".{os.path.basename(dest_path)}.tmp-{uuid.uuid4().hex}")
            shutil.copyfile(local_path, tmp)
            os.replace(tmp, dest_path)
            os.unlink(local_path)
        return size
    parent, name = dest_path.rsplit("/", 1)
    tmp = f"{parent}/_tmp-{uuid.uuid4().hex}-{name}"
    try:
        pafs.copy_files(local_path, tmp, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=root.fs)
        root.fs.move(tmp, dest_path)
    except BaseException:
        _delete_quietly(root.fs, tmp)
        raise
    return size


def _delete_quietly(fs: pafs.FileSystem, path: str, directory: bool = False) -> None:
    try:
        if directory:
            fs.delete_dir(path)
        else:
            fs.delete_file(path)
    except (FileNotFoundError, OSError):
        pass


# ----------------------------------------------------------------------------------------- write
def _batches(data: Data) -> Iterable[pa.RecordBatch]:
    if isinstance(data, pa.RecordBatch):
        yield data
    elif isinstance(data, pa.Table):
        yield from data.to_batches(max_chunksize=ROW_GROUP_ROWS)
    else:
        for item in data:
            if isinstance(item, pa.Table):
                yield from item.to_batches(max_chunksize=ROW_GROUP_ROWS)
            else:
                yield item


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` in exactly ``schema`` (column order, types; missing columns as nulls)."""
    if batch.schema.equals(schema, check_metadata=False):
        return batch
    table = pa.Table.from_batches([batch])
    for field in schema:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(len(table), field.type))
    table = table.select(schema.names).cast(schema)
    return table.combine_chunks().to_batches()[0]


def _stream_to_parquet(sink: Any, data: Data, schema: pa.Schema | None) -> tuple[int, pa.Schema]:
    """Write every batch of ``data`` to ``sink`` through one ParquetWriter; returns (rows, schema)."""
    writer: RowGroupWriter | None = None
    rows = 0
    try:
        for batch in _batches(data):
            if writer is None:
                schema = schema or batch.schema
                writer = RowGroupWriter(sink, schema, compression=COMPRESSION, row_group_rows=ROW_GROUP_ROWS)
            if batch.num_rows == 0:
                continue
            batch = _conform(batch, schema)
            writer.write(batch)
            rows += batch.num_rows
        if writer is None:  # no batch at all: still an (empty) file, so the partition exists
            if schema is None:
                raise ValueError("no data and no schema: cannot write an empty partition")
            writer = RowGroupWriter(sink, schema, compression=COMPRESSION, row_group_rows=ROW_GROUP_ROWS)
    finally:
        if writer is not None:
            writer.close()
    return rows, schema


def _manifest_dict(manifest: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None, result: dict) -> dict | None:
    if manifest is None:
        return None
    body = dict(manifest() if callable(manifest) else manifest)
    body.setdefault("written_at", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    body.setdefault("rows_written", result["rows"])
    return body


def _write_dir(
    final_dir: str,
    data: Data,
    root: Root,
    schema: pa.Schema | None,
    manifest: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None,
) -> dict:
    fs = root.fs
    parent, name = final_dir.rsplit("/", 1)
    if root.is_local:
        # The partition directory stays in place; the new file is written under a hidden name
        # beside the old one and os.replace'd onto it (atomic): a reader sees the old or the new
        # version, never none; a crash or a failed rename at any point leaves the old one.
        os.makedirs(final_dir, exist_ok=True)
        token = uuid.uuid4().hex
        tmp_part = f"{final_dir}/.{PART_FILE}.tmp-{token}"
        tmp_manifest = f"{final_dir}/.{MANIFEST_FILE}.tmp-{token}"
        try:
            with fs.open_output_stream(tmp_part) as sink:
                rows, _ = _stream_to_parquet(sink, data, schema)
            result = {"rows": rows, "files": 1, "bytes": os.path.getsize(tmp_part)}
            body = _manifest_dict(manifest, result)
            if body is not None:
                with open(tmp_manifest, "wb") as out:
                    out.write(json.dumps(body, indent=2, sort_keys=True, default=str).encode())
            os.replace(tmp_part, f"{final_dir}/{PART_FILE}")
            if body is not None:
                os.replace(tmp_manifest, f"{final_dir}/{MANIFEST_FILE}")
        except BaseException:
            for leftover in (tmp_part, tmp_manifest):
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
            raise
        _remove_stale(final_dir)
    else:
        tmp_key = f"{final_dir}/_tmp-{uuid.uuid4().hex}.parquet"
        try:
            with fs.open_output_stream(tmp_key) as sink:
                rows, _ = _stream_to_parquet(sink, data, schema)
            size = fs.get_file_info(tmp_key).size
            fs.move(tmp_key, f"{final_dir}/{PART_FILE}")  # CopyObject: atomic replace of the object
        except BaseException:
            _delete_quietly(fs, tmp_key)
            raise
        result = {"rows": rows, "files": 1, "bytes": size}
        body = _manifest_dict(manifest, result)
        if body is not None:
            with fs.open_output_stream(f"{final_dir}/{MANIFEST_FILE}") as out:
                out.write(json.dumps(body, indent=2, sort_keys=True, default=str).encode())
        # Anything else a previous writer may have left in the partition would be read twice.
        for info in _list(fs, final_dir):
            if info.base_name not in (PART_FILE, MANIFEST_FILE) and info.base_name.endswith(".parquet") \
                    and not _hidden(info.base_name):
                _delete_quietly(fs, info.path)
    result["path"] = final_dir
    return result


def _remove_stale(final_dir: str, max_age_s: float = 3600.0) -> None:
    """Hidden temp files a killed writer left behind (older than an hour: not a live writer's),
    and visible .parquet files other than part-0 (they would be read twice)."""
    now = time.time()
    for entry in os.scandir(final_dir):
        name = entry.name
        try:
            if ".tmp-" in name and name.startswith(".") and now - entry.stat().st_mtime > max_age_s:
                os.unlink(entry.path)
            elif name.endswith(".parquet") and name != PART_FILE and not _hidden(name):
                os.unlink(entry.path)
        except OSError:
            pass


def write_partition(
    table_name: str,
    date: DateLike,
    instance: str,
    batches_or_table: Data,
    root: str | Root | None = None,
    *,
    schema: pa.Schema | None = None,
    manifest: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
) -> dict:
    """Replace the ``date`` x ``instance`` partition of ``table_name`` with ``batches_or_table``.

    ``batches_or_table``: a Table, a RecordBatch or any iterable of them (consumed once, streamed).
    ``manifest``: a dict, or a callable called once the data is consumed (so that stats a streaming
    parser completes at the end can be included), written as ``_manifest.json`` in the partition.
    Returns ``{"rows", "files", "bytes", "path"}``.
    """
    r = root if isinstance(root, Root) else resolve_root(root)
    schema = schema or KNOWN_SCHEMAS.get(table_name)
    return _write_dir(partition_dir(table_name, date, instance, r), batches_or_table, r, schema, manifest)


def write_day(
    table_name: str,
    date: DateLike,
    batches_or_table: Data,
    root: str | Root | None = None,
    *,
    schema: pa.Schema | None = None,
    manifest: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
) -> dict:
    """Replace the ``date`` partition of a per-day table (e.g. ``query_digest``).

    A ``date`` column in the data, if any, is stored as ``date32`` so that it agrees with the
    ``date=`` directory when the table is read back.
    """
    r = root if isinstance(root, Root) else resolve_root(root)
    schema = schema or KNOWN_SCHEMAS.get(table_name)
    if isinstance(batches_or_table, pa.Table) and "date" in batches_or_table.column_names:
        batches_or_table = _date_column_as_date32(batches_or_table)
    return _write_dir(partition_dir(table_name, date, None, r), batches_or_table, r, schema, manifest)


def _date_column_as_date32(table: pa.Table) -> pa.Table:
    idx = table.column_names.index("date")
    col = table.column(idx)
    if pa.types.is_date32(col.type):
        return table
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        col = pa.array([None if v is None else dt.date.fromisoformat(v[:10]) for v in col.to_pylist()], pa.date32())
    else:
        col = col.cast(pa.date32())
    return table.set_column(idx, pa.field("date", pa.date32()), col)


# ------------------------------------------------------------------------------------------ read
def read_manifest(
    table: str, date: DateLike, instance: str | None = None, root: str | Root | None = None
) -> dict | None:
    """The ``_manifest.json`` of one partition, or None."""
    r = root if isinstance(root, Root) else resolve_root(root)
    path = f"{partition_dir(table, date, instance, r)}/{MANIFEST_FILE}"
    try:
        with r.fs.open_input_stream(path) as f:
            return json.loads(f.read().decode())
    except (FileNotFoundError, OSError):
        return None


def _instances_filter(instance: str | Sequence[str] | None) -> set[str] | None:
    if instance is None:
        return None
    if isinstance(instance, str):
        return {instance}
    return set(instance)


def _partition_value(name: str, key: str) -> str | None:
    prefix = key + "="
    if not name.startswith(prefix):
        return None
    return unquote(name[len(prefix):])


def list_partitions(
    table: str,
    start: DateLike | None = None,
    end: DateLike | None = None,
    instance: str | Sequence[str] | None = None,
    root: str | Root | None = None,
) -> list[tuple[dt.date, str | None, str]]:
    """``(date, instance or None, directory)`` of the partitions in range, listing only what it needs.

    Only the table directory and the chosen ``date=`` directories are listed; no file is opened.
    """
    r = root if isinstance(root, Root) else resolve_root(root)
    base = table_dir(table, r)
    first = to_date(start) if start is not None else None
    last = to_date(end) if end is not None else None
    wanted = _instances_filter(instance)
    out: list[tuple[dt.date, str | None, str]] = []
    for info in _list(r.fs, base):
        value = _partition_value(info.base_name, "date")
        if info.type != pafs.FileType.Directory or value is None:
            continue
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            continue
        if (first and day < first) or (last and day > last):
            continue
        if table not in INSTANCE_PARTITIONED:
            out.append((day, None, info.path))
            continue
        for sub in _list(r.fs, info.path):
            inst = _partition_value(sub.base_name, "instance")
            if sub.type != pafs.FileType.Directory or inst is None:
                continue
            if wanted is not None and inst not in wanted:
                continue
            out.append((day, inst, sub.path))
    return sorted(out, key=lambda t: (t[0], t[1] or ""))


def partition_files(
    table: str,
    start: DateLike | None = None,
    end: DateLike | None = None,
    instance: str | Sequence[str] | None = None,
    root: str | Root | None = None,
) -> list[str]:
    """The Parquet files that :func:`read_table` would read for these bounds."""
    r = root if isinstance(root, Root) else resolve_root(root)
    files: list[str] = []
    for _, _, path in list_partitions(table, start, end, instance, r):
        for info in _list(r.fs, path):
            if info.type == pafs.FileType.File and info.base_name.endswith(".parquet") and not _hidden(info.base_name):
                files.append(info.path)
    return files


def _partitioning(table: str) -> ds.Partitioning:
    fields = [pa.field("date", pa.date32())]
    if table in INSTANCE_PARTITIONED:
        fields.append(pa.field("instance", pa.string()))
    return ds.partitioning(pa.schema(fields), flavor="hive")


def _dataset(
    table: str,
    start: DateLike | None = None,
    end: DateLike | None = None,
    instance: str | Sequence[str] | None = None,
    root: str | Root | None = None,
    filter: ds.Expression | None = None,  # noqa: A002 - pyarrow's name
) -> tuple[ds.Dataset | None, ds.Expression | None, pa.Schema]:
    r = root if isinstance(root, Root) else resolve_root(root)
    files = partition_files(table, start, end, instance, r)
    partitioning = _partitioning(table)
    known = KNOWN_SCHEMAS.get(table)
    schema = None
    if known is not None:
        schema = known
        for field in partitioning.schema:
            if field.name not in schema.names:
                schema = schema.append(field)
    if not files:
        return None, None, schema if schema is not None else partitioning.schema
    dataset = ds.dataset(
        files,
        schema=schema,
        filesystem=r.fs,
        format="parquet",
        partitioning=partitioning,
        partition_base_dir=table_dir(table, r),
    )
    expr = filter
    wanted = _instances_filter(instance)
    if wanted is not None and "instance" in dataset.schema.names:
        cond = ds.field("instance").isin(sorted(wanted))
        expr = cond if expr is None else expr & cond
    return dataset, expr, dataset.schema


def read_table(
    table: str,
    start: DateLike | None = None,
    end: DateLike | None = None,
    instance: str | Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    root: str | Root | None = None,
    filter: ds.Expression | None = None,  # noqa: A002 - pyarrow's name
) -> pa.Table:
    """Read a warehouse table between ``start`` and ``end`` (inclusive days) for some instances.

    Only the partitions in range are listed and read. The partition keys come back as columns:
    ``date`` (date32) and, for per-instance tables, ``instance``. For per-day tables (query_digest)
    ``instance`` filters on the column of that name. ``filter``: an extra pyarrow.dataset expression.
    """
    dataset, expr, schema = _dataset(table, start, end, instance, root, filter)
    if dataset is None:
        t = schema.empty_table()
        return t.select([c for c in columns if c in t.column_names]) if columns else t
    return dataset.to_table(columns=list(columns) if columns else None, filter=expr)


def iter_batches(
    table: str,
    start: DateLike | None = None,
    end: DateLike | None = None,
    instance: str | Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    root: str | Root | None = None,
    filter: ds.Expression | None = None,  # noqa: A002 - pyarrow's name
    batch_size: int = 64 * 1024,
) -> Iterator[pa.RecordBatch]:
    """Like :func:`read_table`, streamed as record batches (constant memory)."""
    dataset, expr, _ = _dataset(table, start, end, instance, root, filter)
    if dataset is None:
        return
    yield from dataset.to_batches(columns=list(columns) if columns else None, filter=expr, batch_size=batch_size)
