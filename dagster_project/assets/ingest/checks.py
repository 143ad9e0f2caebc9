"""The checks beside ``slow_query_events``: they read the ``_manifest.json`` each events partition
carries (the parse statistics of its files), so they can be re-run on their own."""

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg

from dagster_project import settings
from dagster_project.assets.common import md_table, partition_days
from dagster_project.assets.ingest.graph import SLOW_QUERY_EVENTS
from dagster_project.assets.ingest.units import source_instances
from dagster_project.resources.aws import LogSourceResource
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.warehouse import EVENTS_TABLE, Warehouse

CHECK_BYTES = "bytes_accounted"
CHECK_NOT_EMPTY = "events_when_files"
CHECK_REJECTED = "rejected_ratio"
#: every failed check names its instance-days in this metadata entry: [{"partition": "day/instance",
#: "reason": one line}] (``make ingest`` prints them and exits non-zero)
FAILED_UNITS = "failed_units"


def _failed_units(rows: list[dict]) -> dg.MetadataValue:
    return dg.MetadataValue.json([{"partition": r["partition"], "reason": r["reason"]} for r in rows[:50]])


def _window_manifests(context: Any, instances: Sequence[str], wh: Warehouse) -> tuple[list[dict], list[str]]:
    """Manifests of the run's days x instances. A missing one (a partition not materialized yet, or
    a run limited to some instances) is reported in the checks' metadata, not failed. A run of the
    checks alone without a partition judges every events partition in the warehouse."""
    found, missing = [], []
    if context.has_partition_key or context.has_partition_key_range:
        keys = [(day, instance) for day in partition_days(context) for instance in instances]
    else:
        keys = [(day, instance) for day, instance, _ in wh.list_partitions(EVENTS_TABLE)]
    for day, instance in keys:
        m = wh.read_manifest(EVENTS_TABLE, day, instance)
        if m is None:
            missing.append(f"{day}/{instance}")
        else:
            found.append(m)
    return found, missing


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            CHECK_BYTES,
            asset=SLOW_QUERY_EVENTS,
            description="Every input byte is accounted: bytes_total == event + skipped + rejected bytes, per file, "
                        "and no compressed input was lost (damaged, cut short, junk after a member, over the "
                        "decompression limit): each loss named with its file and compressed offset.",
        ),
        dg.AssetCheckSpec(
            CHECK_NOT_EMPTY,
            asset=SLOW_QUERY_EVENTS,
            description="No day x instance that had log files ends with zero events.",
        ),
        dg.AssetCheckSpec(
            CHECK_REJECTED,
            asset=SLOW_QUERY_EVENTS,
            description="Rejected bytes / input bytes of every day x instance under $SLOWLOG_MAX_REJECTED_RATIO (1%).",
        ),
    ],
)
def slow_query_events_checks(context: dg.AssetCheckExecutionContext, log_source: LogSourceResource,
                             data_root: DataRootResource) -> Iterator[dg.AssetCheckResult]:
    manifests, missing = _window_manifests(context, source_instances(log_source), data_root.warehouse())
    key = lambda m: f"{m['date']}/{m['instance']}"  # noqa: E731

    unaccounted = [
        {"partition": key(m), **{k: f[k] for k in ("file", "bytes_total", "event_bytes", "skipped_bytes", "rejected_bytes")}}
        for m in manifests
        for f in m.get("per_file", [])
        if f["bytes_total"] != f["event_bytes"] + f["skipped_bytes"] + f["rejected_bytes"]
    ]
    # compressed input that never became bytes to account (parse.py / decompress.py name each loss)
    lost_input = [
        {"partition": key(m), "file": f["file"], "lost_compressed_bytes": f.get("lost_bytes", 0), "error": error}
        for m in manifests
        for f in m.get("per_file", [])
        for error in f.get("input_errors", [])
    ]
    failed = [{**r, "reason": f"{r['file']}: bytes not accounted"} for r in unaccounted]
    failed += [{**r, "reason": f"{r['file']}: {r['error']}"} for r in lost_input]
    yield dg.AssetCheckResult(
        check_name=CHECK_BYTES,
        asset_key=SLOW_QUERY_EVENTS,
        passed=not failed,
        metadata={
            "partitions": len(manifests),
            "missing_manifests": dg.MetadataValue.json(missing[:50]),
            "bytes_total": sum(m["bytes_total"] for m in manifests),
            "unaccounted_files": dg.MetadataValue.md(md_table(unaccounted[:20])),
            "lost_compressed_bytes": sum(m.get("lost_bytes", 0) for m in manifests),
            "input_errors": dg.MetadataValue.md(md_table(lost_input[:20])),
            FAILED_UNITS: _failed_units(failed),
        },
    )

    empty = [key(m) for m in manifests if m["files"] > 0 and m["bytes_total"] > 0 and m["events"] == 0]
    yield dg.AssetCheckResult(
        check_name=CHECK_NOT_EMPTY,
        asset_key=SLOW_QUERY_EVENTS,
        passed=not empty,
        metadata={"empty_partitions": dg.MetadataValue.json(empty[:50]), "missing_manifests": len(missing),
                  FAILED_UNITS: _failed_units([{"partition": p, "reason": "files but no events"} for p in empty])},
    )

    limit = settings.max_rejected_ratio()
    ratios = [
        {"partition": key(m), "ratio": m["rejected_bytes"] / m["bytes_total"], "rejected": m["rejected"],
         "rejected_bytes": m["rejected_bytes"], "bytes_total": m["bytes_total"]}
        for m in manifests
        if m["bytes_total"] > 0
    ]
    over = sorted((r for r in ratios if r["ratio"] > limit), key=lambda r: -r["ratio"])
    total_bytes = sum(m["bytes_total"] for m in manifests)
    yield dg.AssetCheckResult(
        check_name=CHECK_REJECTED,
        asset_key=SLOW_QUERY_EVENTS,
        passed=not over,
        metadata={
            "max_ratio": limit,
            "worst_ratio": max((r["ratio"] for r in ratios), default=0.0),
            "overall_ratio": (sum(m["rejected_bytes"] for m in manifests) / total_bytes) if total_bytes else 0.0,
            "partitions_over": dg.MetadataValue.md(md_table(over[:20])),
            FAILED_UNITS: _failed_units([
                {"partition": r["partition"], "reason": f"{r['ratio']:.2%} of {r['bytes_total']} bytes rejected "
                                                        f"(limit {limit:.2%})"} for r in over]),
        },
    )
