"""The daily schedule: yesterday's partition, end to end (raw files -> events -> digest -> publish
-> snapshots), shortly after midnight UTC.

Why not ``dg.build_schedule_from_partitioned_job``: with ``end_offset=1`` (today is a partition,
for the sensor) it would target *today's* partial day. This schedule asks for yesterday explicitly.
"""

import datetime as dt

import dagster as dg

from dagster_project.jobs import DAILY_GROUPS, daily_job  # noqa: F401 - DAILY_GROUPS re-exported
from dagster_project.partitions import daily_partitions


@dg.schedule(
    job=daily_job,
    cron_schedule="15 1 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Yesterday's partition (UTC), end to end, at 01:15 UTC.",
)
def daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    now = context.scheduled_execution_time or dt.datetime.now(dt.timezone.utc)
    yesterday = (now.astimezone(dt.timezone.utc) - dt.timedelta(days=1)).date().isoformat()
    if not daily_partitions.has_partition_key(yesterday):
        return dg.SkipReason(f"{yesterday} is before the first partition")
    return dg.RunRequest(run_key=f"daily:{yesterday}", partition_key=yesterday)
