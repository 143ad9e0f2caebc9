"""The demo's Dagster runs: every asset of the definitions, in process, recorded in the instance.

Assets with a single-run backfill policy share ONE run over the whole range of days (what the
UI's backfill launches for them); the others get one run per day; unpartitioned ones one run.
Only Dagster's public result API is read back: materialization events, step failure events,
asset check evaluations.
"""
from __future__ import annotations

import datetime as dt
import importlib
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_project.demo.report import say

# Dagster's system run tags for a run over a range of partitions (listed in its "Tags" reference,
# set by the UI / a backfill for single-run assets): `materialize` and `execute_in_process` only
# take a single `partition_key`, so a range run in process is asked for with these two tags.
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass
class RunRecord:
    label: str
    run_id: str
    success: bool
    seconds: float


@dataclass
class PipelineOutcome:
    runs: list[RunRecord] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    materializations: dict[str, list[dg.AssetMaterialization]] = field(default_factory=lambda: defaultdict(list))
    checks: list[dg.AssetCheckEvaluation] = field(default_factory=list)


def load_definitions(spec: str) -> dg.Definitions:
    """``MODULE:ATTR`` (ATTR defaults to ``defs``), imported only now: the definitions' resources
    read the environment the caller has just set."""
    warnings.filterwarnings("ignore", message=".*is currently in (beta|preview).*")
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr or "defs")


def assets_of(defs: dg.Definitions) -> list[dg.AssetsDefinition]:
    return [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]


def sample_days(source_root: Path) -> list[dt.date]:
    """Every UTC day named by a file of the local estate (``...YYYY-MM-DD...``), sorted."""
    from dagster_project.sources.base import day_from_name  # after the environment is set, like the definitions

    days = {day_from_name(p.name) for p in source_root.rglob("*") if p.is_file()}
    days.discard(None)
    return sorted(days)  # type: ignore[arg-type]


def partition_range_tags(key_range: dg.PartitionKeyRange) -> dict[str, str]:
    return {PARTITION_RANGE_START_TAG: key_range.start, PARTITION_RANGE_END_TAG: key_range.end}


def _failures(result: dg.ExecuteInProcessResult) -> list[str]:
    out = []
    for event in result.get_step_failure_events():
        err = event.step_failure_data.error
        while err is not None and err.cause is not None:  # the user code's error, not Dagster's wrapper
            err = err.cause
        message = err.message.strip().splitlines()[0] if err and err.message.strip() else "failed"
        out.append(f"{event.step_key}: {message}")
    return out


def _materializations(result: dg.ExecuteInProcessResult) -> dict[str, list[dg.AssetMaterialization]]:
    found: dict[str, list[dg.AssetMaterialization]] = defaultdict(list)
    for event in result.get_asset_materialization_events():
        found[event.asset_key.to_user_string()].append(event.materialization)
    return found


def _split_by_backfill_policy(assets: list[dg.AssetsDefinition], skip_keys: set) -> tuple[list, list, list]:
    """(single-run keys, one-run-per-day keys, unpartitioned keys), ``skip_keys`` left out."""
    single_run, per_day, unpartitioned = [], [], []
    for a in assets:
        keys = [k for k in a.keys if k not in skip_keys]
        if not keys:
            continue
        if a.partitions_def is None:
            unpartitioned.extend(keys)
        elif a.backfill_policy is not None and a.backfill_policy.max_partitions_per_run is None:
            single_run.extend(keys)
        else:
            per_day.extend(keys)
    return single_run, per_day, unpartitioned


def run_pipeline(defs: dg.Definitions, days: list[dt.date], instance: dg.DagsterInstance, skip_keys: set,
                 quiet: bool) -> PipelineOutcome:
    """Materialize every asset of ``defs`` (minus ``skip_keys`` and what is downstream of them)."""
    assets = assets_of(defs)
    every = [*assets, *(defs.asset_checks or [])]  # the whole graph, so each run can load its inputs
    resources = dict(defs.resources or {})
    run_config = {"loggers": {"console": {"config": {"log_level": "WARNING" if quiet else "INFO"}}}}
    single_run, per_day, unpartitioned = _split_by_backfill_policy(assets, skip_keys)
    outcome = PipelineOutcome()

    def selection(keys: list) -> dg.AssetSelection:
        sel = dg.AssetSelection.assets(*keys)
        if skip_keys:
            sel = sel - dg.AssetSelection.assets(*skip_keys).downstream()
        return sel

    def execute(label: str, keys: list, **kwargs: Any) -> None:
        started = time.monotonic()
        result = dg.materialize(every, selection=selection(keys), resources=resources, instance=instance,
                                run_config=run_config, raise_on_error=False, **kwargs)
        failures = _failures(result)
        outcome.runs.append(RunRecord(label, result.run_id, result.success, round(time.monotonic() - started, 1)))
        outcome.failures.extend(f"[{label}] {f}" for f in failures)
        if not result.success and not failures:
            outcome.failures.append(f"[{label}] run failed (run id {result.run_id})")
        for key, mats in _materializations(result).items():
            outcome.materializations[key].extend(mats)
        outcome.checks.extend(result.get_asset_check_evaluations())

    if single_run:
        key_range = dg.PartitionKeyRange(days[0].isoformat(), days[-1].isoformat())
        say(f"  one range run {days[0]}..{days[-1]}: {len(single_run)} assets")
        execute(f"{days[0]}..{days[-1]}", single_run, tags=partition_range_tags(key_range))
    for day in days if per_day else []:
        say(f"  run for {day}: {len(per_day)} assets without a single-run backfill policy")
        execute(str(day), per_day, partition_key=day.isoformat())
    if unpartitioned:
        say(f"  unpartitioned run: {len(unpartitioned)} assets")
        execute("unpartitioned", unpartitioned)
    return outcome
