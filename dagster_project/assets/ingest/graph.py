"""``slow_log_ingest``: one graph-backed multi-asset that materializes ``slow_log_files`` and
``slow_query_events``, pipelined per instance-day::

    instance_day_units ─┬─ download_instance_day[u] ── parse_instance_day[u] ─┬─ slow_query_events_summary
                        └─ ...                                                 │
                             └── (all downloads) ── slow_log_files_summary     └─ (all parses)

An instance-day's parse step starts as soon as *its* download step ends, not after every
instance's downloads (as two separate assets would force: an asset's ops wait for the upstream
asset's last op). On a fleet the slowest instance's downloads then overlap the other instances'
parsing, and the run has one units step instead of two.

Selecting a subset works as for two assets (``can_subset``): ``slow_query_events`` alone re-parses
the raw copies already in ``raw/`` (its download steps see that ``slow_log_files`` is not selected
and fetch nothing: RDS keeps logs only for days, so a re-parse must not depend on them);
``slow_log_files`` alone downloads and stops. The lineage ``slow_log_files -> slow_query_events``
is declared (``internal_asset_deps``), so the UI and the asset selection syntax show it.
"""
import dagster as dg

from dagster_project.assets.ingest.events import parse_instance_day, slow_query_events_summary
from dagster_project.assets.ingest.raw_files import SLOW_LOG_FILES, download_instance_day, slow_log_files_summary
from dagster_project.assets.ingest.units import INGEST_CONFIG, instance_day_units
from dagster_project.partitions import daily_partitions

SLOW_QUERY_EVENTS = dg.AssetKey("slow_query_events")


@dg.graph(
    out={"slow_log_files": dg.GraphOut(), "slow_query_events": dg.GraphOut()},
    config=INGEST_CONFIG,
    description="Raw files and events of every instance-day of the run: download, then parse, per unit.",
)
def slow_log_ingest():
    downloaded = instance_day_units().map(download_instance_day)
    return {
        "slow_log_files": slow_log_files_summary(downloaded.collect()),
        "slow_query_events": slow_query_events_summary(downloaded.map(parse_instance_day).collect()),
    }


slow_log_ingest_assets = dg.AssetsDefinition.from_graph(
    slow_log_ingest,
    keys_by_output_name={"slow_log_files": SLOW_LOG_FILES, "slow_query_events": SLOW_QUERY_EVENTS},
    internal_asset_deps={"slow_log_files": set(), "slow_query_events": {SLOW_LOG_FILES}},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=True,
    group_name="ingest",
    descriptions_by_output_name={
        "slow_log_files": "Raw slow-log files of every instance, byte-identical, under raw/date=/instance=/ "
        "(one download step per instance-day).",
        "slow_query_events": "Parsed slow-query events, warehouse/slow_query_events/date=/instance=/part-0.parquet "
        "(one parse step per instance-day, started when its download ends).",
    },
    tags_by_output_name={
        "slow_log_files": {"dagster/kind/aws": "", "dagster/kind/python": ""},
        "slow_query_events": {"dagster/kind/python": "", "dagster/kind/parquet": ""},
    },
)
