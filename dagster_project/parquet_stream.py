"""One partition's data as one Parquet file: record batches streamed through one
:class:`~dagster_project.slowlog.writer.RowGroupWriter` (zstd), each conformed to the table's schema,
so memory stays constant whatever the partition size. Where the file goes, atomically, is
:mod:`dagster_project.warehouse`'s business."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from dagster_project.slowlog.writer import RowGroupWriter

COMPRESSION = "zstd"
ROW_GROUP_ROWS = 128 * 1024

Data = pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch | pa.Table]


def batches(data: Data) -> Iterable[pa.RecordBatch]:
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


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` in exactly ``schema`` (column order, types; missing columns as nulls)."""
    if batch.schema.equals(schema, check_metadata=False):
        return batch
    table = pa.Table.from_batches([batch])
    for field in schema:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(len(table), field.type))
    table = table.select(schema.names).cast(schema)
    return table.combine_chunks().to_batches()[0]


def stream_to_parquet(sink: Any, data: Data, schema: pa.Schema | None) -> tuple[int, pa.Schema]:
    """Write every batch of ``data`` to ``sink`` through one ParquetWriter; returns (rows, schema)."""
    writer: RowGroupWriter | None = None
    rows = 0
    try:
        for batch in batches(data):
            if writer is None:
                schema = schema or batch.schema
                writer = RowGroupWriter(sink, schema, compression=COMPRESSION, row_group_rows=ROW_GROUP_ROWS)
            if batch.num_rows == 0:
                continue
            batch = conform(batch, schema)
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


def date_column_as_date32(data: Data) -> Data:
    """A Table's ``date`` column, if any, as ``date32`` (so that it agrees with the ``date=``
    directory when the table is read back); anything else as is."""
    if not isinstance(data, pa.Table) or "date" not in data.column_names:
        return data
    idx = data.column_names.index("date")
    col = data.column(idx)
    if pa.types.is_date32(col.type):
        return data
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        col = pa.array([None if v is None else dt.date.fromisoformat(v[:10]) for v in col.to_pylist()], pa.date32())
    else:
        col = col.cast(pa.date32())
    return data.set_column(idx, pa.field("date", pa.date32()), col)
