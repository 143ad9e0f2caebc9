"""Plain-Python helpers behind ``slowlog fetch rds|cloudwatch`` (no Dagster)."""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any

from dagster_project.days import to_date_or_none

from .base import DEFAULT_MAX_CONCURRENT_DOWNLOADS, DownloadResult, download_concurrently
from .cloudwatch import CloudWatchLogSource, instance_of_group
from .aws_client import make_client
from .rds import RDSLogSource

__all__ = ["fetch_rds", "fetch_cloudwatch", "NoFilesForDay"]


class NoFilesForDay(LookupError):
    """``fetch_rds`` with a day that no slow-log file of the instance covers; ``days`` lists those that do."""

    def __init__(self, instance: str, day: _dt.date, days: list[_dt.date]) -> None:
        self.instance, self.day, self.days = instance, day, days
        have = ", ".join(d.isoformat() for d in days) if days else "none"
        super().__init__(f"no slow-log file of {instance} covers {day.isoformat()}; days with files: {have}")


def fetch_rds(
    instance: str,
    day: _dt.date | str | None,
    out_dir: str | os.PathLike[str],
    region: str | None = None,
    endpoint_url: str | None = None,
    max_attempts: int = 10,
    retry_mode: str = "standard",
    max_concurrent: int = DEFAULT_MAX_CONCURRENT_DOWNLOADS,
) -> list[DownloadResult]:
    """Download the instance's slow-query log files into ``out_dir``: those of ``day``, or every one
    the instance has now when ``day`` is None (the live file included), ``max_concurrent`` at a time.

    Files keep their RDS names without the ``slowquery/`` / ``error/`` prefix. A day that no file
    covers raises :class:`NoFilesForDay` naming the days that have files.
    """
    client = make_client("rds", region=region, endpoint_url=endpoint_url, max_attempts=max_attempts, retry_mode=retry_mode,
                         max_pool_connections=max_concurrent)
    source = RDSLogSource(client)
    os.makedirs(out_dir, exist_ok=True)
    files = source.list_files(instance)
    wanted = to_date_or_none(day)
    if wanted is not None:
        chosen = [lf for lf in files if lf.day == wanted]
        if not chosen:
            raise NoFilesForDay(instance, wanted, sorted({lf.day for lf in files if lf.day is not None}))
        files = chosen
    outcomes = download_concurrently(lambda lf: source.download(lf, out_dir), files, max_concurrent)
    for _, _, error in outcomes:
        if error is not None:
            raise error
    return [result for _, result, _ in outcomes]


def fetch_cloudwatch(
    log_group: str,
    day: _dt.date | str | None,
    out_dir: str | os.PathLike[str],
    region: str | None = None,
    endpoint_url: str | None = None,
    max_attempts: int = 10,
    retry_mode: str = "standard",
) -> list[DownloadResult]:
    """Rebuild the raw file(s) of ``log_group`` for ``day`` (every day with events when None)."""
    client = make_client("logs", region=region, endpoint_url=endpoint_url, max_attempts=max_attempts, retry_mode=retry_mode)
    source = CloudWatchLogSource(client)
    os.makedirs(out_dir, exist_ok=True)
    files = source.list_group_files(log_group, to_date_or_none(day), instance=instance_of_group(log_group))
    return [source.download(lf, out_dir) for lf in files]
