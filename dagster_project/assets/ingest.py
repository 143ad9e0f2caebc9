"""Ingestion: raw slow-log files -> ``raw/`` (byte-identical) -> ``slow_query_events`` (Parquet).

Both assets are daily partitioned with a single-run backfill policy: a backfill of 30 days runs
*once* and loops over ``context.partition_time_window`` (never ``partition_key``, which a range run
does not have). Both loop over every instance of the ``log_source`` resource (RDS API, CloudWatch
Logs or a local folder; see ``dagster_project.resources.aws``).

Every write is idempotent per day x instance: raw files are replaced file by file, the events
partition as a whole (``dagster_project.warehouse``), so re-materializing never duplicates.

The checks beside ``slow_query_events`` read the ``_manifest.json`` each events partition carries
(the parse statistics of its files), so they can be re-run on their own.
"""

import datetime as dt
import io
import os
import shutil
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
import pyarrow as pa

from dagster_project import settings, warehouse
from dagster_project.partitions import daily_partitions
from dagster_project.settings import Root
from dagster_project.slowlog.parse import parse_log
from dagster_project.warehouse import EVENTS_TABLE

# Live (not yet rotated) logs: RDS renames ``slowquery/mysql-slowquery.log`` to
# ``mysql-slowquery.log.YYYY-MM-DD.HH`` at the end of the hour. Ingesting the live file as well
# would store that hour twice once it is rotated, so it is left for the run after the rotation.
# (Dated files that still grow, like PostgreSQL's current hour, are fine: same name, replaced.)
LIVE_FILE_NAMES = frozenset({"mysql-slowquery.log", "postgresql.log", "slow.log", "mysql-slow.log"})

PREVIEW_ROWS = 10
PREVIEW_COLUMNS = ("ts", "instance", "db", "user", "query_time", "lock_time", "rows_sent", "rows_examined", "fingerprint")
STAT_FIELDS = ("bytes_total", "events", "event_bytes", "skipped_bytes", "rejected", "rejected_bytes")


