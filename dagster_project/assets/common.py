"""Helpers shared by the asset modules: the days of a run, Markdown tables for metadata."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import dagster as dg

PartitionedContext = dg.AssetExecutionContext | dg.AssetCheckExecutionContext | dg.OpExecutionContext


def partition_days(context: PartitionedContext) -> list[dt.date]:
    """The UTC days of the run's partition window (one day, or every day of a range run)."""
    window = context.partition_time_window
    start = window.start.astimezone(dt.timezone.utc)
    end = window.end.astimezone(dt.timezone.utc)
    days, day = [], start.date()
    while dt.datetime.combine(day, dt.time(), dt.timezone.utc) < end:
        days.append(day)
        day += dt.timedelta(days=1)
    return days


def md_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """A Markdown table (pipes and newlines in cells escaped)."""
    if not rows:
        return "_(none)_"
    columns = list(columns or rows[0].keys())

    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            v = f"{v:.6g}"
        return str(v).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def truncate(text: Any, limit: int = 120) -> Any:
    if isinstance(text, str) and len(text) > limit:
        return text[: limit - 1] + "…"
    return text
