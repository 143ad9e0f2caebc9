"""The one partitioning of the pipeline: UTC days.

``end_offset=1`` makes today's (still growing) day a partition too, so the sensor can ingest the
files RDS rotated in the last hours; re-materializing it later replaces it (every write is
idempotent per partition).
"""
from __future__ import annotations

import os

import dagster as dg

DEFAULT_START_DATE = "2026-01-01"


def start_date() -> str:
    """First partition: ``$SLOWLOG_START_DATE`` (YYYY-MM-DD) or 2026-01-01."""
    return os.environ.get("SLOWLOG_START_DATE") or DEFAULT_START_DATE


daily_partitions = dg.DailyPartitionsDefinition(start_date=start_date(), timezone="UTC", end_offset=1)
