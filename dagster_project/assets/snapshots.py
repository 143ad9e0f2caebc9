"""Snapshots of the day for Slack (group ``snapshots``, daily partitions).

* ``query_regressions``: the day's query classes (``query_digest``) against the trailing 7 days
  (new classes, p95 or total time grown by ``factor``); ``warehouse/query_regressions/date=/``.
* ``metric_snapshots``: PNG charts of the warehouse (DB load by top classes per instance from the
  ``db_load`` series, top classes by total time, p95 by hour per instance, events per hour) and,
  when the ``cloudwatch_metrics`` resource has widgets configured, CloudWatch ``GetMetricWidgetImage`` graphs; ``<root>/snapshots/date=YYYY-MM-DD/*.png``.
* ``slack_report``: the PNGs plus a summary (events, classes, top 5 with redacted fingerprints,
  regressions) uploaded with ``files_upload_v2`` to the ``slack`` resource's channel; skipped, with
  the reason in metadata, when no Slack token is configured.

A run may cover a range of days (single-run backfill): every asset handles each day of
``context.partition_time_window``; ``slack_report`` sends only the last ``max_report_days`` days
of a range (a 30-day backfill does not post 30 messages).
"""

import datetime as dt
import json
import os
import re
import tempfile
import warnings
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow.fs as pafs

from dagster_project import analysis
from dagster_project.assets.digest import query_digest
from dagster_project.assets.common import md_table, partition_days
from dagster_project.assets.ingest import SLOW_QUERY_EVENTS
from dagster_project.days import day_text
from dagster_project.partitions import daily_partitions
from dagster_project.resources.cloudwatch_metrics import CloudWatchImageError, CloudWatchMetricsResource
from dagster_project.resources.slack import SlackReportResource, SlackSendError
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.slowlog.load import LoadSeries
from dagster_project.snapshots import charts
from dagster_project.snapshots.db_load_chart import db_load_chart
from dagster_project.snapshots.regressions import REGRESSIONS_SCHEMA, REGRESSIONS_TABLE, RegressionRules, find_regressions, to_table
from dagster_project.snapshots.slack_message import build_report_text
from dagster_project.snapshots.widgets import WidgetError
from dagster_project.warehouse import DB_LOAD_TABLE, DIGEST_TABLE, EVENTS_TABLE, Warehouse

__all__ = ["query_regressions", "metric_snapshots", "slack_report", "snapshot_assets", "snapshot_dir",
           "SNAPSHOTS_DIR", "RESOURCE_KEYS"]

SNAPSHOTS_DIR = "snapshots"
MANIFEST = "_manifest.json"
BASELINE_DAYS = 7
RESOURCE_KEYS = ("cloudwatch_metrics", "slack")
CHART_ORDER = ("db_load.png", "top_classes.png", "p95_by_hour.png", "events_by_hour.png")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def snapshot_dir(day: dt.date | str, wh: Warehouse) -> str:
    """``<root>/snapshots/date=YYYY-MM-DD`` (inside the root's filesystem) of ``wh``'s data root."""
    return wh.root.path(SNAPSHOTS_DIR, f"date={day_text(day)}")


