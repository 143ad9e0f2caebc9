"""``make ingest DAY=YYYY-MM-DD`` (``python -m dagster_project.ingest_day DAY``): ingest one day.

Launches ``ingest_job`` (raw files -> events -> digest) of ``dagster_project.definitions:defs`` for
the day's partition, every configured instance, through the Dagster instance at ``$DAGSTER_HOME``
(a temporary one when unset), so the run shows in the UI. It runs on the definitions' executor
(one process per instance-day step), waits, prints what landed per instance and exits 1 if any
unit failed or an ERROR-severity asset check failed (naming the instance-day and the check), 2 on
bad arguments.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import tempfile


def ingest_job():
    """The job, for ``dg.reconstructable`` (the multiprocess executor re-imports it in each step)."""
    from dagster_project.definitions import defs

    return defs.resolve_job_def("ingest_job")


def _step_name(step_key: str) -> str:
    """'slow_log_ingest.download_instance_day[db_1__20261124]' -> 'download' (what failed, in the report)."""
    return step_key.split("[")[0].rsplit(".", 1)[-1].removesuffix("_instance_day")


def _reason(error) -> str:
    """The innermost cause of a step failure, on one line (Dagster wraps the op's exception)."""
    while error is not None and getattr(error, "cause", None) is not None and \
            error.cls_name == "DagsterExecutionStepExecutionError":
        error = error.cause
    if error is None:
        return ""
    return (error.message or "").strip().splitlines()[0][:300] if error.message else error.cls_name or ""


def _failed_checks(result) -> list[tuple[str | None, str]]:
    """(instance-day 'YYYY-MM-DD/instance' or None, 'check NAME failed: reason') of every failed
    ERROR-severity asset check: the run itself succeeds when a check fails, the ingest does not."""
    import dagster as dg

    from dagster_project.assets.ingest.checks import FAILED_UNITS

    failed = []
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        units = evaluation.metadata.get(FAILED_UNITS)
        rows = (units.value if units is not None else None) or [{"partition": None, "reason": "see the run"}]
        failed += [(r["partition"], f"check {evaluation.check_name} failed: {r['reason']}") for r in rows]
    return failed


def _landed(day: dt.date, instances: list[str]) -> list[dict]:
    from dagster_project.warehouse import EVENTS_TABLE, Warehouse

    wh = Warehouse()
    rows = []
    for instance in instances:
        raw = wh.list_raw_files(day, instance)
        manifest = wh.read_manifest(EVENTS_TABLE, day, instance) or {}
        rows.append({"instance": instance, "files": len(raw), "bytes": sum(i.size for i in raw),
                     "events": manifest.get("events", 0), "rejected": manifest.get("rejected", 0)})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make ingest DAY=", description=__doc__.split("\n\n")[0])
    p.add_argument("day", help="UTC day, YYYY-MM-DD")
    p.add_argument("--instances", help="comma-separated subset of the configured instances")
    p.add_argument("--log-level", default="WARNING", help="Dagster console log level (default WARNING)")
    args = p.parse_args(argv)
    try:
        day = dt.date.fromisoformat(args.day)
    except ValueError:
        print(f"ingest: DAY must be YYYY-MM-DD, not {args.day!r}", file=sys.stderr)
        return 2
    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = tempfile.mkdtemp(prefix="slowlog-dagster-home-")

    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)

    from dagster_project.assets.ingest import InstanceDay, source_instances
    from dagster_project.definitions import RESOURCES
    from dagster_project.partitions import daily_partitions
    from dagster_project.run_health import fail_orphaned_runs, killed_step_message, launcher_tags, step_exit_code

    if not daily_partitions.has_partition_key(day.isoformat()):
        print(f"ingest: {day} is not a partition (first day $SLOWLOG_START_DATE, last today UTC)", file=sys.stderr)
        return 2
    configured = source_instances(RESOURCES["log_source"])
    instances = [i.strip() for i in args.instances.split(",") if i.strip()] if args.instances else configured
    unknown = sorted(set(instances) - set(configured))
    if unknown:
        print(f"ingest: not configured instances: {', '.join(unknown)} (configured: {', '.join(configured)})", file=sys.stderr)
        return 2
    run_config = {"ops": {"slow_log_ingest": {"config": {"instances": instances}}},
                  "loggers": {"console": {"config": {"log_level": args.log_level}}}}
    print(f"ingest {day}: {len(instances)} instance(s), Dagster instance {os.environ['DAGSTER_HOME']}", flush=True)
    with dg.DagsterInstance.get() as instance:
        for run_id in fail_orphaned_runs(instance):  # runs of a make ingest that was killed (run_health.py)
            print(f"run {run_id}: its make ingest process was killed; marked FAILED", flush=True)
        result = dg.execute_job(dg.reconstructable(ingest_job), instance=instance, run_config=run_config,
                                tags={"dagster/partition": day.isoformat(), **launcher_tags()}, raise_on_error=False)
        by_key = {InstanceDay(day, i).mapping_key: i for i in instances}
        failed: dict[str, list[str]] = {}
        other_failures = []
        for event in result.get_step_failure_events():
            m = re.search(r"\[(\w+)\]$", event.step_key or "")
            data = event.event_specific_data
            description = getattr(getattr(data, "user_failure_data", None), "description", None)
            message = description or _reason(data.error)
            if m and m.group(1) in by_key and data.error and data.error.cls_name == "ChildProcessCrashException":
                message = killed_step_message(_step_name(event.step_key), f"{by_key[m.group(1)]} {day}",
                                              step_exit_code(instance, result.run_id, event.step_key))
            if m and m.group(1) in by_key:
                failed.setdefault(by_key[m.group(1)], []).append(f"{_step_name(event.step_key)}: {message}")
            else:
                other_failures.append(f"{event.step_key}: {message}")
        checks_failed = _failed_checks(result)
        print(f"run {result.run_id}: {'success' if result.success else 'FAILED'}"
              f"{f', {len(checks_failed)} failed check(s)' if checks_failed else ''}")
    for partition, message in checks_failed:
        unit = next((i for i in instances if partition == f"{day.isoformat()}/{i}"), None)
        if unit is not None:
            failed.setdefault(unit, []).append(message)
        else:
            other_failures.append(f"{partition or 'run'}: {message}")
    for row in _landed(day, instances):
        status = "FAILED " + "; ".join(failed[row["instance"]]) if row["instance"] in failed else "ok"
        print(f"  {row['instance']}: {row['files']} files, {row['bytes']} bytes, {row['events']} events, "
              f"{row['rejected']} rejected  {status}")
    for line in other_failures:
        print(f"  {line}")
    return 0 if result.success and not checks_failed else 1


if __name__ == "__main__":
    sys.exit(main())
