"""The event schema: one pyarrow schema for every engine, defined here and nowhere else.

Every parser yields ``pyarrow.RecordBatch`` objects in exactly this schema. Times are seconds
(float64), timestamps are UTC. Fields an engine does not have are null.
"""
from __future__ import annotations

import pyarrow as pa

EVENT_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("instance", pa.string()),
        pa.field("engine", pa.string()),  # mysql | postgres | redis
        pa.field("user", pa.string()),
        pa.field("host", pa.string()),
        pa.field("ip", pa.string()),
        pa.field("db", pa.string()),
        pa.field("thread_id", pa.int64()),  # MySQL Thread_id / Id, PostgreSQL pid
        pa.field("query_time", pa.float64()),
        pa.field("lock_time", pa.float64()),
        pa.field("rows_sent", pa.int64()),
        pa.field("rows_examined", pa.int64()),
        pa.field("rows_affected", pa.int64()),
        pa.field("bytes_sent", pa.int64()),
        pa.field("checksum", pa.string()),  # MD5(fingerprint), 32 upper-case hex, as pt-query-digest
        pa.field("fingerprint", pa.string()),
        pa.field("query", pa.string()),
        # Every other numeric attribute the log carried (InnoDB_*, Tmp_tables, Merge_passes ...),
        # Yes/No flags as 1.0/0.0. PostgreSQL: "port" (client port), and on an extended-protocol
        # execute the durations of the parse / bind steps that preceded it, "parse_time" and
        # "bind_time" (seconds; absent when the execute had none, e.g. a prepared statement's reuse).
        pa.field("extra", pa.map_(pa.string(), pa.float64())),
        # Non-numeric attributes (PostgreSQL command tag, Redis client name, ...).
        pa.field("extra_text", pa.map_(pa.string(), pa.string())),
        pa.field("source_file", pa.string()),
        pa.field("source_offset", pa.int64()),  # byte offset of the entry's first line in the source
        pa.field("source_length", pa.int64()),  # bytes of the source the entry spans
    ]
)

COLUMNS = tuple(EVENT_SCHEMA.names)
NUMERIC_METRICS = ("query_time", "lock_time", "rows_sent", "rows_examined")


def empty_table() -> pa.Table:
    return EVENT_SCHEMA.empty_table()
