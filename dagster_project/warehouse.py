"""The Parquet warehouse: hive-partitioned tables under ``<data root>/warehouse/``.

Layout::

    <root>/raw/date=YYYY-MM-DD/instance=<id>/<log file name>                  (byte-identical copies)
    <root>/warehouse/slow_query_events/date=YYYY-MM-DD/instance=<id>/part-0.parquet
    <root>/warehouse/slow_query_events/date=YYYY-MM-DD/instance=<id>/_manifest.json
    <root>/warehouse/query_digest/date=YYYY-MM-DD/part-0.parquet

Writes are idempotent per partition: re-materializing a partition *replaces* it, never appends.
They are also atomic for readers:

* local filesystem: the new ``part-0.parquet`` is written under a hidden name inside the partition
  (``.part-0.parquet.tmp-<owner tag>``) and ``os.replace``d onto the old one, then the manifest the same
  way. A reader sees the old file or the new one, never none and never half of one; a crash or a
  failed rename at any point leaves the previous version in place, and the temp file of a killed
  writer is removed by the next write of the partition (:mod:`dagster_project.scratch`).
* S3: the Parquet file is uploaded under a temporary key (``_tmp-<uuid>.parquet``, which readers,
  Athena included, ignore) and then copied onto ``part-0.parquet``; an S3 object replace is atomic.

Files and folders whose names start with ``.`` or ``_`` are invisible to :meth:`Warehouse.read_table`
(pyarrow's and Athena's convention), which is also what keeps ``_manifest.json`` out of the data.

Batches are streamed through one ``pyarrow.parquet.ParquetWriter`` (zstd), so memory stays constant
whatever the partition size (:mod:`dagster_project.parquet_stream`).

Everything that touches a root goes through one object, which resolves its root once::

    wh = Warehouse()                      # $SLOWLOG_DATA_ROOT, else ./data
    wh = Warehouse("s3://bucket/prefix")  # or a path, or a settings.Root
    wh.write_partition(DIGEST_TABLE, day, table)
    wh.read_table(EVENTS_TABLE, "2026-01-01", "2026-01-07", instance="db-1")

(In assets: ``data_root.warehouse()``, the ``data_root`` resource's root.)
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from dagster_project.days import DateLike, to_date
from dagster_project.parquet_stream import Data, date_column_as_date32, stream_to_parquet
from dagster_project.scratch import owner_tag, remove_dead
from dagster_project.settings import Root, resolve_root
from dagster_project.slowlog.digest import DIGEST_SCHEMA
from dagster_project.slowlog.events import EVENT_SCHEMA
from dagster_project.slowlog.load import DB_LOAD_SCHEMA

EVENTS_TABLE = "slow_query_events"
DIGEST_TABLE = "query_digest"
DB_LOAD_TABLE = "db_load"  # per day: per-minute load of each instance's top classes (slowlog/load.py)
# per date x instance: the parse step's digest / DB-load series of its unit, which query_digest
# concatenates into the day's (assets/digest_units.py); not tables to analyse
UNIT_DIGEST_TABLE = "query_digest_units"
UNIT_LOAD_TABLE = "db_load_units"
PART_FILE = "part-0.parquet"
MANIFEST_FILE = "_manifest.json"
TMP_MARKER = ".tmp-"  # local temp files: .<final name>.tmp-<owner tag>; S3: _tmp-<uuid>... keys
TMP_STALE_AFTER_S = 3600.0  # a temp file or key whose writer's liveness cannot be seen, once this old

# Tables whose partitions are per day AND instance; every other table is per day only.
INSTANCE_PARTITIONED = {EVENTS_TABLE, UNIT_DIGEST_TABLE, UNIT_LOAD_TABLE}
# Known file schemas (used for empty partitions and to read a table with a stable schema).
KNOWN_SCHEMAS: dict[str, pa.Schema] = {EVENTS_TABLE: EVENT_SCHEMA, DIGEST_TABLE: DIGEST_SCHEMA,
                                       DB_LOAD_TABLE: DB_LOAD_SCHEMA, UNIT_DIGEST_TABLE: DIGEST_SCHEMA,
                                       UNIT_LOAD_TABLE: DB_LOAD_SCHEMA}

Manifest = Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None
Instances = str | Sequence[str] | None


# ---------------------------------------------------------------------------------- pure helpers
def _seg(key: str, value: str) -> str:
    return f"{key}={quote(str(value), safe='')}"


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("_")


def _list(fs: pafs.FileSystem, path: str) -> list[pafs.FileInfo]:
    try:
        return fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=False))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _delete_quietly(fs: pafs.FileSystem, path: str) -> None:
    with contextlib.suppress(FileNotFoundError, OSError):
        fs.delete_file(path)


def _manifest_bytes(manifest: Manifest, result: dict) -> bytes | None:
    """The ``_manifest.json`` body (``written_at`` and ``rows_written`` added), or None."""
    if manifest is None:
        return None
    body = dict(manifest() if callable(manifest) else manifest)
    body.setdefault("written_at", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    body.setdefault("rows_written", result["rows"])
    return json.dumps(body, indent=2, sort_keys=True, default=str).encode()


def _remove_stale(final_dir: str) -> None:
    """Hidden temp files a killed writer left behind (scratch.remove_dead: never a live writer's),
    and visible .parquet files other than part-0 (they would be read twice)."""
    remove_dead(final_dir, ".", marker=TMP_MARKER, max_age_s=TMP_STALE_AFTER_S)
    for entry in os.scandir(final_dir):
        name = entry.name
        if name.endswith(".parquet") and name != PART_FILE and not _hidden(name):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _instances_filter(instance: Instances) -> set[str] | None:
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


def _partitioning(table: str) -> ds.Partitioning:
    fields = [pa.field("date", pa.date32())]
    if table in INSTANCE_PARTITIONED:
        fields.append(pa.field("instance", pa.string()))
    return ds.partitioning(pa.schema(fields), flavor="hive")


def _read_schema(table: str, partitioning: ds.Partitioning) -> pa.Schema | None:
    """The known file schema of ``table`` plus its partition columns (None: inferred from the files)."""
    schema = KNOWN_SCHEMAS.get(table)
    if schema is not None:
        for field in partitioning.schema:
            if field.name not in schema.names:
                schema = schema.append(field)
    return schema


# ------------------------------------------------------------------------------------ warehouse
class Warehouse:
    """The raw files and Parquet tables under one data root.

    ``root``: a :class:`~dagster_project.settings.Root`, a path or URI (``s3://bucket/prefix``), or
    None for ``$SLOWLOG_DATA_ROOT`` (else ``./data``); resolved once, here.
    """

    def __init__(self, root: Root | str | os.PathLike | None = None) -> None:
        self.root: Root = root if isinstance(root, Root) else resolve_root(root)

    def __repr__(self) -> str:
        return f"Warehouse({self.root.uri!r})"

    @property
    def fs(self) -> pafs.FileSystem:
        return self.root.fs

    # ----------------------------------------------------------------------------- layout
    def table_dir(self, table: str) -> str:
        """``<root>/warehouse/<table>`` inside the root's filesystem."""
        return self.root.path("warehouse", table)

    def partition_dir(self, table: str, date: DateLike, instance: str | None = None) -> str:
        """Path (inside the root's filesystem) of one partition directory."""
        parts = ["warehouse", table, _seg("date", to_date(date).isoformat())]
        if instance is not None:
            parts.append(_seg("instance", instance))
        return self.root.path(*parts)

    def raw_dir(self, date: DateLike, instance: str) -> str:
        """``<root>/raw/date=YYYY-MM-DD/instance=<id>`` inside the root's filesystem."""
        return self.root.path("raw", _seg("date", to_date(date).isoformat()), _seg("instance", instance))

    # -------------------------------------------------------------------------- raw files
    def list_raw_files(self, date: DateLike, instance: str) -> list[pafs.FileInfo]:
        """The raw log files of one day x instance, sorted by name (hidden temp files excluded)."""
        infos = [
            i
            for i in _list(self.fs, self.raw_dir(date, instance))
            if i.type == pafs.FileType.File and not _hidden(i.base_name)
        ]
        return sorted(infos, key=lambda i: i.base_name)

    def put_file(self, local_path: str, dest_path: str) -> int:
        """Move/upload a local file to ``dest_path`` in the root's filesystem, atomically; returns bytes.

        Local root: ``os.replace`` (same filesystem expected; falls back to copy + replace).
        S3: upload under a hidden temporary key, then copy onto the final key.
        """
        size = os.path.getsize(local_path)
        if self.root.is_local:
            os.makedirs(os.path.dirname(dest_path), exist_ok=True)
            try:
                os.replace(local_path, dest_path)
            except OSError:  # different device
                tmp = os.path.join(os.path.dirname(dest_path), f".{os.path.basename(dest_path)}{TMP_MARKER}{owner_tag()}")
                shutil.copyfile(local_path, tmp)
                os.replace(tmp, dest_path)
                os.unlink(local_path)
            return size
        parent, name = dest_path.rsplit("/", 1)
        tmp = f"{parent}/_tmp-{uuid.uuid4().hex}-{name}"
        try:
            pafs.copy_files(local_path, tmp, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=self.fs)
            self.fs.move(tmp, dest_path)
        except BaseException:
            _delete_quietly(self.fs, tmp)
            raise
        return size

    # ------------------------------------------------------------------------------ write
    def write_partition(
        self,
        table: str,
        date: DateLike,
        data: Data,
        *,
        instance: str | None = None,
        schema: pa.Schema | None = None,
        manifest: Manifest = None,
    ) -> dict:
        """Replace the ``date`` (x ``instance``, for per-instance tables) partition of ``table``.

        ``data``: a Table, a RecordBatch or any iterable of them (consumed once, streamed). A
        ``date`` column in a Table is stored as ``date32`` so that it agrees with the ``date=``
        directory when the table is read back. ``schema``: default the table's known schema.
        ``manifest``: a dict, or a callable called once the data is consumed (so that stats a
        streaming parser completes at the end can be included), written as ``_manifest.json`` in
        the partition. Returns ``{"rows", "files", "bytes", "path"}``.
        """
        final_dir = self.partition_dir(table, date, instance)
        data = date_column_as_date32(data)
        schema = schema or KNOWN_SCHEMAS.get(table)
        if self.root.is_local:
            result = self._write_local(final_dir, data, schema, manifest)
        else:
            result = self._write_object_store(final_dir, data, schema, manifest)
        result["path"] = final_dir
        return result

    def _write_local(self, final_dir: str, data: Data, schema: pa.Schema | None, manifest: Manifest) -> dict:
        # The partition directory stays in place; the new file is written under a hidden name
        # beside the old one and os.replace'd onto it (atomic): a reader sees the old or the new
        # version, never none; a crash or a failed rename at any point leaves the old one.
        os.makedirs(final_dir, exist_ok=True)
        token = owner_tag()
        tmp_part = f"{final_dir}/.{PART_FILE}{TMP_MARKER}{token}"
        tmp_manifest = f"{final_dir}/.{MANIFEST_FILE}{TMP_MARKER}{token}"
        try:
            with self.fs.open_output_stream(tmp_part) as sink:
                rows, _ = stream_to_parquet(sink, data, schema)
            result = {"rows": rows, "files": 1, "bytes": os.path.getsize(tmp_part)}
            body = _manifest_bytes(manifest, result)
            if body is not None:
                with open(tmp_manifest, "wb") as out:
                    out.write(body)
            os.replace(tmp_part, f"{final_dir}/{PART_FILE}")
            if body is not None:
                os.replace(tmp_manifest, f"{final_dir}/{MANIFEST_FILE}")
        except BaseException:
            for leftover in (tmp_part, tmp_manifest):
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
            raise
        _remove_stale(final_dir)
        return result

    def _write_object_store(self, final_dir: str, data: Data, schema: pa.Schema | None, manifest: Manifest) -> dict:
        fs = self.fs
        tmp_key = f"{final_dir}/_tmp-{uuid.uuid4().hex}.parquet"
        try:
            with fs.open_output_stream(tmp_key) as sink:
                rows, _ = stream_to_parquet(sink, data, schema)
            size = fs.get_file_info(tmp_key).size
            fs.move(tmp_key, f"{final_dir}/{PART_FILE}")  # CopyObject: atomic replace of the object
        except BaseException:
            _delete_quietly(fs, tmp_key)
            raise
        result = {"rows": rows, "files": 1, "bytes": size}
        body = _manifest_bytes(manifest, result)
        if body is not None:
            with fs.open_output_stream(f"{final_dir}/{MANIFEST_FILE}") as out:
                out.write(body)
        # Anything else a previous writer may have left in the partition would be read twice.
        for info in _list(fs, final_dir):
            if info.base_name not in (PART_FILE, MANIFEST_FILE) and info.base_name.endswith(".parquet") \
                    and not _hidden(info.base_name):
                _delete_quietly(fs, info.path)
        self.remove_dead_temp_files(final_dir)
        return result

    def remove_dead_temp_files(self, folder: str) -> list[str]:
        """The temp files (local) or ``_tmp-`` keys (S3) of writers that died in ``folder``; on S3,
        where a writer's liveness cannot be seen, those older than ``TMP_STALE_AFTER_S``."""
        if self.root.is_local:
            return remove_dead(folder, ".", marker=TMP_MARKER, max_age_s=TMP_STALE_AFTER_S)
        removed, now = [], time.time()
        for info in _list(self.fs, folder):
            if info.base_name.startswith("_tmp-") and info.mtime and now - info.mtime.timestamp() > TMP_STALE_AFTER_S:
                _delete_quietly(self.fs, info.path)
                removed.append(info.base_name)
        return removed

    # ------------------------------------------------------------------------------- read
    def read_manifest(self, table: str, date: DateLike, instance: str | None = None) -> dict | None:
        """The ``_manifest.json`` of one partition, or None."""
        path = f"{self.partition_dir(table, date, instance)}/{MANIFEST_FILE}"
        try:
            with self.fs.open_input_stream(path) as f:
                return json.loads(f.read().decode())
        except (FileNotFoundError, OSError):
            return None

    def list_partitions(
        self, table: str, start: DateLike | None = None, end: DateLike | None = None, instance: Instances = None
    ) -> list[tuple[dt.date, str | None, str]]:
        """``(date, instance or None, directory)`` of the partitions in range, listing only what it needs.

        Only the table directory and the chosen ``date=`` directories are listed; no file is opened.
        """
        first = to_date(start) if start is not None else None
        last = to_date(end) if end is not None else None
        wanted = _instances_filter(instance)
        out: list[tuple[dt.date, str | None, str]] = []
        for info in _list(self.fs, self.table_dir(table)):
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
            for sub in _list(self.fs, info.path):
                inst = _partition_value(sub.base_name, "instance")
                if sub.type != pafs.FileType.Directory or inst is None:
                    continue
                if wanted is not None and inst not in wanted:
                    continue
                out.append((day, inst, sub.path))
        return sorted(out, key=lambda t: (t[0], t[1] or ""))

    def partition_files(
        self, table: str, start: DateLike | None = None, end: DateLike | None = None, instance: Instances = None
    ) -> list[str]:
        """The Parquet files that :meth:`read_table` would read for these bounds."""
        files: list[str] = []
        for _, _, path in self.list_partitions(table, start, end, instance):
            for info in _list(self.fs, path):
                if info.type == pafs.FileType.File and info.base_name.endswith(".parquet") and not _hidden(info.base_name):
                    files.append(info.path)
        return files

    def _dataset(
        self,
        table: str,
        start: DateLike | None,
        end: DateLike | None,
        instance: Instances,
        filter: ds.Expression | None,  # noqa: A002 - pyarrow's name
    ) -> tuple[ds.Dataset | None, ds.Expression | None, pa.Schema]:
        files = self.partition_files(table, start, end, instance)
        partitioning = _partitioning(table)
        schema = _read_schema(table, partitioning)
        if not files:
            return None, None, schema if schema is not None else partitioning.schema
        dataset = ds.dataset(
            files,
            schema=schema,
            filesystem=self.fs,
            format="parquet",
            partitioning=partitioning,
            partition_base_dir=self.table_dir(table),
        )
        expr = filter
        wanted = _instances_filter(instance)
        if wanted is not None and "instance" in dataset.schema.names:
            cond = ds.field("instance").isin(sorted(wanted))
            expr = cond if expr is None else expr & cond
        return dataset, expr, dataset.schema

    def read_table(
        self,
        table: str,
        start: DateLike | None = None,
        end: DateLike | None = None,
        instance: Instances = None,
        columns: Sequence[str] | None = None,
        filter: ds.Expression | None = None,  # noqa: A002 - pyarrow's name
    ) -> pa.Table:
        """Read a warehouse table between ``start`` and ``end`` (inclusive days) for some instances.

        Only the partitions in range are listed and read. The partition keys come back as columns:
        ``date`` (date32) and, for per-instance tables, ``instance``. For per-day tables (query_digest)
        ``instance`` filters on the column of that name. ``filter``: an extra pyarrow.dataset expression.
        """
        dataset, expr, schema = self._dataset(table, start, end, instance, filter)
        if dataset is None:
            t = schema.empty_table()
            return t.select([c for c in columns if c in t.column_names]) if columns else t
        return dataset.to_table(columns=list(columns) if columns else None, filter=expr)

    def iter_batches(
        self,
        table: str,
        start: DateLike | None = None,
        end: DateLike | None = None,
        instance: Instances = None,
        columns: Sequence[str] | None = None,
        filter: ds.Expression | None = None,  # noqa: A002 - pyarrow's name
        batch_size: int = 64 * 1024,
    ) -> Iterator[pa.RecordBatch]:
        """Like :meth:`read_table`, streamed as record batches (constant memory)."""
        dataset, expr, _ = self._dataset(table, start, end, instance, filter)
        if dataset is None:
            return
        yield from dataset.to_batches(columns=list(columns) if columns else None, filter=expr, batch_size=batch_size)
