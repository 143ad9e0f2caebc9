"""Write parsed events as hive-partitioned Parquet (DIR/date=YYYY-MM-DD/instance=ID/FILE.parquet).

One output file per (source file, date, instance), named after the source file, so re-running
the same input replaces its files instead of adding duplicates. Files appear atomically
(written under a temporary name, then renamed). Streaming: one open writer per partition.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .events import EVENT_SCHEMA

_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")
ROW_GROUP_ROWS = 131072  # parsers yield small batches (cache-friendly); Parquet wants big row groups


class RowGroupWriter:
    """A ParquetWriter that gathers small batches into row groups of ~ROW_GROUP_ROWS rows."""

    def __init__(self, where, schema: pa.Schema, compression: str = "zstd", row_group_rows: int = ROW_GROUP_ROWS):
        self._writer = pq.ParquetWriter(where, schema, compression=compression)
        self._pending: list = []
        self._rows = 0
        self.row_group_rows = row_group_rows

    def write(self, batch_or_table) -> None:
        self._pending.append(batch_or_table)
        self._rows += batch_or_table.num_rows
        if self._rows >= self.row_group_rows:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            parts = [p if isinstance(p, pa.Table) else pa.Table.from_batches([p]) for p in self._pending]
            self._writer.write_table(pa.concat_tables(parts), row_group_size=self.row_group_rows)
            self._pending, self._rows = [], 0

    def close(self) -> None:
        self.flush()
        self._writer.close()
NO_DATE = "unknown"


def safe_name(text: str) -> str:
    return _UNSAFE.sub("_", text) or "_"


def write_events(batches, out_dir: str | os.PathLike, *, instance: str, compression: str = "zstd") -> dict:
    """Stream batches into DIR/date=/instance=/<source>.parquet; return {partition: rows}."""
    out = Path(out_dir)
    writers: dict[str, tuple[pq.ParquetWriter, Path, Path]] = {}
    rows: dict[str, int] = {}
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            days = pc.strftime(batch.column("ts"), format="%Y-%m-%d").to_pylist() if batch.column("ts").null_count < batch.num_rows else [None] * batch.num_rows
            source = batch.column("source_file")[0].as_py() or "stdin"
            table = pa.Table.from_batches([batch])
            for day in sorted(set(days), key=lambda d: d or ""):
                part = f"date={day or NO_DATE}/instance={safe_name(instance)}"
                if len(set(days)) == 1:
                    piece = table
                else:
                    mask = pa.array([d == day for d in days])
                    piece = table.filter(mask)
                if part not in writers:
                    final = out / part / f"{safe_name(source)}.parquet"
                    final.parent.mkdir(parents=True, exist_ok=True)
                    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
                    writers[part] = (RowGroupWriter(tmp, EVENT_SCHEMA, compression=compression), tmp, final)
                    rows[part] = 0
                writers[part][0].write(piece)
                rows[part] += piece.num_rows
    except BaseException:
        for w, tmp, _ in writers.values():
            w.close()
            tmp.unlink(missing_ok=True)
        raise
    for w, tmp, final in writers.values():
        w.close()
        os.replace(tmp, final)
    return rows
