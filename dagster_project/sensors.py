"""``new_slow_log_files_sensor``: one ``collect_job`` run per instance-day with new or rewritten files.

The sensor only *lists* files (``log_source.list_files``: DescribeDBLogFiles on RDS, a directory
listing locally); it never downloads. Its cursor is ``{"<instance>": <max last_written seen, epoch ms>}``.
Files written since the cursor are grouped by (instance, day): a first tick on a live RDS instance
with a week of hourly files asks for ~7 runs, not ~170. The run key is
``<instance>:<day>:<newest LastWritten of the group>``: a file written again later (a PostgreSQL
hourly log still growing) has a newer LastWritten, so its day gets a new run; the same state of
the files never asks twice (Dagster remembers run keys forever).

Each run downloads only the files not already stored (``skip_existing``) and parses the
instance-day into its events partition. The daily digest, OpenSearch and snapshots run once per
day in ``daily_job`` (the schedule), after every instance has landed.
"""

import datetime as dt
import json
from collections import defaultdict

import dagster as dg

from dagster_project.assets.ingest import source_instances
from dagster_project.days import day_text
from dagster_project.jobs import collect_job
from dagster_project.partitions import daily_partitions
from dagster_project.resources.aws import LogSourceResource
from dagster_project.sources.base import is_live


def _day_of(log_file) -> str:
    if log_file.day is not None:
        return day_text(log_file.day)
    return dt.datetime.fromtimestamp(log_file.last_written / 1000, tz=dt.timezone.utc).date().isoformat()


def unit_run_request(instance: str, day: str, last_written: int, files: int) -> dg.RunRequest:
    """The run of ``collect_job`` that ingests one instance-day (only its new files are downloaded)."""
    return dg.RunRequest(
        run_key=f"{instance}:{day}:{last_written}",
        partition_key=day,
        run_config={
            "ops": {"slow_log_ingest": {"config": {"instances": [instance], "skip_existing": True}}}
        },
        tags={"slowlog/day": day, "slowlog/instance": instance, "slowlog/new_files": str(files)},
    )


@dg.sensor(
    job=collect_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="One collect run per instance-day with slow-log files written since the last tick (lists only).",
)
def new_slow_log_files_sensor(context: dg.SensorEvaluationContext, log_source: LogSourceResource) -> dg.SensorResult:
    cursor: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    new_cursor = dict(cursor)
    requests: list[dg.RunRequest] = []
    for instance in source_instances(log_source):
        since = int(cursor.get(instance, 0))
        groups: dict[str, list[int]] = defaultdict(list)
        for log_file in log_source.list_files(instance):
            if is_live(log_file) or log_file.last_written <= since:
                continue
            new_cursor[instance] = max(int(new_cursor.get(instance, 0)), int(log_file.last_written))
            day = _day_of(log_file)
            if not daily_partitions.has_partition_key(day):
                context.log.info(f"{instance}:{log_file.name}: day {day} outside the partitions, skipped")
                continue
            groups[day].append(int(log_file.last_written))
        for day, written in sorted(groups.items()):
            requests.append(unit_run_request(instance, day, max(written), len(written)))
    cursor_text = json.dumps(new_cursor, sort_keys=True)
    if not requests:
        return dg.SensorResult(skip_reason="no new slow-log files", cursor=cursor_text)
    return dg.SensorResult(run_requests=requests, cursor=cursor_text)
