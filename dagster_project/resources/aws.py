"""Dagster resources for the log sources (RDS API, CloudWatch Logs, local folder / S3).

All three share one interface, :class:`LogSourceResource`: ``instances`` (which instances to ingest:
configuration, not code), ``engines`` (instance -> mysql|postgres|redis, default mysql) and the
methods ``list_files(instance, day=None)``, ``download(log_file, dest_dir)``, ``engine_for(instance)``.
Assets take a ``LogSourceResource``; definitions pick the real one (RDS/CloudWatch) or the local one
(demo, tests).

The AWS ones reuse ``dagster_aws.utils.ResourceWithBoto3Configuration`` (region_name, endpoint_url,
max_attempts, profile_name, use_ssl, verify, aws_access_key_id, aws_secret_access_key,
aws_session_token) and add ``retry_mode`` (standard|adaptive) and ``max_backoff_s``. Pass credentials with
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

from dagster_project.slowlog.engines import ENGINES
from dagster_project.resources.masking import AWS_SECRET_FIELDS, mask_secrets
from dagster_project.sources.base import (
    DEFAULT_MAX_CONCURRENT_DOWNLOADS,
    DownloadResult,
    DownloadSlots,
    LogFile,
    LogSource,
    download_concurrently,
)
from dagster_project.sources.cloudwatch import DEFAULT_GROUP_TEMPLATES, CloudWatchLogSource
from dagster_project.sources.local import LocalLogSource, guess_engines
from dagster_project.sources.aws_client import DEFAULT_MAX_BACKOFF_S, client_for_resource
from dagster_project.sources.aws_retry import DEFAULT_LOOP_RETRIES
from dagster_project.sources.rds import RDSLogSource

__all__ = [
    "LogSourceResource",
    "RDSLogSourceResource",
    "CloudWatchLogSourceResource",
    "LocalLogSourceResource",
]


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
        description="API calls in flight at once for a run (a folder source: files being copied), "
        "shared by its download steps (one per instance-day; see shared_download_budget). A step's "
        "calls go through one client, so throttling slows them down together.",
    )

    shared_download_budget: bool = Field(
        default=True,
        description="Download steps of a run on one machine (the multiprocess executor) share "
        "max_concurrent_downloads through lock files. Set false where steps run on different "
        "machines (k8s, Celery across hosts): each step then takes an equal share.",
    )

    _source: Any = PrivateAttr(default=None)
    _slots: Any = PrivateAttr(default=None)  # the run's DownloadSlots (shared budget), set up per step
    _per_call: bool = PrivateAttr(default=False)  # the source holds a slot per API call, not per file

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
            if self._slots is not None:
                # every API call of the step (listings too) holds a slot of the run's budget
                self._per_call = self._source.gate_calls(self._slots)
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

    def download_many(self, files: list[LogFile], download: Any, steps_at_once: int = 1,
                      on_done: Any = None) -> list[tuple]:
        """``download(log_file)`` for each file, within the run's ``max_concurrent_downloads``.

        Shared budget (the default, ``shared_download_budget``): every download step of the run on
        this machine draws from one pool of slots (:class:`DownloadSlots`, lock files keyed by the
        run id), so a step may use the whole budget while the others start or after they finish.
        Each API call in flight holds a slot (for a folder source: each file being copied).
        Otherwise (steps on different machines, or outside a run) each of the ``steps_at_once``
        steps takes an equal share. See :func:`dagster_project.sources.base.download_concurrently`."""
        budget = max(1, self.max_concurrent_downloads)
        if self._slots is None:
            return download_concurrently(download, files, max(1, budget // max(1, steps_at_once)), on_done)
        self.source  # built (and gated) before the threads start
        if self._per_call:
            # A slot per API call in flight (RDS, CloudWatch): the slots bound the calls, the threads
            # only carry the files, so there is one per file (up to 4 x the budget). With one thread
            # per slot, threads waiting for their file's check (a listing in flight, or one throttled
            # and backing off) kept the step's other files from starting, and each unit ended in a
            # staircase of listing waits (fleet benchmark: bursts of 7 downloads started at once
            # after each listing, 1-2 calls in flight for the last 1.5 s).
            return download_concurrently(download, files, 4 * budget, on_done)  # never more threads than files
        return download_concurrently(download, files, budget, on_done, slots=self._slots)  # a slot per file

    def budget_text(self, steps_at_once: int = 1) -> str:
        """How download_many bounds a step's downloads, for its log line."""
        budget = max(1, self.max_concurrent_downloads)
        if self._slots is not None:
            return f"up to {budget} at a time, shared with the run's other download steps"
        return f"{max(1, budget // max(1, steps_at_once))} at a time"

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # the run whose download steps share one budget (see download_many)
        run = getattr(context, "run", None)  # None outside a run (build_resources, a sensor)
        run_id = getattr(run, "run_id", None)
        if self.shared_download_budget and run_id:
            self._slots = DownloadSlots(f"run-{run_id}", max(1, self.max_concurrent_downloads))


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
    max_backoff_s: float = Field(
        default=DEFAULT_MAX_BACKOFF_S,
        ge=0,
        description="Longest botocore back-off before a retry, seconds (botocore's own cap: 20). A call "
        "waiting to retry holds no download slot, so its wait frees nothing for the others; a short cap "
        "stops one call throttled several times in a row from becoming the run's tail. Under a throttle "
        "that persists, retries come faster until the client's retry quota is spent; the loop-level "
        "back-off then takes over. Raise it, or use adaptive mode, on an account other tools share. "
        "standard and adaptive modes only.",
    )

    def _client(self, service: str) -> Any:
        return client_for_resource(self, service, self.retry_mode)


class RDSLogSourceResource(LogSourceResource, _Boto3Mixin):
    """Slow-query logs through the RDS API (DescribeDBLogFiles / DownloadDBLogFilePortion)."""

    max_loop_retries: int = Field(default=DEFAULT_LOOP_RETRIES, description="Loop-level retries on throttling/5xx, on top of botocore's.")
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
    max_loop_retries: int = Field(default=DEFAULT_LOOP_RETRIES)
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

    _guessed: dict = PrivateAttr(default_factory=dict)

    def list_instances(self) -> list[str]:
        if self.instances:
            return list(self.instances)
        return self.source.discover_instances()  # type: ignore[attr-defined]

    def engine_for(self, instance: str) -> str:
        """The configured engine, else what the file names in the instance's local folder say
        (``postgresql.log*``: postgres, ``*redis*``: redis), else ``default_engine``. Looked at when
        a step needs it, not when the definitions load."""
        if instance not in self.engines and "://" not in self.root:
            if instance not in self._guessed:
                self._guessed[instance] = guess_engines(self.root, [instance]).get(instance)
            if self._guessed[instance]:
                return self._guessed[instance]
        return super().engine_for(instance)