def _list_pngs(wh: Warehouse, directory: str) -> list[str]:
    try:
        infos = wh.fs.get_file_info(pafs.FileSelector(directory, allow_not_found=True))
    except (FileNotFoundError, NotADirectoryError):
        return []
    names = [i.base_name for i in infos if i.type == pafs.FileType.File and i.base_name.endswith(".png")]
    rank = {n: i for i, n in enumerate(CHART_ORDER)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def _read_json(wh: Warehouse, path: str) -> dict:
    try:
        with wh.fs.open_input_stream(path) as f:
            return json.loads(f.read().decode())
    except (FileNotFoundError, OSError, ValueError):
        return {}


def _write_bytes(wh: Warehouse, path: str, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(delete=False, suffix=".tmp", dir=None) as tmp:
        tmp.write(data)
    wh.put_file(tmp.name, path)


# ----------------------------------------------------------------------------- regressions
class QueryRegressionsConfig(dg.Config):
    """Rules of ``query_regressions``."""

    factor: float = 2.0  # p95 / total time at least this many times the baseline
    min_baseline_count: int = 5  # executions in the baseline before p95/total are compared
    min_count: int = 1  # executions today for a class to be reported
    min_query_time_sum: float = 0.0  # seconds of total query time today for a class to be reported
    baseline_days: int = BASELINE_DAYS  # trailing days of query_digest compared with


with warnings.catch_warnings():  # allow_nonexistent_upstream_partitions is "beta"; the first days need it
    warnings.simplefilter("ignore", dg.BetaWarning)
    _BASELINE_MAPPING = dg.TimeWindowPartitionMapping(
        start_offset=-BASELINE_DAYS, end_offset=0, allow_nonexistent_upstream_partitions=True
    )


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetDep(query_digest, partition_mapping=_BASELINE_MAPPING)],
    group_name="snapshots",
    kinds={"python", "parquet"},
    description="Query classes that are new, or whose p95 / total time grew by `factor`, vs the trailing 7 days "
    "of query_digest; warehouse/query_regressions/date=/.",
)
def query_regressions(context: dg.AssetExecutionContext, config: QueryRegressionsConfig,
                      data_root: DataRootResource) -> dg.MaterializeResult:
    try:
        rules = RegressionRules(config.factor, config.min_baseline_count, config.min_count, config.min_query_time_sum)
    except ValueError as e:
        raise dg.Failure(description=f"query_regressions config: {e}") from None
    if config.baseline_days < 1:
        raise dg.Failure(description="query_regressions config: baseline_days must be at least 1")
    wh = data_root.warehouse()
    per_day, preview = [], []
    total = 0
    for day in partition_days(context):
        first = day - dt.timedelta(days=config.baseline_days)
        last = day - dt.timedelta(days=1)
        current = analysis.load_digest(day, day, root=wh.root)
        baseline = analysis.load_digest(first, last, root=wh.root)
        available = len(wh.list_partitions(DIGEST_TABLE, first, last))
        found = find_regressions(current, baseline, rules, baseline_days_available=available, day=day)
        manifest = {"factor": rules.factor, "min_baseline_count": rules.min_baseline_count,
                    "min_count": rules.min_count, "min_query_time_sum": rules.min_query_time_sum,
                    "baseline_days": config.baseline_days, "baseline_days_with_digest": available,
                    "classes": int(len(current)), "regressions": int(len(found))}
        wh.write_partition(REGRESSIONS_TABLE, day, to_table(found), schema=REGRESSIONS_SCHEMA, manifest=manifest)
        kinds = found["kind"].value_counts().to_dict() if len(found) else {}
        per_day.append({"date": str(day), "classes": len(current), "baseline_days": available,
                        "regressions": len(found), **{k: kinds.get(k, 0) for k in ("new", "p95", "total_time", "p95+total_time")}})
        for row in found.head(20).itertuples():
            preview.append({"date": str(day), "instance": row.instance, "kind": row.kind, "count": row.count,
                            "p95_s": row.query_time_p95, "baseline_p95_s": row.baseline_query_time_p95,
                            "total_s": row.query_time_sum, "baseline_total_s": row.baseline_query_time_sum,
                            "fingerprint": charts.shorten_fingerprint(row.fingerprint, 100)})
        total += len(found)
        if available == 0:
            context.log.info(f"{day}: no query_digest in the {config.baseline_days} days before; no class reported as new")
        context.log.info(f"{day}: {len(found)} regressions among {len(current)} classes")
    return dg.MaterializeResult(
        metadata={
            "regressions": total,
            "dagster/row_count": total,
            "factor": rules.factor,
            "baseline_days": config.baseline_days,
            "per_day": dg.MetadataValue.md(md_table(per_day[-31:])),
            "regressions_table": dg.MetadataValue.md(md_table(preview[:20])),
            "path": dg.MetadataValue.path(wh.table_dir(REGRESSIONS_TABLE)),
        }
    )