# ---------------------------------------------------------------------------------------- helpers
def partition_days(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> list[dt.date]:
    """The UTC days of the run's partition window (one day, or every day of a range run)."""
    window = context.partition_time_window
    start = window.start.astimezone(dt.timezone.utc)
    end = window.end.astimezone(dt.timezone.utc)
    days, day = [], start.date()
    while dt.datetime.combine(day, dt.time(), dt.timezone.utc) < end:
        days.append(day)
        day += dt.timedelta(days=1)
    return days


def is_live(log_file: Any) -> bool:
    name = log_file.local_name
    for suffix in (".gz", ".gzip"):
        name = name.removesuffix(suffix)
    return name in LIVE_FILE_NAMES


def source_instances(source: Any) -> list[str]:
    """The instances of a log source resource (configured, else discovered by the source)."""
    if hasattr(source, "list_instances"):
        return list(source.list_instances())
    return list(source.instances)


def _as_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    return warehouse.to_date(value)


def _count(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, (int, float)):
        return int(value)
    try:
        return len(value)
    except TypeError:
        return 0


def md_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """A Markdown table (pipes and newlines in cells escaped)."""
    if not rows:
        return "_(none)_"
    columns = list(columns or rows[0].keys())

    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            v = f"{v:.6g}"
        return str(v).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _truncate(text: Any, limit: int = 120) -> Any:
    if isinstance(text, str) and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def _stats_dict(stats: Any) -> dict:
    out = {name: int(getattr(stats, name, 0) or 0) for name in STAT_FIELDS}
    out["rejected_samples"] = [str(s)[:200] for s in (getattr(stats, "rejected_samples", None) or [])][:5]
    out["engine"] = getattr(stats, "engine", None)
    return out


# ------------------------------------------------------------------------------------ raw files
class SlowLogFilesConfig(dg.Config):
    """Options of a ``slow_log_files`` run."""

    instances: list[str] | None = None  # a subset of the resource's instances (default: all)
    skip_existing: bool = False  # keep raw copies whose size already equals the listed size


def _download_one(source: Any, log_file: Any, day: dt.date, instance: str, root: Root) -> tuple[Any, int]:
    """Download one file into ``raw/`` atomically; returns (DownloadResult, bytes stored)."""
    dest = f"{warehouse.raw_dir(day, instance, root)}/{log_file.local_name}"
    if root.is_local:
        # Stage inside the partition folder (same filesystem) so the final move is one rename.
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        staging = os.path.join(os.path.dirname(dest), f".staging-{uuid.uuid4().hex}")
    else:
        staging = tempfile.mkdtemp(prefix="slowlog-dl-")
    try:
        os.makedirs(staging, exist_ok=True)
        result = source.download(log_file, staging)
        stored = warehouse.put_file(os.fspath(result.path), dest, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result, stored


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="ingest",
    required_resource_keys={"log_source"},
    kinds={"aws", "python"},
    description="Raw slow-log files of every instance, byte-identical, under raw/date=/instance=/.",
)
def slow_log_files(context: dg.AssetExecutionContext, config: SlowLogFilesConfig) -> dg.MaterializeResult:
    source = context.resources.log_source
    root = settings.resolve_root()
    configured = source_instances(source)
    instances = list(config.instances or configured)
    unknown = sorted(set(instances) - set(configured))
    if unknown:
        raise dg.Failure(f"instances not configured on the log source: {unknown}")
    days = partition_days(context)

    per_instance: dict[str, dict[str, int]] = defaultdict(
        lambda: {"files": 0, "bytes": 0, "retries": 0, "truncated_markers": 0, "skipped_live": 0, "kept": 0}
    )
    incomplete: list[str] = []
    for day in days:
        for instance in instances:
            row = per_instance[instance]
            existing = {i.base_name: i.size for i in warehouse.list_raw_files(day, instance, root)}
            for log_file in source.list_files(instance, day=day):
                if _as_date(log_file.day) not in (None, day):
                    continue  # a source that ignores the day filter
                if is_live(log_file):
                    row["skipped_live"] += 1
                    continue
                if config.skip_existing and log_file.size and existing.get(log_file.local_name) == log_file.size:
                    row["kept"] += 1
                    row["files"] += 1
                    row["bytes"] += log_file.size
                    continue
                result, stored = _download_one(source, log_file, day, instance, root)
                row["files"] += 1
                row["bytes"] += stored
                row["retries"] += _count(getattr(result, "retries", 0))
                row["truncated_markers"] += _count(getattr(result, "truncated_markers", 0))
                if getattr(result, "complete", True) is False:
                    incomplete.append(f"{day}/{instance}/{log_file.local_name}")
            context.log.info(f"{day} {instance}: {row['files']} files so far, {row['bytes']} bytes")

    totals = {k: sum(r[k] for r in per_instance.values()) for k in ("files", "bytes", "retries", "truncated_markers", "skipped_live")}
    table = [{"instance": i, **per_instance[i]} for i in instances]
    return dg.MaterializeResult(
        metadata={
            "days": dg.MetadataValue.text(f"{days[0]}..{days[-1]}" if len(days) > 1 else str(days[0])),
            "instances": len(instances),
            "files": totals["files"],
            "bytes": totals["bytes"],
            "retries": totals["retries"],
            "truncated_markers": totals["truncated_markers"],
            "skipped_live_files": totals["skipped_live"],
            "incomplete_downloads": dg.MetadataValue.json(incomplete),
            "per_instance": dg.MetadataValue.md(md_table(table)),
            "raw_root": dg.MetadataValue.path(root.path("raw")),
        }
    )


# ------------------------------------------------------------------------------------- events
def _parse_partition(
    day: dt.date, instance: str, engine: str, root: Root, preview: list[dict], file_stats: list[dict]
) -> Iterator[pa.RecordBatch]:
    """Parse every raw file of one day x instance, yielding event batches; fills ``file_stats``."""
    for info in warehouse.list_raw_files(day, instance, root):
        if root.is_local:
            parsed = parse_log(info.path, instance=instance, engine=engine, source_file=info.base_name)
            yield from _take_preview(parsed, preview)
        else:
            # open_input_file (not open_input_stream, which would gunzip by extension); the
            # BufferedReader gives the parser the peek() it detects gzip magic bytes with.
            with io.BufferedReader(root.fs.open_input_file(info.path), buffer_size=1 << 20) as fh:
                parsed = parse_log(fh, instance=instance, engine=engine, source_file=info.base_name)
                yield from _take_preview(parsed, preview)
        file_stats.append({"file": info.base_name, **_stats_dict(parsed.stats)})


def _take_preview(batches: Any, preview: list[dict]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if len(preview) < PREVIEW_ROWS and batch.num_rows:
            cols = [c for c in PREVIEW_COLUMNS if c in batch.schema.names]
            head = batch.slice(0, PREVIEW_ROWS - len(preview)).select(cols)
            preview.extend({k: _truncate(v) for k, v in r.items()} for r in head.to_pylist())
        yield batch


def _manifest(day: dt.date, instance: str, engine: str, file_stats: list[dict]) -> dict:
    totals = {name: sum(f[name] for f in file_stats) for name in STAT_FIELDS}
    return {
        "table": EVENTS_TABLE,
        "date": day.isoformat(),
        "instance": instance,
        "engine": engine,
        "files": len(file_stats),
        **totals,
        "accounted": all(
            f["bytes_total"] == f["event_bytes"] + f["skipped_bytes"] + f["rejected_bytes"] for f in file_stats
        ),
        "per_file": file_stats,
    }


class SlowQueryEventsConfig(dg.Config):
    """Options of a ``slow_query_events`` run."""

    instances: list[str] | None = None  # a subset of the resource's instances (default: all)


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[slow_log_files],
    group_name="ingest",
    required_resource_keys={"log_source"},
    kinds={"python", "parquet"},
    description="Parsed slow-query events, warehouse/slow_query_events/date=/instance=/part-0.parquet.",
)
def slow_query_events(context: dg.AssetExecutionContext, config: SlowQueryEventsConfig) -> dg.MaterializeResult:
    source = context.resources.log_source
    root = settings.resolve_root()
    instances = list(config.instances or source_instances(source))
    days = partition_days(context)
    preview: list[dict] = []
    per_instance: dict[str, dict[str, int]] = defaultdict(
        lambda: {"partitions": 0, "files": 0, "bytes": 0, "events": 0, "rejected": 0, "parquet_bytes": 0}
    )
    totals = defaultdict(int)
    samples: list[str] = []
    for day in days:
        for instance in instances:
            engine = source.engine_for(instance) or "auto"
            file_stats: list[dict] = []
            # Events are written to the partition of the day of the FILE they come from, even when
            # their ts falls on the previous/next day (files that straddle midnight): every file
            # is ingested exactly once, into exactly one partition. analysis.load_events filters by
            # ts (it reads the neighbouring partitions too), so queries by time stay exact.
            written = warehouse.write_partition(
                EVENTS_TABLE,
                day,
                instance,
                _parse_partition(day, instance, engine, root, preview, file_stats),
                root,
                manifest=lambda: _manifest(day, instance, engine, file_stats),  # noqa: B023 - called in the loop
            )
            m = _manifest(day, instance, engine, file_stats)
            row = per_instance[instance]
            row["partitions"] += 1
            row["files"] += m["files"]
            row["bytes"] += m["bytes_total"]
            row["events"] += m["events"]
            row["rejected"] += m["rejected"]
            row["parquet_bytes"] += written["bytes"]
            for name in ("files", *STAT_FIELDS):
                totals[name] += m[name]
            totals["rows_written"] += written["rows"]
            totals["parquet_bytes"] += written["bytes"]
            for f in file_stats:
                samples.extend(f"{day}/{instance}/{f['file']}: {s}" for s in f["rejected_samples"])
            context.log.info(f"{day} {instance}: {m['files']} files, {m['events']} events, {m['rejected']} rejected")

    return dg.MaterializeResult(
        metadata={
            "partitions": sum(r["partitions"] for r in per_instance.values()),
            "files": totals["files"],
            "bytes": totals["bytes_total"],
            "events": totals["events"],
            "dagster/row_count": totals["rows_written"],
            "event_bytes": totals["event_bytes"],
            "skipped_bytes": totals["skipped_bytes"],
            "rejected": totals["rejected"],
            "rejected_bytes": totals["rejected_bytes"],
            "parquet_bytes": totals["parquet_bytes"],
            "rejected_samples": dg.MetadataValue.json(samples[:10]),
            "preview": dg.MetadataValue.md(md_table(preview, [c for c in PREVIEW_COLUMNS if preview and c in preview[0]])),
            "per_instance": dg.MetadataValue.md(
                md_table([{"instance": i, **r} for i, r in per_instance.items()])
            ),
            "path": dg.MetadataValue.path(warehouse.table_dir(EVENTS_TABLE, root)),
        }
    )


# ------------------------------------------------------------------------------------- checks
CHECK_BYTES = "bytes_accounted"
CHECK_NOT_EMPTY = "events_when_files"
CHECK_REJECTED = "rejected_ratio"


def _window_manifests(context: Any, instances: Sequence[str]) -> tuple[list[dict], list[str]]:
    """Manifests of the run's days x instances. A missing one (a partition not materialized yet, or
    a run limited to some instances) is reported in the checks' metadata, not failed. A run of the
    checks alone without a partition judges every events partition in the warehouse."""
    root = settings.resolve_root()
    found, missing = [], []
    if context.has_partition_key or context.has_partition_key_range:
        keys = [(day, instance) for day in partition_days(context) for instance in instances]
    else:
        keys = [(day, instance) for day, instance, _ in warehouse.list_partitions(EVENTS_TABLE, root=root)]
    for day, instance in keys:
        m = warehouse.read_manifest(EVENTS_TABLE, day, instance, root)
        if m is None:
            missing.append(f"{day}/{instance}")
        else:
            found.append(m)
    return found, missing


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            CHECK_BYTES,
            asset=slow_query_events,
            description="Every input byte is accounted: bytes_total == event + skipped + rejected bytes, per file.",
        ),
        dg.AssetCheckSpec(
            CHECK_NOT_EMPTY,
            asset=slow_query_events,
            description="No day x instance that had log files ends with zero events.",
        ),
        dg.AssetCheckSpec(
            CHECK_REJECTED,
            asset=slow_query_events,
            description="Rejected bytes / input bytes of every day x instance under $SLOWLOG_MAX_REJECTED_RATIO (1%).",
        ),
    ],
    required_resource_keys={"log_source"},
)
def slow_query_events_checks(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
    manifests, missing = _window_manifests(context, source_instances(context.resources.log_source))
    key = lambda m: f"{m['date']}/{m['instance']}"  # noqa: E731

    unaccounted = [
        {"partition": key(m), **{k: f[k] for k in ("file", "bytes_total", "event_bytes", "skipped_bytes", "rejected_bytes")}}
        for m in manifests
        for f in m.get("per_file", [])
        if f["bytes_total"] != f["event_bytes"] + f["skipped_bytes"] + f["rejected_bytes"]
    ]
    yield dg.AssetCheckResult(
        check_name=CHECK_BYTES,
        asset_key=slow_query_events.key,
        passed=not unaccounted,
        metadata={
            "partitions": len(manifests),
            "missing_manifests": dg.MetadataValue.json(missing[:50]),
            "bytes_total": sum(m["bytes_total"] for m in manifests),
            "unaccounted_files": dg.MetadataValue.md(md_table(unaccounted[:20])),
        },
    )

    empty = [key(m) for m in manifests if m["files"] > 0 and m["bytes_total"] > 0 and m["events"] == 0]
    yield dg.AssetCheckResult(
        check_name=CHECK_NOT_EMPTY,
        asset_key=slow_query_events.key,
        passed=not empty,
        metadata={"empty_partitions": dg.MetadataValue.json(empty[:50]), "missing_manifests": len(missing)},
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
        asset_key=slow_query_events.key,
        passed=not over,
        metadata={
            "max_ratio": limit,
            "worst_ratio": max((r["ratio"] for r in ratios), default=0.0),
            "overall_ratio": (sum(m["rejected_bytes"] for m in manifests) / total_bytes) if total_bytes else 0.0,
            "partitions_over": dg.MetadataValue.md(md_table(over[:20])),
        },
    )


ingest_assets = [slow_log_files, slow_query_events]
ingest_checks = [slow_query_events_checks]
