"""``slow_query_events``: every raw file of an instance-day parsed into its events partition
(``warehouse/slow_query_events/date=/instance=/part-0.parquet`` + ``_manifest.json``, the parse
statistics the checks read): the steps of ``slow_query_events``, one parse step per instance-day
(each starts as soon as its own download step ends), then a summary step (the graph: :mod:`.graph`)."""

import datetime as dt
import io
import multiprocessing as mp
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pyarrow as pa

from dagster_project import settings
from dagster_project.assets.common import md_table, truncate
from dagster_project.assets.digest_units import UnitDigest
from dagster_project.assets.ingest.units import STEP_KIND_TAG, where_ran
from dagster_project.resources.aws import LogSourceResource
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.scratch import owned_dir, remove_dead
from dagster_project.settings import Root
from dagster_project.slowlog.parallel import ParallelParse
from dagster_project.slowlog.parse import parse_log
from dagster_project.slowlog.redact import redact_query
from dagster_project.warehouse import EVENTS_TABLE

PREVIEW_ROWS = 10
SPOOL_PREFIX = "slowlog-spool-"  # in the system temp folder: the parallel parse's pieces
PREVIEW_COLUMNS = ("ts", "instance", "db", "user", "query_time", "lock_time", "rows_sent", "rows_examined", "fingerprint")
STAT_FIELDS = ("bytes_total", "events", "event_bytes", "skipped_bytes", "rejected", "rejected_bytes", "lost_bytes")


def _stats_dict(stats: Any) -> dict:
    out = {name: int(getattr(stats, name, 0) or 0) for name in STAT_FIELDS}
    out["engine"] = getattr(stats, "engine", None)
    # shown in the run's metadata: a rejected piece is raw log text, its literals are redacted (its
    # line breaks, escaped in the sample, are put back first: a `--` or `#` comment ends at one)
    out["rejected_samples"] = [redact_query(str(s).replace("\\n", "\n"), out["engine"]).replace("\n", "\\n")[:200]
                               for s in (getattr(stats, "rejected_samples", None) or [])][:5]
    out["input_errors"] = [str(e)[:300] for e in (getattr(stats, "input_errors", None) or [])][:20]  # checks.py reads them
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
            engine = batch.column("engine")[0].as_py() if "engine" in batch.schema.names else None
            # a fingerprint keeps what pt keeps (a literal cut by the log, some comments): redacted
            preview.extend({k: truncate(redact_query(v, engine) if k == "fingerprint" and isinstance(v, str) else v)
                            for k, v in r.items()} for r in head.to_pylist())
        yield batch


def _manifest(day: dt.date, instance: str, engine: str, file_stats: list[dict], digest_id: str) -> dict:
    totals = {name: sum(f[name] for f in file_stats) for name in STAT_FIELDS}
    return {
        "table": EVENTS_TABLE,
        "date": day.isoformat(),
        "instance": instance,
        "engine": engine,
        "digest_id": digest_id,  # the unit's digest parts built from these events (digest_units.py)
        "files": len(file_stats),
        **totals,
        "accounted": all(
            f["bytes_total"] == f["event_bytes"] + f["skipped_bytes"] + f["rejected_bytes"] for f in file_stats
        ),
        "per_file": file_stats,
    }


@dg.op(tags={STEP_KIND_TAG: "parse"}, description="Parse one instance-day's raw files into its events partition.")
def parse_instance_day(context: dg.OpExecutionContext, log_source: LogSourceResource, data_root: DataRootResource,
                       downloaded: dict) -> dict:
    """``downloaded``: the row of the unit's download step (which carries the unit)."""
    unit = downloaded["unit"]
    wh = data_root.warehouse()
    day, instance = unit.day, unit.instance
    engine = log_source.engine_for(instance) or "auto"
    infos = wh.list_raw_files(day, instance)
    preview: list[dict] = []
    file_stats: list[dict] = []
    workers = parse_processes(infos, wh.root)
    started = time.monotonic()
    # Events are written to the partition of the day of the FILE they come from, even when
    # their ts falls on the previous/next day (files that straddle midnight): every file
    # is ingested exactly once, into exactly one partition. analysis.load_events filters by
    # ts (it reads the neighbouring partitions too), so queries by time stay exact.
    # The same pass digests the unit (query_digest then concatenates the units' parts instead of
    # reading the day's events again). The parts are stored once the events have streamed past,
    # before the new events partition replaces the old one, whose manifest then names them.
    unit_digest = UnitDigest()
    manifests: list[dict] = []  # the one write_partition asks for once the events are consumed

    def manifest() -> dict:
        manifests.append(_manifest(day, instance, engine, file_stats, unit_digest.write(wh, day, instance)))
        return manifests[0]

    # the spools of parse steps killed earlier (never a live step's: see scratch.py), then this step's own
    remove_dead(tempfile.gettempdir(), SPOOL_PREFIX)
    with owned_dir(None, SPOOL_PREFIX) as spool_dir:
        batches = _parse_files(infos, instance, engine, wh.root, file_stats, spool_dir, workers)
        written = wh.write_partition(
            EVENTS_TABLE, day, _take_preview(unit_digest.feed(batches), preview), instance=instance, manifest=manifest,
        )
    m = manifests[0]
    seconds = round(time.monotonic() - started, 3)
    context.log.info(f"{unit.label()}: {m['files']} files, {m['events']} events, {m['rejected']} rejected "
                     f"in {seconds} s ({workers} process{'es' if workers > 1 else ''})")
    return {
        "day": str(day), "instance": instance, "seconds": seconds, "parse_processes": workers, **where_ran(),
        "manifest": {k: v for k, v in m.items() if k != "per_file"},
        "samples": [f"{day}/{instance}/{f['file']}: {s}" for f in file_stats for s in f["rejected_samples"]][:10],
        "rows_written": written["rows"], "parquet_bytes": written["bytes"], "preview": preview,
    }


@dg.op(out=dg.Out(dg.Nothing), description="Sum up the units and record the materialization.")
def slow_query_events_summary(context: dg.OpExecutionContext, data_root: DataRootResource, rows: list[dict]) -> None:
    wh = data_root.warehouse()
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
        "path": dg.MetadataValue.path(wh.table_dir(EVENTS_TABLE)),
    })
