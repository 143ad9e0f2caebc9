"""The daily schedule: yesterday's partition, end to end (raw files -> events -> digest -> publish
-> snapshots), shortly after midnight UTC.

Why not ``dg.build_schedule_from_partitioned_job``: with ``end_offset=1`` (today is a partition,
for the sensor) it would target *today's* partial day. This schedule asks for yesterday explicitly.
"""

import datetime as dt

import dagster as dg

from dagster_project.partitions import daily_partitions

# Groups of the end-to-end job. "publish" (OpenSearch) and "snapshots" (charts, Slack) are added by
# their own asset modules; a group with no asset yet simply selects nothing.
DAILY_GROUPS = ("ingest", "digest", "publish", "snapshots")

daily_job = dg.define_asset_job(
    "daily_job",
    selection=dg.AssetSelection.groups(*DAILY_GROUPS),
    description="One day end to end: raw files, events, digest, OpenSearch, snapshots.",
)


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
