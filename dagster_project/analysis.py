"""Load the warehouse into pandas.

    from dagster_project.analysis import load_events, load_digest
    df = load_events("2026-01-01", "2026-01-07", instance=["db-1", "db-2"], columns=["ts", "query_time", "checksum"])
    top = load_digest("2026-01-07").nlargest(10, "query_time_sum")          # one day, as stored
    week = load_digest("2026-01-01", "2026-01-07")                           # one row per class of the week

Only the partitions in range are listed and read (see :mod:`dagster_project.warehouse`). ``root``
is the data root (a path, ``s3://bucket/prefix``, a :class:`~dagster_project.settings.Root`, or None
for ``$SLOWLOG_DATA_ROOT`` / ``./data``); each call reads it through one
:class:`~dagster_project.warehouse.Warehouse`.

A note on days: events are stored in the partition of the day of the *file* they came from (a file
that straddles midnight puts a few events of the next/previous day in its own day's partition; that
keeps ingestion exactly-once per file). ``load_events`` therefore answers by event time: with
``by="ts"`` (the default) it reads one more partition on each side and keeps the events whose ``ts``
falls in ``[start 00:00 UTC, end + 1 day 00:00 UTC)``; events without a timestamp are kept when
their partition is in range. ``by="partition"`` returns whole partitions instead.
"""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from dagster_project.days import DateLike, to_date_or_none
from dagster_project.rollup import merge_digest
from dagster_project.settings import Root
from dagster_project.warehouse import DIGEST_TABLE, EVENTS_TABLE, Warehouse

__all__ = ["load_events", "load_digest", "read_events"]

_ONE_DAY = dt.timedelta(days=1)

RootLike = Root | str | os.PathLike | None


def _bounds(start: DateLike | None, end: DateLike | None) -> tuple[dt.date | None, dt.date | None]:
    """``start`` and ``end`` as days (None: unbounded); a reversed range is an error."""
    first, last = to_date_or_none(start), to_date_or_none(end)
    if first and last and first > last:
        raise ValueError(f"start {first} is after end {last}")
    return first, last


def read_events(
    start: DateLike | None = None,
    end: DateLike | None = None,
    instance: str | Sequence[str] | None = None,
    root: RootLike = None,
    columns: Sequence[str] | None = None,
    by: str = "ts",
) -> pa.Table:
    """Like :func:`load_events` but returns a ``pyarrow.Table``."""
    if by not in ("ts", "partition"):
        raise ValueError("by must be 'ts' or 'partition'")
    first, last = _bounds(start, end)
    wh = Warehouse(root)
    if by == "partition" or (first is None and last is None):
        return wh.read_table(EVENTS_TABLE, first, last, instance, columns)

    # by ts: widen by a day each side, then filter on the event time (partition day for null ts).
    expr = None
    date_f, ts_f = ds.field("date"), ds.field("ts")
    if first is not None:
        lo = pa.scalar(dt.datetime.combine(first, dt.time(), dt.timezone.utc), pa.timestamp("us", tz="UTC"))
        expr = ts_f >= lo
    if last is not None:
        hi = pa.scalar(dt.datetime.combine(last + _ONE_DAY, dt.time(), dt.timezone.utc), pa.timestamp("us", tz="UTC"))
        cond = ts_f < hi
        expr = cond if expr is None else expr & cond
    in_days = None
    if first is not None:
        in_days = date_f >= pa.scalar(first, pa.date32())
    if last is not None:
        cond = date_f <= pa.scalar(last, pa.date32())
        in_days = cond if in_days is None else in_days & cond
    expr = expr | (ts_f.is_null() & in_days)

    wanted = list(columns) if columns else None
    read_cols = None
    if wanted is not None:
        read_cols = list(dict.fromkeys([*wanted, "ts", "date"]))
    table = wh.read_table(
        EVENTS_TABLE,
        first - _ONE_DAY if first else None,
        last + _ONE_DAY if last else None,
        instance,
        read_cols,
        filter=expr,
    )
    if wanted is not None:
        table = table.select([c for c in wanted if c in table.column_names])
    return table


def load_events(
    start: DateLike | None = None,
    end: DateLike | None = None,
    instance: str | Sequence[str] | None = None,
    root: RootLike = None,
    columns: Sequence[str] | None = None,
    by: str = "ts",
) -> pd.DataFrame:
    """Slow-query events as a DataFrame.

    start, end: days (``date``, ``datetime`` or ``"YYYY-MM-DD"``), both inclusive; None = unbounded.
    instance: one instance id or a list of them; None = all.
    root: data root (default ``$SLOWLOG_DATA_ROOT`` or ``./data``; ``s3://bucket/prefix`` works).
    columns: the columns to read (default all, plus the partition column ``date``).
    by: ``"ts"`` (default) selects events by their timestamp, ``"partition"`` by their file's day.
    """
    return read_events(start, end, instance, root, columns, by).to_pandas()


def load_digest(
    start: DateLike | None = None,
    end: DateLike | None = None,
    instance: str | Sequence[str] | None = None,
    root: RootLike = None,
    columns: Sequence[str] | None = None,
    max_classes: int | None = None,
) -> pd.DataFrame:
    """Query-class aggregates from the stored daily digests (``query_digest``) alone.

    One day (``end`` None or equal to ``start``): that day's rows as stored. A range: one row per
    instance x class over the whole range, merged from the daily rows (exact counts, sums, min, max,
    avg and stddev; quantiles from the merged sketches, within 1%; see :mod:`dagster_project.rollup`),
    with the same columns plus ``days`` (days the class was seen); ``date`` is the range's first day.
    The events table is never read. ``start`` None: every stored day (merged). ``instance`` filters
    the ``instance`` column; ``columns`` selects the columns returned. A range with ``max_classes``:
    at most that many classes per instance, the others' events in its overflow row (checksum
    ``OVERFLOW_CHECKSUM``, last), as the daily rows hold those past ``$SLOWLOG_MAX_CLASSES``.
    """
    if start is not None and end is None:
        end = start
    first, last = _bounds(start, end)
    wh = Warehouse(root)
    if first is not None and first == last:
        return wh.read_table(DIGEST_TABLE, first, last, instance, columns).to_pandas()
    merged = merge_digest(wh.read_table(DIGEST_TABLE, first, last, instance), max_classes=max_classes)
    return merged[[c for c in columns if c in merged.columns]] if columns else merged
