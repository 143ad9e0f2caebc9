"""Dagster resources for the log sources (RDS API, CloudWatch Logs, local folder / S3).

All three share one interface, :class:`LogSourceResource`: ``instances`` (which instances to ingest:
configuration, not code), ``engines`` (instance -> mysql|postgres|redis, default mysql) and the
methods ``list_files(instance, day=None)``, ``download(log_file, dest_dir)``, ``engine_for(instance)``.
Assets take a ``LogSourceResource``; definitions pick the real one (RDS/CloudWatch) or the local one
(demo, tests).

The AWS ones reuse ``dagster_aws.utils.ResourceWithBoto3Configuration`` (region_name, endpoint_url,
max_attempts, profile_name, use_ssl, verify, aws_access_key_id, aws_secret_access_key,
aws_session_token) and add ``retry_mode`` (standard|adaptive). Pass credentials with
``dg.EnvVar(...)``, or not at all (default chain); they never appear in reprs, logs, metadata or
error messages produced here.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any

import dagster as dg
from dagster_aws.utils import ResourceWithBoto3Configuration
from pydantic import Field, PrivateAttr

from dagster_project.resources.masking import AWS_SECRET_FIELDS, mask_secrets
from dagster_project.sources.base import (
    DEFAULT_MAX_CONCURRENT_DOWNLOADS,
    DownloadResult,
    LogFile,
    LogSource,
    download_concurrently,
)
from dagster_project.sources.cloudwatch import DEFAULT_GROUP_TEMPLATES, CloudWatchLogSource
from dagster_project.sources.local import LocalLogSource
from dagster_project.sources.rds import RDSLogSource, make_boto_config

__all__ = [
    "ENGINES",
    "LogSourceResource",
    "RDSLogSourceResource",
    "CloudWatchLogSourceResource",
    "LocalLogSourceResource",
]

ENGINES = ("mysql", "postgres", "redis")


class LogSourceResource(dg.ConfigurableResource):
    """Where raw slow-log files come from. Subclasses provide :meth:`build_source`."""

    instances: list[str] = Field(
        default_factory=list, description="Database instance identifiers to ingest."
    )
    engines: dict[str, str] = Field(
        default_factory=dict,
        description="Engine per instance: mysql (MySQL/MariaDB/Aurora MySQL), postgres or redis. "
        "Instances not listed use default_engine.",
    )
    default_engine: str = Field(default="mysql", description="Engine of instances not in `engines`.")
    max_concurrent_downloads: int = Field(
        default=DEFAULT_MAX_CONCURRENT_DOWNLOADS,
        description="Files downloaded at once by a run, shared by its download steps (one per "
        "instance-day; the executor runs up to $SLOWLOG_DOWNLOAD_STEPS of them at once, each with "
        "an equal share). A step's calls go through one client, so throttling slows them down together.",
    )

    _source: Any = PrivateAttr(default=None)

    # --- never show credentials: pydantic's repr/str go through __repr_args__
    def __repr_args__(self):  # type: ignore[override]
        return mask_secrets(super().__repr_args__(), AWS_SECRET_FIELDS)

    @property
    def source_kind(self) -> str:
        return self.source.kind

    def build_source(self) -> LogSource:
        raise NotImplementedError

    @property
    def source(self) -> LogSource:
        if self._source is None:
            self._source = self.build_source()
        return self._source

    def engine_for(self, instance: str) -> str:
        engine = self.engines.get(instance, self.default_engine)
        if engine not in ENGINES:
            raise ValueError(f"engine for instance {instance!r} must be one of {ENGINES}, not {engine!r}")
        return engine

    def list_instances(self) -> list[str]:
        return list(self.instances)

    def list_files(self, instance: str, day: _dt.date | str | None = None) -> list[LogFile]:
        return self.source.list_files(instance, day)

    def download(self, log_file: LogFile, dest_dir: str | os.PathLike[str]) -> DownloadResult:
        return self.source.download(log_file, dest_dir)

    def download_many(self, files: list[LogFile], download: Any, max_concurrent: int | None = None,
                      on_done: Any = None) -> list[tuple]:
        """``download(log_file)`` for each file, ``max_concurrent`` (default ``max_concurrent_downloads``)
        at a time (see :func:`dagster_project.sources.base.download_concurrently`)."""
        return download_concurrently(download, files, max_concurrent or self.max_concurrent_downloads, on_done)


class _Boto3Mixin(ResourceWithBoto3Configuration):
    retry_mode: str = Field(
        default="standard",
        description="botocore retry mode. standard (default): exponential backoff per call and one retry "
        "quota per client, shared by every concurrent download of a unit: a throttling storm drains it "
        "and the unit slows down, then fails clearly instead of retrying forever. adaptive adds a "
        "client-side rate limiter that cuts the send rate at every throttle: gentler on an account other "
        "tools share, but slow against periodic throttling (the fleet benchmark: 1.5 calls in flight "
        "instead of 6-10).",
    )
    max_attempts: int = Field(
        default=10,
        description="botocore retries per call (botocore Config retries.max_attempts: retries after the "
        "first call; 0 = no botocore retry).",
    )

    def _client(self, service: str) -> Any:
        import boto3.session

        session = boto3.session.Session(profile_name=self.profile_name)
        return session.client(
            service,
            region_name=self.region_name,
            use_ssl=self.use_ssl,
            verify=self.verify,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            aws_session_token=self.aws_session_token,
            config=make_boto_config(max_attempts=self.max_attempts, mode=self.retry_mode),
        )


class RDSLogSourceResource(LogSourceResource, _Boto3Mixin):
    """Slow-query logs through the RDS API (DescribeDBLogFiles / DownloadDBLogFilePortion)."""

    max_loop_retries: int = Field(default=6, description="Loop-level retries on throttling/5xx, on top of botocore's.")
    backoff_base: float = Field(default=0.5, description="Loop-level backoff base, seconds (doubles per retry, jittered).")
    max_restarts: int = Field(default=3, description="Re-downloads from Marker 0 when a file changes while downloading.")

    def build_source(self) -> RDSLogSource:
        return RDSLogSource(
            self._client("rds"),
            max_loop_retries=self.max_loop_retries,
            backoff_base=self.backoff_base,
            max_restarts=self.max_restarts,
        )


class CloudWatchLogSourceResource(LogSourceResource, _Boto3Mixin):
    """RDS logs published to CloudWatch Logs, one raw file per (log group, UTC day)."""

    log_groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Explicit log groups per instance (override group_templates)."
    )
    group_templates: list[str] = Field(
        default_factory=lambda: list(DEFAULT_GROUP_TEMPLATES),
        description="Log group names tried for an instance; {instance} is replaced.",
    )
    max_loop_retries: int = Field(default=6)
    backoff_base: float = Field(default=0.5)

    def build_source(self) -> CloudWatchLogSource:
        return CloudWatchLogSource(
            self._client("logs"),
            log_groups=self.log_groups,
            group_templates=self.group_templates,
            max_loop_retries=self.max_loop_retries,
            backoff_base=self.backoff_base,
        )


class LocalLogSourceResource(LogSourceResource, _Boto3Mixin):
    """Raw files in a folder or under ``s3://bucket/prefix`` laid out like RDS (demo, tests, replays).

    With no ``instances`` configured, every instance folder under ``root`` is ingested.
    """

    root: str = Field(description="Folder, or s3://bucket/prefix, holding <instance>/... raw log files.")

    def build_source(self) -> LocalLogSource:
        s3 = self._client("s3") if self.root.startswith("s3://") else None
        return LocalLogSource(self.root, s3_client=s3)

    def list_instances(self) -> list[str]:
        if self.instances:
            return list(self.instances)
        return self.source.discover_instances()  # type: ignore[attr-defined]
