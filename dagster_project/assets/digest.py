"""``query_digest``: per day, per instance x query class (checksum) aggregates of the events.

The day's tables are its instances' (:mod:`~dagster_project.assets.digest_units`): each parse step
digested its instance-day while writing its events (:class:`~dagster_project.slowlog.digest.Digest`,
with each class's mergeable sketches, and the DB load series,
:class:`~dagster_project.slowlog.load.LoadSeries`: per minute, average active sessions of each
instance's top classes); this asset concatenates those parts where they match the events (else
streams that instance's events through the same two) and replaces
``warehouse/query_digest/date=YYYY-MM-DD/part-0.parquet`` and ``warehouse/db_load/date=YYYY-MM-DD/``.
The day is the partition day of the events (their file's day), the same exactly-once unit as
``slow_query_events``.
"""

import dagster as dg

from dagster_project.assets.common import md_table, partition_days
from dagster_project.assets.digest_units import day_tables
from dagster_project.assets.ingest import SLOW_QUERY_EVENTS
from dagster_project.partitions import daily_partitions
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.slowlog.redact import redact_query
from dagster_project.warehouse import DB_LOAD_TABLE, DIGEST_TABLE

TOP_N = 5
FINGERPRINT_CHARS = 160


def _top_row(day, cls: dict) -> dict:
    """A row of the top-classes table from a row of the digest table."""
    fingerprint = redact_query(cls.get("fingerprint") or "", cls.get("engine"))
    if len(fingerprint) > FINGERPRINT_CHARS:
        fingerprint = fingerprint[: FINGERPRINT_CHARS - 1] + "…"
    return {
        "date": str(day),
        "instance": cls.get("instance"),
        "checksum": cls.get("checksum"),
        "count": cls.get("count"),
        "query_time_sum": cls.get("query_time_sum"),
        "query_time_p95": cls.get("query_time_p95"),
        "fingerprint": fingerprint,
    }


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[SLOW_QUERY_EVENTS],
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
        digest, load, events, used = day_tables(wh, day)
        written = wh.write_partition(DIGEST_TABLE, day, digest)
        load_rows = wh.write_partition(DB_LOAD_TABLE, day, load)["rows"]
        per_day.append({"date": str(day), "classes": digest.num_rows, "events": events, "parquet_bytes": written["bytes"],
                        "db_load_rows": load_rows, "instances_from_parts": used["parts"],
                        "instances_read": used["read"]})
        top.extend(_top_row(day, c) for c in digest.slice(0, TOP_N).to_pylist())
        total_classes += digest.num_rows
        total_events += events
        total_bytes += written["bytes"]
        context.log.info(f"{day}: {events} events in {digest.num_rows} classes ({used['parts']} instances from "
                         f"their parse steps' parts, {used['read']} read from their events)")

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
