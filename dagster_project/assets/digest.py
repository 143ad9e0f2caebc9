"""``query_digest``: per day, per instance x query class (checksum) aggregates of the events.

Reads the day's ``slow_query_events`` partitions (every instance) as a stream of record batches,
feeds them to the streaming :class:`~dagster_project.slowlog.digest.Digest` and replaces
``warehouse/query_digest/date=YYYY-MM-DD/part-0.parquet`` (with each class's mergeable sketches).
The same pass builds the day's DB load series (:class:`~dagster_project.slowlog.load.LoadSeries`:
per minute, average active sessions of each instance's top classes) into
``warehouse/db_load/date=YYYY-MM-DD/``. The day is the partition day of the
events (their file's day), the same exactly-once unit as ``slow_query_events``.
"""

import dagster as dg

from dagster_project.assets.common import md_table, partition_days
from dagster_project.assets.ingest import slow_query_events
from dagster_project.partitions import daily_partitions
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.slowlog.digest import Digest
from dagster_project.slowlog.events import EVENT_SCHEMA
from dagster_project.slowlog.load import LoadSeries
from dagster_project.slowlog.redact import redact_query
from dagster_project.warehouse import DB_LOAD_TABLE, DIGEST_TABLE, EVENTS_TABLE

GROUP_BY = ("instance", "checksum")
TOP_N = 5
FINGERPRINT_CHARS = 160


def _top_row(day, cls: dict) -> dict:
    qt = cls.get("query_time") or {}
    fingerprint = redact_query(cls.get("fingerprint") or "")
    if len(fingerprint) > FINGERPRINT_CHARS:
        fingerprint = fingerprint[: FINGERPRINT_CHARS - 1] + "…"
    return {
        "date": str(day),
        "instance": cls.get("instance"),
        "checksum": cls.get("checksum"),
        "count": cls.get("count"),
        "query_time_sum": qt.get("sum"),
        "query_time_p95": qt.get("p95"),
        "fingerprint": fingerprint,
    }


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[slow_query_events],
    group_name="digest",
    kinds={"python", "parquet"},
    description="Per day x instance x query class aggregates (pt-query-digest style, with mergeable quantile "
    "sketches), warehouse/query_digest/date=/; and the per-minute DB load series, warehouse/db_load/date=/.",
)
def query_digest(context: dg.AssetExecutionContext, data_root: DataRootResource) -> dg.MaterializeResult:
    wh = data_root.warehouse()
    per_day, top = [], []
    total_classes = total_events = total_bytes = 0
    for day in partition_days(context):
        digest = Digest(group_by=GROUP_BY, hourly=True)
        load = LoadSeries()
        events = 0
        for batch in wh.iter_batches(EVENTS_TABLE, day, day, columns=EVENT_SCHEMA.names):
            if batch.num_rows:
                digest.add(batch)
                load.add(batch)
                events += batch.num_rows
        classes = digest.classes()
        written = wh.write_partition(DIGEST_TABLE, day, digest.to_table(day))
        load_rows = wh.write_partition(DB_LOAD_TABLE, day, load.to_table(day))["rows"]
        per_day.append({"date": str(day), "classes": len(classes), "events": events, "parquet_bytes": written["bytes"],
                        "db_load_rows": load_rows})
        top.extend(_top_row(day, c) for c in classes[:TOP_N])
        total_classes += len(classes)
        total_events += events
        total_bytes += written["bytes"]
        context.log.info(f"{day}: {events} events in {len(classes)} classes")

    top.sort(key=lambda r: -(r["query_time_sum"] or 0.0))
    return dg.MaterializeResult(
        metadata={
            "days": len(per_day),
            "classes": total_classes,
            "events": total_events,
            "dagster/row_count": total_classes,
            "parquet_bytes": total_bytes,
            "top_classes": dg.MetadataValue.md(md_table(top[:TOP_N])),
            "per_day": dg.MetadataValue.md(md_table(per_day[-31:])),
            "path": dg.MetadataValue.path(wh.table_dir(DIGEST_TABLE)),
        }
    )


digest_assets = [query_digest]
