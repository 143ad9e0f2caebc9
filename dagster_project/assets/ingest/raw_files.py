"""``slow_log_files``'s steps: the day's raw log files of every instance, byte-identical, under
``raw/date=/instance=/``; one download step per instance-day (concurrent downloads sharing the
run's budget), then a summary step that records the materialization (the graph: :mod:`.graph`)."""

import datetime as dt
import os
import tempfile
import time
from collections import defaultdict
from typing import Any

import dagster as dg

from dagster_project import settings
from dagster_project.assets.common import md_table, partition_days
from dagster_project.assets.ingest.units import STEP_KIND_TAG, InstanceDay, where_ran
from dagster_project.days import to_date_or_none
from dagster_project.resources.aws import LogSourceResource
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.scratch import owned_dir, remove_dead
from dagster_project.sources.base import is_live
from dagster_project.warehouse import Warehouse


SLOW_LOG_FILES = dg.AssetKey("slow_log_files")
STAGING_PREFIX = ".staging-"  # hidden: never listed as a raw file


def _count(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, (int, float)):
        return int(value)
    try:
        return len(value)
    except TypeError:
        return 0


def _failure(units: str, failed: list[str], total: int) -> dg.Failure:
    return dg.Failure(
        description=f"{units}: {len(failed)} of {total} files failed; first: {failed[0]}",
        metadata={"failed_files": dg.MetadataValue.json(failed[:50])},
    )


def _download_one(log_source: LogSourceResource, log_file: Any, day: dt.date, instance: str,
                  wh: Warehouse) -> tuple[Any, int]:
    """Download one file into ``raw/`` atomically; returns (DownloadResult, bytes stored)."""
    dest = f"{wh.raw_dir(day, instance)}/{log_file.local_name}"
    # Local root: stage inside the partition folder (same filesystem) so the final move is one rename.
    with owned_dir(*_staging_place(wh, day, instance)) as staging:
        result = log_source.download(log_file, staging)
        stored = wh.put_file(os.fspath(result.path), dest)
    return result, stored


def _staging_place(wh: Warehouse, day: dt.date, instance: str) -> tuple[str | None, str]:
    """(folder, name prefix) of the unit's download staging folders: beside its raw files on a
    local root, in the system temp folder for an object store."""
    return (wh.raw_dir(day, instance), STAGING_PREFIX) if wh.root.is_local else (None, "slowlog-dl-")


def remove_dead_scratch(wh: Warehouse, day: dt.date, instance: str) -> list[str]:
    """What killed downloads of this unit left: staging folders, and the temp copies of files
    being put into ``raw/``."""
    folder, prefix = _staging_place(wh, day, instance)
    return remove_dead(folder or tempfile.gettempdir(), prefix) + wh.remove_dead_temp_files(wh.raw_dir(day, instance))


@dg.op(tags={STEP_KIND_TAG: "download"}, description="Download one instance-day's raw files, concurrently.")
def download_instance_day(context: dg.OpExecutionContext, log_source: LogSourceResource, data_root: DataRootResource,
                          unit: InstanceDay) -> dict:
    """The unit's row (what landed), with the unit itself for its parse step. When the run does not
    materialize ``slow_log_files`` (a re-parse of ``slow_query_events`` alone), nothing is listed
    or downloaded: the parse step reads the raw copies already in ``raw/``."""
    day, instance = unit.day, unit.instance
    row = {"unit": unit, "day": str(day), "instance": instance, "files": 0, "bytes": 0,
           "retries": 0, "truncated_markers": 0, "skipped_live": 0, "kept": 0, "incomplete": [], **where_ran()}
    if SLOW_LOG_FILES not in context.selected_asset_keys:
        context.log.info(f"{unit.label()}: slow_log_files not selected; the parse reads the raw copies in raw/")
        return row
    wh = data_root.warehouse()
    removed = remove_dead_scratch(wh, day, instance)
    if removed:
        context.log.info(f"{unit.label()}: removed what killed downloads left: {', '.join(removed[:10])}")
    existing = {i.base_name: i.size for i in wh.list_raw_files(day, instance)}
    todo = []
    for log_file in log_source.list_files(instance, day=day):
        if to_date_or_none(log_file.day) not in (None, day):
            continue  # a source that ignores the day filter
        if is_live(log_file):
            row["skipped_live"] += 1
        elif unit.skip_existing and log_file.size and existing.get(log_file.local_name) == log_file.size:
            row["kept"] += 1
            row["files"] += 1
            row["bytes"] += log_file.size
        else:
            todo.append(log_file)

    # the run's budget, shared by the download steps that run at once (see download_many)
    steps_at_once = min(settings.download_steps(), unit.units)
    started = time.monotonic()
    outcomes = log_source.download_many(todo, lambda lf: _download_one(log_source, lf, day, instance, wh),
                                        steps_at_once)
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
                     f"in {row['seconds']} s ({log_source.budget_text(steps_at_once)})")
    if failed:
        raise _failure(unit.label(), failed, len(todo))
    return row


@dg.op(out=dg.Out(dg.Nothing), description="Sum up the units and record the materialization.")
def slow_log_files_summary(context: dg.OpExecutionContext, data_root: DataRootResource, rows: list[dict]) -> None:
    wh = data_root.warehouse()
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
        "raw_root": dg.MetadataValue.path(wh.root.path("raw")),
    })


