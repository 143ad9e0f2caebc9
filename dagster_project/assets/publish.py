"""``opensearch_digest``: the day's query digest indexed into OpenSearch (deterministic ids).

The day's ``db_load`` series (per-minute load of each instance's top classes) goes into the same
index as ``doc_type: db_load`` documents. Re-materializing overwrites the same documents (and prunes classes that disappeared), so the
index always mirrors the warehouse. Literals are redacted before anything leaves the warehouse.
Any per-document rejection fails the run with the first reasons (opensearch-py's bulk helpers
do not raise on their own). The raw-events index, off by default, keeps the seed system's field
names for users migrating their Kibana dashboards.
"""

import dagster as dg

from dagster_project.assets.digest import query_digest
from dagster_project.assets.common import md_table, partition_days
from dagster_project.partitions import daily_partitions
from dagster_project.resources.opensearch import OpenSearchResource
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.slowlog.events import EVENT_SCHEMA
from dagster_project.warehouse import DB_LOAD_TABLE, DIGEST_TABLE, EVENTS_TABLE


class PublishConfig(dg.Config):
    raw_events: bool = False  # also index every event (legacy field names) into slowlog-events-*
    redact: bool = True  # never turn off for a shared cluster: queries carry customer data


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[query_digest],
    group_name="publish",
    kinds={"opensearch"},
    description="query_digest rows (daily + hourly documents) and the db_load series (doc_type db_load, per "
    "minute) in OpenSearch index <prefix>YYYY.MM.DD.",
)
def opensearch_digest(context: dg.AssetExecutionContext, config: PublishConfig,
                      opensearch: OpenSearchResource, data_root: DataRootResource) -> dg.MaterializeResult:
    wh = data_root.warehouse()
    templates = opensearch.ensure_templates()
    per_day = []
    documents = events_indexed = 0
    for day in partition_days(context):
        table = wh.read_table(DIGEST_TABLE, day, day)
        load = wh.read_table(DB_LOAD_TABLE, day, day)
        result = opensearch.publish_digest(table, day, redact=config.redact, load=load)
        row = {"date": str(day), "index": result["index"], "classes": table.num_rows,
               "documents": result["documents"], "db_load": result["db_load"], "pruned": result["deleted"]}
        if config.raw_events:
            batches = wh.iter_batches(EVENTS_TABLE, day, day, columns=EVENT_SCHEMA.names)
            ev = opensearch.publish_events(batches, redact=config.redact)
            row["events_indexed"] = ev["documents"]
            events_indexed += ev["documents"]
        per_day.append(row)
        documents += result["documents"]
        context.log.info(f"{day}: {result['documents']} documents into {result['index']}")
    return dg.MaterializeResult(
        metadata={
            "documents": documents,
            "dagster/row_count": documents,
            "raw_events_indexed": events_indexed,
            "templates": dg.MetadataValue.json(templates),
            "per_day": dg.MetadataValue.md(md_table(per_day[-31:])),
            "opensearch": opensearch.display_host,
        }
    )


publish_assets = [opensearch_digest]
