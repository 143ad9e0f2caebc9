"""Plain-Python helpers behind ``slowlog fetch rds|cloudwatch`` (no Dagster)."""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any

from .base import DownloadResult, coerce_day
from .cloudwatch import CloudWatchLogSource, instance_of_group
from .rds import RDSLogSource, make_boto_config

__all__ = ["fetch_rds", "fetch_cloudwatch", "make_client"]


def make_client(
    service: str,
    region: str | None = None,
    endpoint_url: str | None = None,
    max_attempts: int = 10,
    retry_mode: str = "standard",
    **session_kwargs: Any,
) -> Any:
    """A boto3 client with botocore retries (standard mode by default); credentials from the usual
    chain (env, profile, instance role) unless given in ``session_kwargs``."""
    import boto3

    session = boto3.session.Session(**session_kwargs)
    return session.client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        config=make_boto_config(max_attempts=max_attempts, mode=retry_mode),
    )


def fetch_rds(
    instance: str,
    day: _dt.date | str | None,
    out_dir: str | os.PathLike[str],
    region: str | None = None,
    endpoint_url: str | None = None,
    max_attempts: int = 10,
    retry_mode: str = "standard",
) -> list[DownloadResult]:
    """Download the instance's slow-query log files (of ``day`` when given) into ``out_dir``.

    Files keep their RDS names without the ``slowquery/`` / ``error/`` prefix.
    """
    client = make_client("rds", region, endpoint_url, max_attempts, retry_mode)
    source = RDSLogSource(client)
    os.makedirs(out_dir, exist_ok=True)
    return [source.download(lf, out_dir) for lf in source.list_files(instance, coerce_day(day))]


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
    client = make_client("logs", region, endpoint_url, max_attempts, retry_mode)
    source = CloudWatchLogSource(client)
    os.makedirs(out_dir, exist_ok=True)
    files = source.list_group_files(log_group, coerce_day(day), instance=instance_of_group(log_group))
    return [source.download(lf, out_dir) for lf in files]
