"""The day's digest and DB-load series, built from per-unit parts.

``query_digest`` groups by (instance, checksum) and ranks the DB-load's top classes per instance,
so both are separable by instance: the day's tables are the instances' tables, concatenated and
put back in the day's order. Each parse step therefore digests its own instance-day while its
events stream past (:class:`UnitDigest`, no second read) and stores the parts beside the events
(``warehouse/query_digest_units/`` and ``warehouse/db_load_units/``, per date x instance). Then
``query_digest`` only concatenates (:func:`day_tables`) instead of reading the whole day's events
again: on the fleet benchmark that read was half of the asset's time.

A part is used only while it is *fresh*. The parts are written first, once the events have
streamed past and before the events partition replaces the old one; their ``digest_id`` is a hash
of their content, which the events manifest then repeats. Events written any other way (an older
version, a test, a crash between the two writes) carry another id or none, and that instance is
digested from its events as before. (Two event sets with the same id have the same digest, so the
parts are right for either.) Content-derived, the id is the same when a unit is re-parsed from the
same files: re-runs stay byte-identical. Both paths build one :class:`Digest` and one
:class:`LoadSeries` per instance, so they agree (up to the last bit of float sums, which depend on
batch boundaries).
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from dagster_project.slowlog.digest import DIGEST_SCHEMA, Digest, class_order
from dagster_project.slowlog.digest_cap import OVERFLOW_CHECKSUM
from dagster_project.slowlog.events import EVENT_SCHEMA
from dagster_project.slowlog.load import DB_LOAD_SCHEMA, LoadSeries
from dagster_project.warehouse import EVENTS_TABLE, PART_FILE, UNIT_DIGEST_TABLE, UNIT_LOAD_TABLE, Warehouse

#: the digest's classes: one per instance x query class (what makes the parts separable)
GROUP_BY = ("instance", "checksum")


class UnitDigest:
    """Digest and DB-load series of one instance-day, fed the batches on their way to Parquet."""

    def __init__(self) -> None:
        self.digest = Digest(group_by=GROUP_BY, hourly=True)
        self.load = LoadSeries()
        self.events = 0

    def add(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self.digest.add(batch)
            self.load.add(batch)
            self.events += batch.num_rows

    def feed(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """``batches``, passed through after each is added."""
        for batch in batches:
            self.add(batch)
            yield batch

    def write(self, wh: Warehouse, day: dt.date, instance: str) -> str:
        """Store the parts; returns their ``digest_id`` (for the events manifest)."""
        tables = (self.digest.to_table(day), self.load.to_table(day))
        digest_id = _content_id(tables)
        manifest = {"digest_id": digest_id, "events": self.events}
        for table, data in zip((UNIT_DIGEST_TABLE, UNIT_LOAD_TABLE), tables):
            wh.write_partition(table, day, data, instance=instance, manifest=manifest)
        return digest_id


def _content_id(tables: Iterable[pa.Table]) -> str:
    h = hashlib.sha256()
    for table in tables:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        h.update(sink.getvalue())
    return h.hexdigest()[:32]


def _fresh(wh: Warehouse, day: dt.date, instance: str) -> dict | None:
    events = wh.read_manifest(EVENTS_TABLE, day, instance) or {}
    digest_id = events.get("digest_id")
    if not digest_id:
        return None
    parts = [wh.read_manifest(t, day, instance) or {} for t in (UNIT_DIGEST_TABLE, UNIT_LOAD_TABLE)]
    return parts[0] if all(p.get("digest_id") == digest_id for p in parts) else None


def _sort_classes(table: pa.Table) -> pa.Table:
    """The day's class order (:func:`class_order`, as :meth:`Digest.classes`), then instance; the
    instances' overflow rows (events of the classes past ``$SLOWLOG_MAX_CLASSES``) last."""
    sums = table.column("query_time_sum").to_pylist()
    counts = table.column("count").to_pylist()
    checksums = table.column("checksum").to_pylist()
    instances = table.column("instance").to_pylist()
    order = sorted(range(table.num_rows), key=lambda i: (checksums[i] == OVERFLOW_CHECKSUM,
                                                         *class_order(sums[i], counts[i], checksums[i]),
                                                         instances[i] or ""))
    return table.take(pa.array(order, pa.int64()))


def day_tables(wh: Warehouse, day: dt.date) -> tuple[pa.Table, pa.Table, int, dict[str, int]]:
    """(digest table, DB-load table, events, {"parts": instances from fresh parts, "read": instances
    whose events were read}) of ``day``, over every instance partition of the events."""
    digests, loads = [], []
    events = 0
    used = {"parts": 0, "read": 0}
    for _, instance, _ in wh.list_partitions(EVENTS_TABLE, day, day):
        fresh = _fresh(wh, day, instance)
        if fresh is not None:
            digests.append(_read_part(wh, UNIT_DIGEST_TABLE, day, instance))
            loads.append(_read_part(wh, UNIT_LOAD_TABLE, day, instance))
            events += int(fresh.get("events") or 0)
            used["parts"] += 1
            continue
        unit = UnitDigest()
        for batch in wh.iter_batches(EVENTS_TABLE, day, day, instance=instance, columns=EVENT_SCHEMA.names):
            unit.add(batch)
        digests.append(unit.digest.to_table(day))
        loads.append(unit.load.to_table(day))
        events += unit.events
        used["read"] += 1
    digest = _sort_classes(_conform(digests, DIGEST_SCHEMA))
    load = _conform(loads, DB_LOAD_SCHEMA).sort_by([("instance", "ascending"), ("minute", "ascending"),
                                                     ("rank", "ascending")])
    return digest, load, events, used


def _read_part(wh: Warehouse, table: str, day: dt.date, instance: str) -> pa.Table:
    return pq.read_table(f"{wh.partition_dir(table, day, instance)}/{PART_FILE}", filesystem=wh.fs)


def _conform(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    """One table of ``schema`` (a part read back may carry the partition columns, or lack a date)."""
    out = []
    for t in tables:
        out.append(pa.table({name: t.column(name).cast(schema.field(name).type) for name in schema.names},
                            schema=schema))
    return pa.concat_tables(out) if out else schema.empty_table()
