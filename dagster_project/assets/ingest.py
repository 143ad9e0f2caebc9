"""Ingestion: raw slow-log files -> ``raw/`` (byte-identical) -> ``slow_query_events`` (Parquet).

The unit of work is an **instance-day**. Both assets are daily partitioned, and each is a graph
whose run fans out into one step per instance x day of the run's partition window
(``slow_log_files.download_instance_day[orders_db__20261124]``,
``slow_query_events.parse_instance_day[...]``), then one summary step that records the
materialization. So:

* the run view shows which instance failed on which day; *re-execute from failure* runs only the
  failed instance-days (plus the summary), and a run limited to some instances (config
  ``instances``) touches nothing else;
* the steps spread over whatever executor runs the job: processes on one machine (the
  multiprocess executor of ``definitions.py``), Celery / Dask workers, Kubernetes pods;
* a range run (single-run backfill of a month) fans out over every day x instance; downstream
  daily assets (digest, publish, snapshots) start only once every unit of their day has landed.

Within a download step, the instance-day's files are fetched concurrently through one client, the
step's share of the run's ``max_concurrent_downloads`` (botocore retries with one retry quota per
client, plus the sources' loop-level backoff: throttling slows the steps down instead of failing them).
Within a parse step, a big unit is parsed by every core (:class:`~dagster_project.slowlog.parallel.ParallelParse`,
the CLI's range reader), memory bounded. Every write is idempotent per day x instance.

The checks beside ``slow_query_events`` read the ``_manifest.json`` each events partition carries
(the parse statistics of its files), so they can be re-run on their own.
"""

import datetime as dt
import io
import multiprocessing as mp
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
import zlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pyarrow as pa

from dagster_project import settings, warehouse
from dagster_project.assets.common import md_table, partition_days, truncate  # noqa: F401 - md_table re-exported
from dagster_project.partitions import daily_partitions
from dagster_project.resources.aws import LogSourceResource
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.settings import Root
from dagster_project.slowlog.parallel import ParallelParse
from dagster_project.slowlog.parse import parse_log
from dagster_project.sources.base import LIVE_FILE_NAMES, is_live  # noqa: F401 - re-exported
from dagster_project.warehouse import EVENTS_TABLE

PREVIEW_ROWS = 10
PREVIEW_COLUMNS = ("ts", "instance", "db", "user", "query_time", "lock_time", "rows_sent", "rows_examined", "fingerprint")
STAT_FIELDS = ("bytes_total", "events", "event_bytes", "skipped_bytes", "rejected", "rejected_bytes")
#: op tag saying what a step does; the executor's tag_concurrency_limits use it (definitions.py)
STEP_KIND_TAG = "slowlog/step"


# ------------------------------------------------------------------------------------- units
@dataclass(frozen=True)
class InstanceDay:
    """One unit of work: the files of one instance for one UTC day."""

    day: dt.date
    instance: str
    skip_existing: bool = False
    units: int = 1  # units of the run: their download steps share the run's download budget

    @property
    def mapping_key(self) -> str:
        """Dagster's dynamic mapping key (``[A-Za-z0-9_]+``): ``<instance>__<yyyymmdd>``. An
        instance id with characters other than letters, digits and ``-`` gets a short hash so
        that two ids never share a key."""
        safe = re.sub(r"[^A-Za-z0-9]", "_", self.instance)
        if not re.fullmatch(r"[A-Za-z0-9-]+", self.instance):
            safe += f"_{zlib.crc32(self.instance.encode()):08x}"
        return f"{safe}__{self.day:%Y%m%d}"

    def label(self) -> str:
        return f"{self.day} {self.instance}"


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