# -------------------------------------------------------------------------------- snapshots
class MetricSnapshotsConfig(dg.Config):
    """Options of ``metric_snapshots``."""

    top_n: int = 8  # query classes in the top chart
    cloudwatch: bool = True  # render the cloudwatch_metrics resource's widgets (when it has any)


def _db_load_png(day: dt.date, wh: Warehouse, path: str, baseline_days: int = BASELINE_DAYS) -> str:
    """``db_load.png`` of ``day`` from the ``db_load`` table (the days around it for events of files
    that straddle midnight; the ``baseline_days`` before it for the dashed baseline)."""
    one = dt.timedelta(days=1)
    rows = wh.read_table(DB_LOAD_TABLE, day - one, day + one).to_pandas()
    if not wh.list_partitions(DB_LOAD_TABLE, day, day):
        # a digest written before the db_load table existed: the series from the day's events
        series = LoadSeries()
        for batch in wh.iter_batches(EVENTS_TABLE, day, day,
                                     columns=["ts", "instance", "checksum", "fingerprint", "query_time"]):
            series.add(batch)
        rows = pd.concat([rows, series.to_table(day).to_pandas()], ignore_index=True)
    first, last = day - dt.timedelta(days=baseline_days), day - one
    base = wh.read_table(DB_LOAD_TABLE, first - one, day).to_pandas()
    minute = pd.to_datetime(base["minute"], utc=True)
    base = base[(minute >= pd.Timestamp(first.isoformat(), tz="UTC")) & (minute < pd.Timestamp(day.isoformat(), tz="UTC"))]
    days_with_data = len(wh.list_partitions(DB_LOAD_TABLE, first, last))
    return db_load_chart(rows, day, path, base, days_with_data)


def _load_summary(day: dt.date, wh: Warehouse, baseline_days: int = BASELINE_DAYS) -> list[tuple[str, float, float | None]]:
    """(instance, query seconds of ``day``, ratio to the daily mean of the days before) from ``db_load``,
    busiest first."""
    first = day - dt.timedelta(days=baseline_days)
    rows = wh.read_table(DB_LOAD_TABLE, first, day, columns=["date", "instance", "query_time_s"]).to_pandas()
    if rows.empty:
        return []
    rows["date"] = pd.to_datetime(rows["date"]).dt.date
    today = rows[rows["date"] == day].groupby("instance")["query_time_s"].sum().sort_values(ascending=False)
    before = rows[rows["date"] < day]
    n_before = before["date"].nunique()
    mean = before.groupby("instance")["query_time_s"].sum() / n_before if n_before else pd.Series(dtype=float)
    return [(str(i), float(s), float(s / mean[i]) if mean.get(i, 0) > 0 else None) for i, s in today.items()]


