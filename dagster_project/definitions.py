"""The Dagster code location: ``dagster_project.definitions:defs``.

Default resources read the environment:

* ``log_source``: a local folder laid out like RDS (``<root>/<instance>/slowquery/mysql-slowquery.log.YYYY-MM-DD.HH``),
  root ``$SLOWLOG_SOURCE_ROOT`` (default: the bundled ``dagster_project/sample_data/rds``), instances
  ``$SLOWLOG_INSTANCES`` (comma-separated; default: every instance folder found under the root),
  engines ``$SLOWLOG_ENGINES`` (``id=postgres,...``; default: guessed from the file names, else mysql).
  For real AWS, swap in ``RDSLogSourceResource`` or ``CloudWatchLogSourceResource``.
* data root: ``$SLOWLOG_DATA_ROOT`` (default ``./data``, may be ``s3://bucket/prefix``), see settings.py.
"""
from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from dagster_project import settings

from dagster_project.assets.digest import digest_assets
from dagster_project.assets.ingest import ingest_assets, ingest_checks
from dagster_project.assets.publish import publish_assets
from dagster_project.assets.snapshots import snapshot_assets
from dagster_project.assets.ingest import STEP_KIND_TAG
from dagster_project.jobs import JOBS
from dagster_project.resources.aws import (
    CloudWatchLogSourceResource,
    LocalLogSourceResource,
    LogSourceResource,
    RDSLogSourceResource,
)
from dagster_project.resources.cloudwatch_metrics import CloudWatchMetricsResource
from dagster_project.resources.opensearch import OpenSearchResource
from dagster_project.resources.slack import SlackReportResource
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.schedules import daily_schedule
from dagster_project.sensors import new_slow_log_files_sensor
from dagster_project.sources.aws_client import DEFAULT_MAX_BACKOFF_S

SAMPLE_SOURCE_ROOT = Path(__file__).resolve().parent / "sample_data" / "rds"


def source_root() -> str:
    return os.environ.get("SLOWLOG_SOURCE_ROOT") or str(SAMPLE_SOURCE_ROOT)


def configured_instances() -> list[str]:
    return [i.strip() for i in os.environ.get("SLOWLOG_INSTANCES", "").split(",") if i.strip()]


def configured_engines() -> dict[str, str]:
    """``$SLOWLOG_ENGINES`` (``id=engine,...``); a local source guesses the others from its files
    when a step needs them (``LocalLogSourceResource.engine_for``), AWS sources default to mysql."""
    return dict(
        (k.strip(), v.strip()) for k, _, v in
        (item.partition("=") for item in os.environ.get("SLOWLOG_ENGINES", "").split(",") if "=" in item)
    )


SOURCES = ("local", "rds", "cloudwatch")


def default_log_source() -> LogSourceResource:
    """``$SLOWLOG_SOURCE`` (local by default): local folder, RDS API or CloudWatch Logs. AWS clients
    get no endpoint here: boto3 itself honours ``AWS_ENDPOINT_URL_RDS`` /
    ``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS``, the region variables and the credential chain."""
    kind = (os.environ.get("SLOWLOG_SOURCE") or "local").strip().lower()
    if kind not in SOURCES:
        raise ValueError(f"SLOWLOG_SOURCE must be one of {', '.join(SOURCES)}, not {kind!r}")
    # download steps share one budget through lock files only where they share a machine
    shared = executor_kind() == "multiprocess"
    if kind == "local":
        # no instances configured: every instance folder under the root, found when a run asks
        return LocalLogSourceResource(root=source_root(), instances=configured_instances(),
                                      engines=configured_engines(), shared_download_budget=shared)
    instances = configured_instances()
    if not instances:
        raise ValueError(f"SLOWLOG_SOURCE={kind} needs SLOWLOG_INSTANCES (comma-separated instance ids)")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    cls = RDSLogSourceResource if kind == "rds" else CloudWatchLogSourceResource
    return cls(instances=instances, engines=configured_engines(), region_name=region,
               retry_mode=os.environ.get("SLOWLOG_AWS_RETRY_MODE") or "standard",
               max_backoff_s=settings.aws_max_backoff(DEFAULT_MAX_BACKOFF_S),
               shared_download_budget=shared)