def _where() -> dict:
    """Which process and machine ran a step (shown in its output, asserted by the executor tests)."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _units(context: dg.OpExecutionContext, log_source: LogSourceResource, instances: list[str] | None,
           skip_existing: bool = False) -> Iterator[dg.DynamicOutput]:
    configured = source_instances(log_source)
    chosen = list(instances or configured)
    unknown = sorted(set(chosen) - set(configured))
    if unknown:
        raise dg.Failure(f"instances not configured on the log source: {unknown}")
    days = partition_days(context)
    units = len(days) * len(chosen)
    context.log.info(f"{len(days)} day(s) x {len(chosen)} instance(s) = {units} units")
    for day in days:
        for instance in chosen:
            unit = InstanceDay(day, instance, skip_existing, units)
            yield dg.DynamicOutput(unit, mapping_key=unit.mapping_key)


def _failure(units: str, failed: list[str], total: int) -> dg.Failure:
    return dg.Failure(
        description=f"{units}: {len(failed)} of {total} files failed; first: {failed[0]}",
        metadata={"failed_files": dg.MetadataValue.json(failed[:50])},
    )


# ------------------------------------------------------------------------------------ raw files
class SlowLogFilesConfig(dg.Config):
    """Options of a ``slow_log_files`` run."""

    instances: list[str] | None = None  # a subset of the resource's instances (default: all)
    skip_existing: bool = False  # keep raw copies whose size already equals the listed size


@dg.op(out=dg.DynamicOut(InstanceDay), description="One output per instance x day of the run.")
def slow_log_files_units(context: dg.OpExecutionContext, config: SlowLogFilesConfig,
                         log_source: LogSourceResource) -> Iterator[dg.DynamicOutput]:
    yield from _units(context, log_source, config.instances, config.skip_existing)


def _download_one(log_source: LogSourceResource, log_file: Any, day: dt.date, instance: str, root: Root) -> tuple[Any, int]:
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
        result = log_source.download(log_file, staging)
        stored = warehouse.put_file(os.fspath(result.path), dest, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result, stored


@dg.op(tags={STEP_KIND_TAG: "download"}, description="Download one instance-day's raw files, concurrently.")
def download_instance_day(context: dg.OpExecutionContext, log_source: LogSourceResource, data_root: DataRootResource,
                          unit: InstanceDay) -> dict:
    root = data_root.resolve()
    day, instance = unit.day, unit.instance
    row = {"day": str(day), "instance": instance, "files": 0, "bytes": 0, "retries": 0, "truncated_markers": 0,
           "skipped_live": 0, "kept": 0, "incomplete": [], **_where()}
    existing = {i.base_name: i.size for i in warehouse.list_raw_files(day, instance, root)}
    todo = []
    for log_file in log_source.list_files(instance, day=day):
        if _as_date(log_file.day) not in (None, day):
            continue  # a source that ignores the day filter
        if is_live(log_file):
            row["skipped_live"] += 1
        elif unit.skip_existing and log_file.size and existing.get(log_file.local_name) == log_file.size:
            row["kept"] += 1
            row["files"] += 1
            row["bytes"] += log_file.size
        else:
            todo.append(log_file)

    # the run's budget, shared by the download steps that run at once (an equal share each)
    threads = max(1, log_source.max_concurrent_downloads // min(settings.download_steps(), unit.units))
    started = time.monotonic()
    outcomes = log_source.download_many(todo, lambda lf: _download_one(log_source, lf, day, instance, root), threads)
    failed = []
    for log_file, outcome, error in outcomes:
        if error is not None:
            failed.append(f"{log_file.local_name}: {type(error).__name__}: {str(error)[:300]}")
            continue
        result, stored = outcome
        row["files"] += 1
        row["bytes"] += stored
        row["retries"] += _count(getattr(result, "retries", 0))
        row["truncated_markers"] += _count(getattr(result, "truncated_markers", 0))
        if getattr(result, "complete", True) is False:
            row["incomplete"].append(f"{day}/{instance}/{log_file.local_name}")
    row["seconds"] = round(time.monotonic() - started, 3)
    context.log.info(f"{unit.label()}: {row['files']} files, {row['bytes']} bytes, {row['retries']} retries "
                     f"in {row['seconds']} s ({threads} at a time)")
    if failed:
        raise _failure(unit.label(), failed, len(todo))
    return row


@dg.op(out=dg.Out(dg.Nothing), description="Sum up the units and record the materialization.")
def slow_log_files_summary(context: dg.OpExecutionContext, data_root: DataRootResource, rows: list[dict]) -> None:
    root = data_root.resolve()
    days = partition_days(context)
    per_instance: dict[str, dict[str, int]] = defaultdict(
        lambda: {"files": 0, "bytes": 0, "retries": 0, "truncated_markers": 0, "skipped_live": 0, "kept": 0}
    )
    incomplete: list[str] = []
    for row in rows:
        for name, total in per_instance[row["instance"]].items():
            per_instance[row["instance"]][name] = total + row[name]
        incomplete.extend(row["incomplete"])
    totals = {k: sum(r[k] for r in per_instance.values()) for k in ("files", "bytes", "retries", "truncated_markers", "skipped_live")}
    context.add_output_metadata({
        "days": dg.MetadataValue.text(f"{days[0]}..{days[-1]}" if len(days) > 1 else str(days[0])),
        "instances": len(per_instance),
        "units": len(rows),
        "files": totals["files"],
        "bytes": totals["bytes"],
        "retries": totals["retries"],
        "truncated_markers": totals["truncated_markers"],
        "skipped_live_files": totals["skipped_live"],
        "incomplete_downloads": dg.MetadataValue.json(incomplete),
        "per_instance": dg.MetadataValue.md(md_table([{"instance": i, **r} for i, r in sorted(per_instance.items())])),
        "workers": dg.MetadataValue.json(sorted({f"{r['host']}:{r['pid']}" for r in rows})),
        "raw_root": dg.MetadataValue.path(root.path("raw")),
    })


def _config_mapping(op_name: str, fields: dict) -> dg.ConfigMapping:
    """The asset's run config (``ops: {<asset>: {config: {...}}}``) handed to its units op."""
    return dg.ConfigMapping(config_fn=lambda c: {op_name: {"config": c}}, config_schema=fields)


