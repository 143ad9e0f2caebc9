"""``new_slow_log_files_sensor``: start an ingest run for every slow-log file rotated since the last tick.

The sensor only *lists* files (``log_source.list_files``: DescribeDBLogFiles on RDS, a directory
listing locally); it never downloads. Its cursor is ``{"<instance>": <max last_written seen, epoch ms>}``,
so a file is requested once per version: a file written again later (a PostgreSQL hourly log
still growing) gets a new request with a new run key ``<instance>:<name>:<last_written>``.

Each request materializes the file's day partition of ``ingest_job`` (raw files -> events ->
digest) for that instance only, downloading only files not already stored. Several requests for
the same day may run at once; writes are atomic per partition, and a day's digest is rebuilt by
every run, the last one seeing every instance. To serialize them, set a run-queue
``tag_concurrency_limits`` on the ``slowlog/day`` tag in dagster.yaml.
"""

import json

import dagster as dg

from dagster_project.assets.ingest import is_live, source_instances
from dagster_project.partitions import daily_partitions
from dagster_project.warehouse import to_date

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups("ingest", "digest"),
    description="Raw files -> events -> digest for one day (or a range: single-run backfill).",
)


def _day_of(log_file) -> str:
    import datetime as dt

    if log_file.day is not None:
        return to_date(log_file.day).isoformat()
    return dt.datetime.fromtimestamp(log_file.last_written / 1000, tz=dt.timezone.utc).date().isoformat()


@dg.sensor(
    job=ingest_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    required_resource_keys={"log_source"},
    description="One ingest run per slow-log file rotated/written since the last tick (lists only, never downloads).",
)
def new_slow_log_files_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    source = context.resources.log_source
    cursor: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    new_cursor = dict(cursor)
    requests: list[dg.RunRequest] = []
    for instance in source_instances(source):
        since = int(cursor.get(instance, 0))
        for log_file in sorted(source.list_files(instance), key=lambda f: (f.last_written, f.name)):
            if is_live(log_file) or log_file.last_written <= since:
                continue
            day = _day_of(log_file)
            new_cursor[instance] = max(int(new_cursor.get(instance, 0)), int(log_file.last_written))
            if not daily_partitions.has_partition_key(day):
                context.log.info(f"{instance}:{log_file.name}: day {day} outside the partitions, skipped")
                continue
            requests.append(
                dg.RunRequest(
                    run_key=f"{instance}:{log_file.name}:{log_file.last_written}",
                    partition_key=day,
                    run_config={
                        "ops": {
                            "slow_log_files": {"config": {"instances": [instance], "skip_existing": True}},
                            "slow_query_events": {"config": {"instances": [instance]}},
                        }
                    },
                    tags={"slowlog/day": day, "slowlog/instance": instance},
                )
            )
    if not requests:
        return dg.SensorResult(skip_reason="no new slow-log files", cursor=json.dumps(new_cursor, sort_keys=True))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(new_cursor, sort_keys=True))
