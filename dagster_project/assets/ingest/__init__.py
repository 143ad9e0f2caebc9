"""Ingestion: raw slow-log files -> ``raw/`` (byte-identical) -> ``slow_query_events`` (Parquet).

The unit of work is an **instance-day**. Both assets are daily partitioned and come from one graph
(:mod:`.graph`, ``slow_log_ingest``) whose run fans out into one download step and one parse step
per instance x day of the run's partition window
(``slow_log_ingest.download_instance_day[orders_db__20261124]``,
``slow_log_ingest.parse_instance_day[...]``; a unit's parse starts when its own download ends),
then one summary step per asset that records its materialization. So:

* the run view shows which instance failed on which day; *re-execute from failure* runs only the
  failed instance-days (plus the summary), and a run limited to some instances (config
  ``instances``) touches nothing else;
* the steps spread over whatever executor runs the job: processes on one machine (the
  multiprocess executor of ``definitions.py``), Celery / Dask workers, Kubernetes pods;
* a range run (single-run backfill of a month) fans out over every day x instance; downstream
  daily assets (digest, publish, snapshots) start only once every unit of their day has landed.

Within a download step, the instance-day's files are fetched concurrently through one client, the
step's share of the run's ``max_concurrent_downloads`` (botocore retries with one retry quota per
client, plus the sources' loop-level backoff: throttling slows the steps down instead of failing them).
Within a parse step, a big unit is parsed by every core (:class:`~dagster_project.slowlog.parallel.ParallelParse`,
the CLI's range reader), memory bounded. Every write is idempotent per day x instance.

The checks beside ``slow_query_events`` read the ``_manifest.json`` each events partition carries
(the parse statistics of its files), so they can be re-run on their own.

Modules: :mod:`.units` (the instance-day and a run's units), :mod:`.raw_files` (``slow_log_files``'s
steps), :mod:`.events` (``slow_query_events``'s steps), :mod:`.graph` (the two assets, one graph),
:mod:`.checks` (the events' asset checks).
"""

from dagster_project.assets.ingest.checks import (
    CHECK_BYTES,
    CHECK_NOT_EMPTY,
    CHECK_REJECTED,
    slow_query_events_checks,
)
from dagster_project.assets.ingest.graph import SLOW_LOG_FILES, SLOW_QUERY_EVENTS, slow_log_ingest_assets
from dagster_project.assets.ingest.units import STEP_KIND_TAG, InstanceDay, source_instances

__all__ = [
    "CHECK_BYTES", "CHECK_NOT_EMPTY", "CHECK_REJECTED", "STEP_KIND_TAG", "InstanceDay", "ingest_assets",
    "SLOW_LOG_FILES", "SLOW_QUERY_EVENTS", "ingest_checks", "slow_log_ingest_assets", "slow_query_events_checks",
    "source_instances",
]

ingest_assets = [slow_log_ingest_assets]
ingest_checks = [slow_query_events_checks]