@dg.graph_asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="ingest",
    kinds={"aws", "python"},
    config=_config_mapping("slow_log_files_units", {
        "instances": dg.Field([str], is_required=False, description="A subset of the resource's instances."),
        "skip_existing": dg.Field(bool, default_value=False, description="Keep raw copies whose size equals the listed size."),
    }),
    description="Raw slow-log files of every instance, byte-identical, under raw/date=/instance=/ (one step per instance-day).",
)
def slow_log_files():
    return slow_log_files_summary(slow_log_files_units().map(download_instance_day).collect())


# ------------------------------------------------------------------------------------- events
def _stats_dict(stats: Any) -> dict:
    out = {name: int(getattr(stats, name, 0) or 0) for name in STAT_FIELDS}
    out["rejected_samples"] = [str(s)[:200] for s in (getattr(stats, "rejected_samples", None) or [])][:5]
    out["engine"] = getattr(stats, "engine", None)
    return out


def parse_processes(infos: list, root: Root) -> int:
    """Processes that parse a unit: every core for a big unit of local files; 1 (this process) for
    small units, object-store roots and a process that may not fork (a daemonic executor worker)."""
    workers = settings.parse_workers()
    local_bytes = sum(i.size for i in infos) if root.is_local else 0
    if workers > 1 and local_bytes >= settings.parallel_min_bytes() and not mp.current_process().daemon:
        return workers
    return 1


def _parse_files(infos: list, instance: str, engine: str, root: Root, file_stats: list[dict],
                 spool_dir: str, workers: int) -> Iterator[pa.RecordBatch]:
    """Every raw file of one day x instance, parsed in file order; fills ``file_stats`` at the end.

    With ``workers > 1`` (:func:`parse_processes`) the files are parsed by that many processes
    (:class:`~dagster_project.slowlog.parallel.ParallelParse`), else file by file in this process.
    Either way the rows and their order are the same.
    """
    if workers > 1:
        parsed = ParallelParse([(i.path, i.base_name) for i in infos], instance=instance, engine=engine,
                               workers=workers, spool_dir=spool_dir)
        yield from parsed
        file_stats.extend({"file": s.source_file, **_stats_dict(s)} for s in parsed.stats)
        return
    for info in infos:
        if root.is_local:
            parsed = parse_log(info.path, instance=instance, engine=engine, source_file=info.base_name)
            yield from parsed
        else:
            # open_input_file (not open_input_stream, which would gunzip by extension); the
            # BufferedReader gives the parser the peek() it detects gzip magic bytes with.
            with io.BufferedReader(root.fs.open_input_file(info.path), buffer_size=1 << 20) as fh:
                parsed = parse_log(fh, instance=instance, engine=engine, source_file=info.base_name)
                yield from parsed
        file_stats.append({"file": info.base_name, **_stats_dict(parsed.stats)})