EXECUTORS = ("multiprocess", "k8s", "celery")


def executor_kind() -> str:
    kind = (os.environ.get("SLOWLOG_EXECUTOR") or "multiprocess").strip().lower()
    if kind not in EXECUTORS:
        raise ValueError(f"SLOWLOG_EXECUTOR must be one of {', '.join(EXECUTORS)}, not {kind!r}")
    return kind


def default_executor() -> dg.ExecutorDefinition:
    """``$SLOWLOG_EXECUTOR`` (multiprocess by default). Either way each instance-day is a step.

    * multiprocess: steps in separate processes, forked from a server that has imported this
      module once (a step starts in a fraction of a second instead of re-importing Dagster,
      pyarrow and pandas). Up to ``$SLOWLOG_MAX_CONCURRENT_STEPS`` (8) steps at once, of them
      ``$SLOWLOG_DOWNLOAD_STEPS`` (8) download steps drawing from one pool of the log source's
      ``max_concurrent_downloads`` (16 calls in flight per run: lock-file slots, see
      ``LogSourceResource.download_many``); parse steps (a big unit uses every core itself) one per
      core, or ``$SLOWLOG_PARSE_STEPS``.
    * k8s: dagster-k8s's ``k8s_job_executor``, one pod per step (deploy/kubernetes/run_config.yaml).
    * celery: dagster-celery's executor, steps on Celery workers (broker in the run config).
    """
    kind = executor_kind()
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    if kind == "celery":
        from dagster_celery import celery_executor

        return celery_executor
    return dg.multiprocess_executor.configured(
        {
            "max_concurrent": int(os.environ.get("SLOWLOG_MAX_CONCURRENT_STEPS") or 8),
            "start_method": {"forkserver": {"preload_modules": [__name__]}},
            "tag_concurrency_limits": [
                {"key": STEP_KIND_TAG, "value": "download", "limit": settings.download_steps()},
                {"key": STEP_KIND_TAG, "value": "parse", "limit": settings.parse_steps()},
            ],
        },
        name="slowlog_multiprocess",
    )


# ---- assets / checks / resources of each part of the pipeline -----------------------------------
def default_opensearch() -> OpenSearchResource:
    """$OPENSEARCH_URL (default the local node `make opensearch-up` starts); auth from
    $OPENSEARCH_AUTH (none|basic|sigv4), $OPENSEARCH_USERNAME / $OPENSEARCH_PASSWORD, $AWS_REGION; TLS
    and credentials over http from settings.opensearch_transport()."""
    auth = os.environ.get("OPENSEARCH_AUTH", "none")
    kwargs = settings.opensearch_transport()
    if auth == "basic":
        kwargs.update(username=os.environ.get("OPENSEARCH_USERNAME", "admin"),
                      password=dg.EnvVar("OPENSEARCH_PASSWORD"))
    elif auth == "sigv4":
        kwargs.update(aws_region=os.environ.get("AWS_REGION", "us-east-1"),
                      aws_service=os.environ.get("OPENSEARCH_AWS_SERVICE", "es"))
    return OpenSearchResource(hosts=[os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9200")], auth=auth,
                              index_prefix=os.environ.get("OPENSEARCH_INDEX_PREFIX", "slowlog-digest-"), **kwargs)


ASSETS: list = [*ingest_assets, *digest_assets, *publish_assets, *snapshot_assets]
ASSET_CHECKS: list = [*ingest_checks]
RESOURCES: dict = {
    # raw files, Parquet and PNGs: $SLOWLOG_DATA_ROOT (default ./data), shown on the resource's page
    "data_root": DataRootResource(root=settings.data_root()),
    "log_source": default_log_source(),
    "opensearch": default_opensearch(),
    # nothing configured = no CloudWatch widget images (local charts are still rendered)
    "cloudwatch_metrics": CloudWatchMetricsResource(),
    # reads SLACK_BOT_TOKEN / SLACK_CHANNEL_ID when the report runs; unset = nothing is sent
    "slack": SlackReportResource(),
}
# ---------------------------------------------------------------------------------------------------

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=ASSET_CHECKS,
    jobs=JOBS,
    sensors=[new_slow_log_files_sensor],
    schedules=[daily_schedule],
    resources=RESOURCES,
    executor=default_executor(),
)
