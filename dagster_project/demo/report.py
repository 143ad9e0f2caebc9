"""What the demo prints: the warehouse's numbers after the runs, the top classes (literals
redacted), the regressions of the last day, the asset checks, where the files are, the OpenSearch
indices, Slack, the runs and how to open the UI. Read from what the runs wrote, never recomputed."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

TOP_N = 5
FINGERPRINT_CHARS = 90


def say(text: str = "") -> None:
    print(text, flush=True)  # flushed: the runs' own logs interleave on the same terminal


def shorten(text: str, limit: int = FINGERPRINT_CHARS) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.1f} ms"


def display_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it, else as given."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("..") else path


# --------------------------------------------------------------------------- read back
def warehouse_summary(days: list[dt.date], instances: list[str], engines: dict[str, str]) -> dict:
    """Events, rejected lines and classes per instance (the events' manifests, the digest), and the
    top classes by total time over ``days``."""
    from dagster_project import analysis  # it reads the environment the CLI set
    from dagster_project.slowlog.redact import redact_query
    from dagster_project.warehouse import EVENTS_TABLE, Warehouse

    wh = Warehouse()
    digest = analysis.load_digest(days[0], days[-1])
    per_instance: dict[str, dict] = {
        i: {"engine": engines.get(i, "mysql"), "files": 0, "events": 0, "rejected": 0, "classes": 0} for i in instances
    }
    for day in days:
        for instance in instances:
            m = wh.read_manifest(EVENTS_TABLE, day, instance)
            if m:
                row = per_instance[instance]
                row["files"] += m.get("files", 0)
                row["events"] += m.get("events", 0)
                row["rejected"] += m.get("rejected", 0)
    top: list[dict] = []
    if not digest.empty:
        for instance, group in digest.groupby("instance"):
            if instance in per_instance:
                per_instance[instance]["classes"] = int(group["checksum"].nunique())
        agg = (digest.groupby(["instance", "checksum"], dropna=False)
               .agg(count=("count", "sum"), total=("query_time_sum", "sum"), fingerprint=("fingerprint", "first"))
               .reset_index().sort_values("total", ascending=False).head(TOP_N))
        for r in agg.itertuples():
            fingerprint = shorten(redact_query(r.fingerprint or "", engines.get(r.instance)))
            top.append({"instance": r.instance, "checksum": r.checksum, "count": int(r.count),
                        "query_time_sum": float(r.total), "fingerprint": fingerprint})
    return {
        "root": wh.root,
        "events": sum(r["events"] for r in per_instance.values()),
        "rejected": sum(r["rejected"] for r in per_instance.values()),
        "classes": int(digest[["instance", "checksum"]].drop_duplicates().shape[0]) if not digest.empty else 0,
        "per_instance": per_instance,
        "top": top,
        "digest_rows": len(digest),
    }


def regressions_of(day: dt.date) -> list[dict]:
    """The ``query_regressions`` rows of ``day``, when that table exists."""
    from dagster_project.warehouse import Warehouse

    try:
        from dagster_project.snapshots.regressions import REGRESSIONS_TABLE
    except ImportError:  # definitions without the snapshots package: no regressions to show
        return []
    try:
        table = Warehouse().read_table(REGRESSIONS_TABLE, day, day)
    except (FileNotFoundError, OSError, ValueError):
        return []
    return table.to_pylist() if table.num_rows else []


def snapshot_pngs(root: Any) -> dict[str, list[str]]:
    """date -> PNG file names under ``<root>/snapshots/date=*/`` (local roots only)."""
    if not root.is_local:
        return {}
    base = Path(root.path("snapshots"))
    out: dict[str, list[str]] = {}
    for folder in sorted(base.glob("date=*")):
        pngs = sorted(p.name for p in folder.glob("*.png"))
        if pngs:
            out[folder.name.removeprefix("date=")] = pngs
    return out


# ------------------------------------------------------------------------------ print
def print_ingested(summary: dict, days: list[dt.date], instances: list[str]) -> None:
    say()
    say("=" * 100)
    say(f"Ingested {summary['events']} events in {summary['classes']} query classes "
        f"({summary['rejected']} rejected), {len(days)} days, {len(instances)} instances")
    for name, row in summary["per_instance"].items():
        say(f"  {name:<16} {row['engine']:<9} {row['files']:>3} files {row['events']:>7} events "
            f"{row['classes']:>4} classes {row['rejected']:>4} rejected")
    say()
    say(f"Top {len(summary['top'])} query classes by total time ({days[0]}..{days[-1]}; literals redacted):")
    for rank, r in enumerate(summary["top"], 1):
        say(f"  {rank}. {format_seconds(r['query_time_sum']):>10} {r['count']:>6} calls  {r['instance']:<15} "
            f"{r['fingerprint']}")


def print_regressions(day: dt.date) -> None:
    from dagster_project.slowlog.redact import redact_query

    regs = regressions_of(day)
    say()
    say(f"Regressions on {day} vs the trailing days: {len(regs)}")
    for r in sorted(regs, key=lambda r: -(r.get("query_time_sum") or 0.0))[:5]:
        kind = r.get("kind") or ""
        ratio = r.get("p95_ratio") if "p95" in kind else r.get("total_ratio")
        # `ratio == ratio`: a NaN ratio (no baseline) gets no "xN"
        detail = f" x{ratio:.0f}" if isinstance(ratio, (int, float)) and ratio == ratio and kind != "new" else ""
        say(f"  {kind + detail:<22} {r.get('instance', ''):<15} {shorten(redact_query(r.get('fingerprint') or ''), 70)}")


def print_checks(checks: list) -> None:
    if not checks:
        return
    passed = sum(1 for c in checks if c.passed)
    say()
    say(f"Asset checks: {passed}/{len(checks)} passed")
    for c in checks:
        if not c.passed:
            say(f"  FAILED {c.asset_key.to_user_string()}:{c.check_name}")


def print_files(root: Any) -> None:
    from dagster_project.warehouse import DB_LOAD_TABLE, DIGEST_TABLE, EVENTS_TABLE, Warehouse

    wh = Warehouse(root)
    say()
    say("Files:")
    for table in (EVENTS_TABLE, DIGEST_TABLE, DB_LOAD_TABLE):
        say(f"  Parquet  {display_path(wh.table_dir(table))}/date=YYYY-MM-DD/...")
    pngs = snapshot_pngs(root)
    if pngs:
        last = max(pngs)
        say(f"  PNGs     {display_path(root.path('snapshots'))}/date=YYYY-MM-DD/*.png ({sum(map(len, pngs.values()))} "
            f"files, {len(pngs)} days); {last}: {', '.join(pngs[last])}")
    else:
        say("  PNGs     none written")


def print_opensearch_indices(list_url: str, pattern: str, expect_indices: bool) -> list[str]:
    """Lists the digest's indices; returns the problems (an OpenSearch that is up but got nothing)."""
    from dagster_project.demo.node import opensearch_indices

    try:
        indices = opensearch_indices(list_url, pattern)
    except (OSError, ValueError) as exc:
        say(f"OpenSearch {list_url}: could not list indices: {exc}")
        return []
    say(f"OpenSearch {list_url}: {len(indices)} indices {pattern}")
    for name, count in indices:
        say(f"  {name:<36} {count:>6} docs")
    if not indices and expect_indices:
        return [f"OpenSearch is up but no {pattern} index was written"]
    return []


def print_slack(slack_materializations: list) -> None:
    if slack_materializations:
        meta = slack_materializations[-1].metadata
        status = getattr(meta.get("slack_status"), "value", meta.get("slack_status"))
        reason = getattr(meta.get("slack_reason"), "value", meta.get("slack_reason"))
        say(f"Slack: {status} ({reason})")
    else:
        say("Slack: nothing sent (no slack_report materialization in this run)")


def print_runs(runs: list, dagster_home: Path, seconds: float) -> None:
    say()
    say("Runs:")
    for r in runs:
        say(f"  {r.label:<24} {'success' if r.success else 'FAILED':<8} {r.seconds:>6.1f} s  run {r.run_id}")
    say(f"Dagster UI: `make ui`, then open http://127.0.0.1:3000 (Assets, Runs; "
        f"DAGSTER_HOME={display_path(str(dagster_home))})")
    say(f"Done in {seconds:.0f} s.")


def print_problems(problems: list[str]) -> None:
    say()
    say("FAILED steps:")
    for p in problems:
        say(f"  - {p}")