def _take_preview(batches: Any, preview: list[dict]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if len(preview) < PREVIEW_ROWS and batch.num_rows:
            cols = [c for c in PREVIEW_COLUMNS if c in batch.schema.names]
            head = batch.slice(0, PREVIEW_ROWS - len(preview)).select(cols)
            preview.extend({k: truncate(v) for k, v in r.items()} for r in head.to_pylist())
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


@dg.op(ins={"slow_log_files": dg.In(dg.Nothing)}, out=dg.DynamicOut(InstanceDay),
       description="One output per instance x day of the run.")
def slow_query_events_units(context: dg.OpExecutionContext, config: SlowQueryEventsConfig,
                            log_source: LogSourceResource) -> Iterator[dg.DynamicOutput]:
    yield from _units(context, log_source, config.instances)


@dg.op(tags={STEP_KIND_TAG: "parse"}, description="Parse one instance-day's raw files into its events partition.")
def parse_instance_day(context: dg.OpExecutionContext, log_source: LogSourceResource, data_root: DataRootResource,
                       unit: InstanceDay) -> dict:
    root = data_root.resolve()
    day, instance = unit.day, unit.instance
    engine = log_source.engine_for(instance) or "auto"
    infos = warehouse.list_raw_files(day, instance, root)
    preview: list[dict] = []
    file_stats: list[dict] = []
    workers = parse_processes(infos, root)
    started = time.monotonic()
    # Events are written to the partition of the day of the FILE they come from, even when
    # their ts falls on the previous/next day (files that straddle midnight): every file
    # is ingested exactly once, into exactly one partition. analysis.load_events filters by
    # ts (it reads the neighbouring partitions too), so queries by time stay exact.
    with tempfile.TemporaryDirectory(prefix="slowlog-spool-") as spool_dir:
        written = warehouse.write_partition(
            EVENTS_TABLE,
            day,
            instance,
            _take_preview(_parse_files(infos, instance, engine, root, file_stats, spool_dir, workers), preview),
            root,
            manifest=lambda: _manifest(day, instance, engine, file_stats),
        )
    m = _manifest(day, instance, engine, file_stats)
    seconds = round(time.monotonic() - started, 3)
    context.log.info(f"{unit.label()}: {m['files']} files, {m['events']} events, {m['rejected']} rejected "
                     f"in {seconds} s ({workers} process{'es' if workers > 1 else ''})")
    return {
        "day": str(day), "instance": instance, "seconds": seconds, "parse_processes": workers, **_where(),
        "manifest": {k: v for k, v in m.items() if k != "per_file"},
        "samples": [f"{day}/{instance}/{f['file']}: {s}" for f in file_stats for s in f["rejected_samples"]][:10],
        "rows_written": written["rows"], "parquet_bytes": written["bytes"], "preview": preview,
    }


@dg.op(out=dg.Out(dg.Nothing), description="Sum up the units and record the materialization.")
def slow_query_events_summary(context: dg.OpExecutionContext, data_root: DataRootResource, rows: list[dict]) -> None:
    root = data_root.resolve()
    per_instance: dict[str, dict[str, int]] = defaultdict(
        lambda: {"partitions": 0, "files": 0, "bytes": 0, "events": 0, "rejected": 0, "parquet_bytes": 0}
    )
    totals: dict[str, int] = defaultdict(int)
    samples: list[str] = []
    preview: list[dict] = []
    for row in sorted(rows, key=lambda r: (r["day"], r["instance"])):
        m = row["manifest"]
        mine = per_instance[row["instance"]]
        mine["partitions"] += 1
        mine["files"] += m["files"]
        mine["bytes"] += m["bytes_total"]
        mine["events"] += m["events"]
        mine["rejected"] += m["rejected"]
        mine["parquet_bytes"] += row["parquet_bytes"]
        for name in ("files", *STAT_FIELDS):
            totals[name] += m[name]
        totals["rows_written"] += row["rows_written"]
        totals["parquet_bytes"] += row["parquet_bytes"]
        samples.extend(row["samples"])
        preview.extend(row["preview"][: max(0, PREVIEW_ROWS - len(preview))])
    context.add_output_metadata({
        "partitions": len(rows),
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
        "per_instance": dg.MetadataValue.md(md_table([{"instance": i, **r} for i, r in sorted(per_instance.items())])),
        "workers": dg.MetadataValue.json(sorted({f"{r['host']}:{r['pid']}" for r in rows})),
        "parse_processes": max((r["parse_processes"] for r in rows), default=0),
        "path": dg.MetadataValue.path(warehouse.table_dir(EVENTS_TABLE, root)),
    })


@dg.graph_asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    ins={"slow_log_files": dg.AssetIn(dagster_type=dg.Nothing)},
    group_name="ingest",
    kinds={"python", "parquet"},
    config=_config_mapping("slow_query_events_units", {
        "instances": dg.Field([str], is_required=False, description="A subset of the resource's instances."),
    }),
    description="Parsed slow-query events, warehouse/slow_query_events/date=/instance=/part-0.parquet (one step per instance-day).",
)
def slow_query_events(slow_log_files):
    return slow_query_events_summary(slow_query_events_units(slow_log_files).map(parse_instance_day).collect())


# ------------------------------------------------------------------------------------- checks
CHECK_BYTES = "bytes_accounted"
CHECK_NOT_EMPTY = "events_when_files"
CHECK_REJECTED = "rejected_ratio"


def _window_manifests(context: Any, instances: Sequence[str], root: Root) -> tuple[list[dict], list[str]]:
    """Manifests of the run's days x instances. A missing one (a partition not materialized yet, or
    a run limited to some instances) is reported in the checks' metadata, not failed. A run of the
    checks alone without a partition judges every events partition in the warehouse."""
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
)
def slow_query_events_checks(context: dg.AssetCheckExecutionContext, log_source: LogSourceResource,
                             data_root: DataRootResource) -> Iterator[dg.AssetCheckResult]:
    manifests, missing = _window_manifests(context, source_instances(log_source), data_root.resolve())
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