def _hourly(day: dt.date, digest: pd.DataFrame, wh: Warehouse) -> tuple[pd.DataFrame, str]:
    events = analysis.load_events(day, day, root=wh.root, columns=["ts", "instance", "query_time"])
    if len(events):
        return charts.hourly_from_events(events), "events"
    return charts.hourly_from_digest(digest), "digest"


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[query_digest, SLOW_QUERY_EVENTS],
    group_name="snapshots",
    kinds={"python", "matplotlib"},
    description="PNG charts of the day (DB load by top classes, top classes, p95 by hour, events by hour) and "
    "CloudWatch metric graphs "
    "when configured; <root>/snapshots/date=/.",
)
def metric_snapshots(
    context: dg.AssetExecutionContext, config: MetricSnapshotsConfig, cloudwatch_metrics: CloudWatchMetricsResource,
    data_root: DataRootResource,
) -> dg.MaterializeResult:
    wh = data_root.warehouse()
    days = partition_days(context)
    use_cloudwatch = config.cloudwatch and cloudwatch_metrics.enabled
    # Validate every widget of every day before any AWS call (a bad paste fails the run at once).
    widgets: dict[dt.date, dict[str, dict]] = {}
    if use_cloudwatch:
        try:
            widgets = {day: cloudwatch_metrics.widgets_for_day(day) for day in days}
        except WidgetError as e:
            raise dg.Failure(description=f"cloudwatch_metrics: {e}") from None

    written: list[str] = []
    per_day: list[dict] = []
    errors: list[str] = []
    for day in days:
        digest = analysis.load_digest(day, day, root=wh.root)
        hourly, hourly_source = _hourly(day, digest, wh)
        target = snapshot_dir(day, wh)
        names: list[str] = []
        day_errors: list[str] = []
        with tempfile.TemporaryDirectory(prefix="snapshots-") as tmp:
            paths = [_db_load_png(day, wh, os.path.join(tmp, "db_load.png"))]
            paths += charts.render_daily_charts(digest, hourly, day, tmp, top_n=config.top_n)
            for path in paths:
                name = os.path.basename(path)
                wh.put_file(path, f"{target}/{name}")
                names.append(name)
        for wname, widget in widgets.get(day, {}).items():
            try:
                png = cloudwatch_metrics.get_widget_image(widget, name=wname)
            except CloudWatchImageError as e:
                day_errors.append(str(e))
                context.log.warning(str(e))
                continue
            name = f"cloudwatch-{_SAFE.sub('_', wname)}.png"
            _write_bytes(wh, f"{target}/{name}", png)
            names.append(name)
        # Stale PNGs of an earlier run (a widget since removed) go away: the folder is this run's.
        for old in _list_pngs(wh, target):
            if old not in names:
                wh.fs.delete_file(f"{target}/{old}")
        manifest = {"date": str(day), "files": names, "hourly_source": hourly_source,
                    "cloudwatch": "on" if use_cloudwatch else "off",
                    "cloudwatch_errors": day_errors,
                    "written_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        with wh.fs.open_output_stream(f"{target}/{MANIFEST}") as out:
            out.write(json.dumps(manifest, indent=2).encode())
        written.extend(f"{target}/{n}" for n in names)
        errors.extend(day_errors)
        per_day.append({"date": str(day), "classes": len(digest), "events": int(digest["count"].sum()) if len(digest) else 0,
                        "charts": len(names), "hourly_from": hourly_source, "cloudwatch_errors": len(day_errors)})
        context.log.info(f"{day}: {len(names)} PNGs in {target}")

    if not use_cloudwatch:
        cw_status = "off: " + ("disabled in config" if not config.cloudwatch else
                               "no RDS instance, cluster or widget configured on cloudwatch_metrics")
    else:
        cw_status = f"on: {sum(len(w) for w in widgets.values())} widget images requested, {len(errors)} failed"
    metadata: dict[str, Any] = {
        "files": dg.MetadataValue.json(written),
        "file_count": len(written),
        "path": dg.MetadataValue.path(wh.root.path(SNAPSHOTS_DIR)),
        "cloudwatch": cw_status,
        "per_day": dg.MetadataValue.md(md_table(per_day[-31:])),
    }
    if errors:
        metadata["cloudwatch_errors"] = dg.MetadataValue.md("\n".join(f"- {e}" for e in errors[:20]))
    return dg.MaterializeResult(metadata=metadata)


# ----------------------------------------------------------------------------------- slack
class SlackReportConfig(dg.Config):
    """Options of ``slack_report``."""

    top_n: int = 5  # classes listed in the message
    max_regressions: int = 10  # regressions listed in the message
    max_report_days: int = 1  # in a range run, only the last N days are sent
    weekly: bool = True  # on Mondays, add the week (Tuesday..Monday) merged from the daily digests


def _read_png(wh: Warehouse, path: str) -> bytes:
    with wh.fs.open_input_stream(path) as f:
        return f.read()


def _title(name: str, day: dt.date) -> str:
    stem = name.removesuffix(".png")
    nice = {"db_load": "DB load by top query classes", "top_classes": "Top query classes by total time",
            "p95_by_hour": "p95 query time by hour", "events_by_hour": "Slow queries per hour"}.get(stem, stem.replace("cloudwatch-", "CloudWatch ").replace("_", " "))
    return f"{nice} · {day.isoformat()}"


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[metric_snapshots, query_regressions, query_digest],
    group_name="snapshots",
    kinds={"python", "slack"},
    description="The day's charts and a summary (top classes with redacted fingerprints, regressions) uploaded to "
    "Slack (files_upload_v2); skipped when SLACK_BOT_TOKEN is not set.",
)
def slack_report(
    context: dg.AssetExecutionContext, config: SlackReportConfig, slack: SlackReportResource,
    data_root: DataRootResource,
) -> dg.MaterializeResult:
    wh = data_root.warehouse()
    days = partition_days(context)
    send_days = set(days[-max(1, config.max_report_days):])
    skip = slack.skip_reason()
    reports: list[dict] = []
    retries: list[str] = []
    previews: list[str] = []
    all_files: list[str] = []
    for day in days:
        digest = analysis.load_digest(day, day, root=wh.root)
        regressions = wh.read_table(REGRESSIONS_TABLE, day, day).to_pandas()
        reg_manifest = wh.read_manifest(REGRESSIONS_TABLE, day)
        if reg_manifest is None:
            regressions = None
        target = snapshot_dir(day, wh)
        names = _list_pngs(wh, target)
        snap_manifest = _read_json(wh, f"{target}/{MANIFEST}")
        notes = [f"CloudWatch: {e}" for e in snap_manifest.get("cloudwatch_errors", [])[:3]]
        week = week_days = None
        if config.weekly and day.weekday() == 0:
            week_days = (day - dt.timedelta(days=6), day)
            week = analysis.load_digest(*week_days, root=wh.root)
        text = build_report_text(
            day, digest, regressions, files=names, notes=notes, top_n=config.top_n,
            max_regressions=config.max_regressions,
            baseline_days=(reg_manifest or {}).get("baseline_days", BASELINE_DAYS),
            factor=(reg_manifest or {}).get("factor"),
            load=_load_summary(day, wh), week=week, week_days=week_days,
        )
        previews.append(text)
        paths = [f"{target}/{n}" for n in names]
        all_files.extend(paths)
        entry = {"date": str(day), "files": len(names), "status": "skipped", "reason": ""}
        if skip:
            entry["reason"] = f"{skip}: nothing sent; PNGs are in {target}"
        elif day not in send_days:
            entry["reason"] = f"range run: only the last {config.max_report_days} day(s) are sent"
        else:
            files = [(n, _read_png(wh, f"{target}/{n}"), _title(n, day)) for n in names]
            try:
                result = slack.send_report(text, files)
            except (SlackSendError, ValueError) as e:
                raise dg.Failure(description=f"slack_report {day}: {e}") from None
            entry.update(status="sent", reason=f"to {result['channel']} via {result['method']}",
                         attempts=result["attempts"], retries=len(result["retries"]))
            for r in result["retries"]:
                context.log.warning(f"Slack retry: {r}")
                retries.append(f"{day}: {r}")
        context.log.info(f"{day}: Slack {entry['status']} ({entry['reason']})")
        reports.append(entry)

    sent = [r for r in reports if r["status"] == "sent"]
    status = "sent" if sent else "skipped"
    reason = (skip or "") if not sent else f"{len(sent)} day(s) sent to {slack.resolved_channel()}"
    if not sent and not skip and reports:
        reason = reports[-1]["reason"]
    return dg.MaterializeResult(
        metadata={
            "slack_status": status,
            "slack_reason": reason,
            "files": dg.MetadataValue.json(all_files),
            "snapshots_path": dg.MetadataValue.path(wh.root.path(SNAPSHOTS_DIR)),
            "per_day": dg.MetadataValue.md(md_table(reports[-31:])),
            "slack_retries": dg.MetadataValue.json(retries),
            "message_preview": dg.MetadataValue.md("```\n" + previews[-1].replace("```", "'''") + "\n```" if previews else ""),
        }
    )


snapshot_assets = [query_regressions, metric_snapshots, slack_report]
