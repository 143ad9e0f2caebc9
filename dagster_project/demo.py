"""``make demo`` (``python -m dagster_project.demo``): the whole pipeline on the bundled sample estate.

1. Starts the local OpenSearch (``scripts/opensearch/opensearch.sh up``, 127.0.0.1:9200) unless one
   already answers; it is left running (``make opensearch-down`` stops it). If it cannot start,
   the demo says so, skips the assets that need it and goes on.
2. Points the pipeline at the sample estate (``$SLOWLOG_SOURCE_ROOT``, default
   ``dagster_project/sample_data/rds``) and the data root (``$SLOWLOG_DATA_ROOT``, default ``./data``).
3. Materializes EVERY asset of ``dagster_project.definitions:defs`` (and its checks) for every day
   of the sample in ONE range run (the ``dagster/asset_partition_range_start|end`` tags, what the
   UI's backfill launches for single-run assets); assets without a single-run backfill policy get
   one run per day. Runs are recorded in the Dagster instance at ``$DAGSTER_HOME`` (default
   ``./.dagster_home``, the one ``make ui`` opens), so the UI shows them.
4. Prints a report: events, classes, rejected lines, the top classes (redacted), regressions,
   where the Parquet and PNG files are, the OpenSearch indices, Slack, how to open the UI.

Re-running is idempotent: every partition, file and OpenSearch document is replaced, never added.
Exit status: 0, or 1 when a required step failed (a failed asset, no events); an OpenSearch that
cannot start is reported but is not a failure of the demo (use ``--require-opensearch`` to make it one).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
SAMPLE_ROOT = PACKAGE_DIR / "sample_data" / "rds"
OPENSEARCH_SH = REPO_ROOT / "scripts" / "opensearch" / "opensearch.sh"
DEFAULT_OPENSEARCH_URL = "http://127.0.0.1:9200"
TOP_N = 5
FINGERPRINT_CHARS = 90


def _say(text: str = "") -> None:
    print(text, flush=True)


# ------------------------------------------------------------------------------------ OpenSearch
def _http_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local/demo URL
        return json.loads(resp.read().decode() or "null")


def opensearch_answers(url: str) -> bool:
    try:
        info = _http_json(url.rstrip("/") + "/", timeout=3)
    except (OSError, ValueError, urllib.error.URLError):
        return False
    return isinstance(info, dict) and "version" in info


def start_opensearch(url: str, timeout: float = 600) -> tuple[bool, str]:
    """(up, message). Reuses a node already answering at ``url``; else ``opensearch.sh up``."""
    if opensearch_answers(url):
        return True, f"already running at {url}"
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        return False, f"{url} does not answer (the demo only starts a local node)"
    if not OPENSEARCH_SH.exists():
        return False, f"{OPENSEARCH_SH.relative_to(REPO_ROOT)} not found and nothing answers at {url}"
    port = parts.port or 9200
    _say(f"  starting OpenSearch on port {port} (the first start resolves ~55 MB of jars with Maven; "
         "later starts take ~30 s)...")
    env = dict(os.environ, OPENSEARCH_PORT=str(port))
    try:
        res = subprocess.run(["bash", str(OPENSEARCH_SH), "up"], env=env, capture_output=True, text=True,
                             timeout=timeout, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        return False, f"opensearch.sh up did not finish in {timeout:.0f} s"
    except OSError as exc:
        return False, f"could not run opensearch.sh: {exc}"
    if res.returncode != 0 or not opensearch_answers(url):
        tail = " | ".join(line for line in (res.stderr or res.stdout or "").strip().splitlines()[-3:])
        return False, f"opensearch.sh up failed (exit {res.returncode}): {tail or 'no output'}"
    return True, f"started at {url} (left running: `make opensearch-down` stops it)"


def opensearch_indices(url: str, pattern: str) -> list[tuple[str, int]]:
    """(index, documents) of the indices matching ``pattern``, sorted by name."""
    try:
        rows = _http_json(f"{url.rstrip('/')}/_cat/indices/{pattern}?format=json&h=index,docs.count", timeout=10)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise
    return sorted((r["index"], int(r.get("docs.count") or 0)) for r in rows or [])


# ---------------------------------------------------------------------------------------- days
def sample_days(source_root: Path) -> list[dt.date]:
    """Every UTC day named by a file of the local estate (``...YYYY-MM-DD...``), sorted."""
    from dagster_project.sources.base import day_from_name

    days = {day_from_name(p.name) for p in source_root.rglob("*") if p.is_file()}
    days.discard(None)
    return sorted(days)  # type: ignore[arg-type]


def range_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


# ----------------------------------------------------------------------------------------- runs
def _failures(result: Any) -> list[str]:
    out = []
    for event in result.all_events:
        if event.is_step_failure:
            err = event.step_failure_data.error
            while err is not None and err.cause is not None:  # the user code's error, not Dagster's wrapper
                err = err.cause
            message = err.message.strip().splitlines()[0] if err and err.message.strip() else "failed"
            out.append(f"{event.step_key}: {message}")
    return out


def _materializations(result: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = defaultdict(list)
    for event in result.all_events:
        if event.is_step_materialization:
            mat = event.event_specific_data.materialization
            found[mat.asset_key.to_user_string()].append(mat)
    return found


def _checks(result: Any) -> list[Any]:
    return list(result.get_asset_check_evaluations())


def run_pipeline(defs: Any, days: list[dt.date], instance: Any, skip_keys: set, quiet: bool) -> dict:
    """Materialize every asset of ``defs`` (minus ``skip_keys`` and what is downstream of them)."""
    import dagster as dg

    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    every = [*assets, *(defs.asset_checks or [])]
    resources = dict(defs.resources or {})
    run_config = {"loggers": {"console": {"config": {"log_level": "WARNING" if quiet else "INFO"}}}}

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

    def selection(keys: list) -> Any:
        sel = dg.AssetSelection.assets(*keys)
        if skip_keys:
            sel = sel - dg.AssetSelection.assets(*skip_keys).downstream()
        return sel

    outcome = {"runs": [], "failures": [], "materializations": defaultdict(list), "checks": []}

    def execute(label: str, keys: list, **kwargs: Any) -> None:
        started = time.monotonic()
        result = dg.materialize(every, selection=selection(keys), resources=resources, instance=instance,
                                run_config=run_config, raise_on_error=False, **kwargs)
        failures = _failures(result)
        outcome["runs"].append({"label": label, "run_id": result.run_id, "success": result.success,
                                "seconds": round(time.monotonic() - started, 1)})
        outcome["failures"].extend(f"[{label}] {f}" for f in failures)
        if not result.success and not failures:
            outcome["failures"].append(f"[{label}] run failed (run id {result.run_id})")
        for key, mats in _materializations(result).items():
            outcome["materializations"][key].extend(mats)
        outcome["checks"].extend(_checks(result))

    if single_run:
        _say(f"  one range run {days[0]}..{days[-1]}: {len(single_run)} assets")
        execute(f"{days[0]}..{days[-1]}", single_run, tags=range_tags(days[0], days[-1]))
    for day in days if per_day else []:
        _say(f"  run for {day}: {len(per_day)} assets without a single-run backfill policy")
        execute(str(day), per_day, partition_key=day.isoformat())
    if unpartitioned:
        _say(f"  unpartitioned run: {len(unpartitioned)} assets")
        execute("unpartitioned", unpartitioned)
    return outcome


# --------------------------------------------------------------------------------------- report
def _short(text: str, limit: int = FINGERPRINT_CHARS) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt_s(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.1f} ms"


def warehouse_summary(days: list[dt.date], instances: list[str], engines: dict[str, str]) -> dict:
    from dagster_project import analysis, settings, warehouse
    from dagster_project.slowlog.redact import redact_query

    root = settings.resolve_root()
    digest = analysis.load_digest(days[0], days[-1])
    per_instance: dict[str, dict] = {
        i: {"engine": engines.get(i, "mysql"), "files": 0, "events": 0, "rejected": 0, "classes": 0} for i in instances
    }
    for day in days:
        for instance in instances:
            m = warehouse.read_manifest(warehouse.EVENTS_TABLE, day, instance, root)
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
            top.append({"instance": r.instance, "checksum": r.checksum, "count": int(r.count),
                        "query_time_sum": float(r.total), "fingerprint": _short(redact_query(r.fingerprint or ""))})
    return {
        "root": root,
        "events": sum(r["events"] for r in per_instance.values()),
        "rejected": sum(r["rejected"] for r in per_instance.values()),
        "classes": int(digest[["instance", "checksum"]].drop_duplicates().shape[0]) if not digest.empty else 0,
        "per_instance": per_instance,
        "top": top,
        "digest_rows": len(digest),
    }


def regressions_of(day: dt.date) -> list[dict]:
    """The ``query_regressions`` rows of ``day``, when that table exists."""
    from dagster_project import warehouse

    try:
        from dagster_project.snapshots.regressions import REGRESSIONS_TABLE
    except ImportError:
        return []
    try:
        table = warehouse.read_table(REGRESSIONS_TABLE, day, day)
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


def _display(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("..") else path


# ---------------------------------------------------------------------------------- asset graph
def asset_graph_mermaid(defs: Any) -> str:
    """The asset graph of ``defs`` as a Mermaid flowchart: one subgraph per group, the resources
    each asset needs in its label, the asset checks as a note on their asset."""
    import dagster as dg

    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    checks: dict[str, list[str]] = defaultdict(list)
    for c in defs.asset_checks or []:
        for key in c.check_keys:
            checks[key.asset_key.to_user_string()].append(key.name)
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    edges: list[tuple[str, str]] = []
    seen: set[str] = set()
    for a in assets:
        resources = sorted(a.required_resource_keys - {"io_manager"})
        for key in a.keys:
            name = key.to_user_string()
            if name in seen:
                continue
            seen.add(name)
            label = name + (f"<br/><small>{', '.join(resources)}</small>" if resources else "")
            groups[a.group_names_by_key[key]].append((name, label))
            edges.extend((dep.to_user_string(), name) for dep in sorted(a.asset_deps[key], key=str))
    lines = ["flowchart LR"]
    for group, nodes in groups.items():
        lines.append(f"  subgraph {group}")
        lines.extend(f'    {name}["{label}"]' for name, label in nodes)
        lines.append("  end")
    lines.extend(f"  {up} --> {down}" for up, down in edges if up in seen)
    for asset, names in checks.items():
        if asset in seen:
            lines.append(f'  {asset}_checks{{{{"checks: {", ".join(sorted(names))}"}}}} -.- {asset}')
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ main
def _load_defs(spec: str) -> Any:
    import importlib

    warnings.filterwarnings("ignore", message=".*is currently in (beta|preview).*")
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr or "defs")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dagster_project.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", help="data root (default $SLOWLOG_DATA_ROOT or ./data)")
    p.add_argument("--source-root", help="local estate (default $SLOWLOG_SOURCE_ROOT or the bundled sample)")
    p.add_argument("--opensearch-url", help=f"default $OPENSEARCH_URL or {DEFAULT_OPENSEARCH_URL}")
    p.add_argument("--no-opensearch", action="store_true", help="do not start/use OpenSearch (skip publishing)")
    p.add_argument("--require-opensearch", action="store_true", help="fail when OpenSearch cannot be used")
    p.add_argument("--definitions", default="dagster_project.definitions:defs", metavar="MODULE:ATTR",
                   help="the Definitions to materialize (default dagster_project.definitions:defs)")
    p.add_argument("--print-graph", action="store_true",
                   help="print the asset graph of the definitions as Mermaid (README.md, docs/) and exit")
    p.add_argument("--verbose", action="store_true", help="show Dagster's INFO logs")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.print_graph:
        sys.stdout.write(asset_graph_mermaid(_load_defs(args.definitions)))
        return 0
    started = time.monotonic()
    problems: list[str] = []

    # -- where things are (set BEFORE importing the definitions: their resources read the env)
    data_root = args.data_root or os.environ.get("SLOWLOG_DATA_ROOT") or "./data"
    if "://" not in data_root:
        data_root = os.path.abspath(data_root)
    source_root = Path(args.source_root or os.environ.get("SLOWLOG_SOURCE_ROOT") or SAMPLE_ROOT).resolve()
    os.environ["SLOWLOG_DATA_ROOT"] = data_root
    os.environ["SLOWLOG_SOURCE_ROOT"] = str(source_root)
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or REPO_ROOT / ".dagster_home").resolve()
    dagster_home.mkdir(parents=True, exist_ok=True)
    if not (dagster_home / "dagster.yaml").exists():  # an empty config: Dagster's defaults, no warning
        (dagster_home / "dagster.yaml").write_text("# Dagster instance of `make demo` / `make ui` (defaults: SQLite here)\n")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    os_url = (args.opensearch_url or os.environ.get("OPENSEARCH_URL") or DEFAULT_OPENSEARCH_URL).rstrip("/")
    os.environ["OPENSEARCH_URL"] = os_url

    _say("slowlog-pipeline demo")
    _say(f"  sample estate : {_display(str(source_root))}")
    _say(f"  data root     : {_display(data_root)}")
    _say(f"  Dagster home  : {_display(str(dagster_home))}")
    if not source_root.is_dir():
        _say(f"ERROR: {source_root} is not a folder")
        return 1
    days = sample_days(source_root)
    if not days:
        _say(f"ERROR: no dated log files under {source_root}")
        return 1

    # -- 1. OpenSearch
    if args.no_opensearch:
        os_up, os_msg = False, "skipped (--no-opensearch)"
    else:
        _say("OpenSearch")
        os_up, os_msg = start_opensearch(os_url)
        _say(f"  {'OK' if os_up else 'NOT AVAILABLE'}: {os_msg}")
        if not os_up:
            _say("  -> continuing without it: the assets that need OpenSearch are skipped.")
            if args.require_opensearch:
                problems.append(f"OpenSearch: {os_msg}")

    # -- 2. the pipeline, in process
    warnings.filterwarnings("ignore", module="dagster")
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    warnings.filterwarnings("ignore", message=".*is currently in preview.*")
    import dagster as dg

    defs = _load_defs(args.definitions)

    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    skip_keys = set()
    if not os_up:
        skip_keys = {k for a in assets if "opensearch" in a.required_resource_keys for k in a.keys}
    log_source = (defs.resources or {}).get("log_source")
    instances = list(log_source.list_instances()) if log_source is not None else []
    engines = {i: log_source.engine_for(i) for i in instances} if log_source is not None else {}

    _say(f"Pipeline: {len(instances)} instances x {len(days)} days ({days[0]}..{days[-1]})")
    instance = dg.DagsterInstance.get()
    outcome = run_pipeline(defs, days, instance, skip_keys, quiet=not args.verbose)
    problems.extend(outcome["failures"])

    # -- 3. the report
    from dagster_project import warehouse

    summary = warehouse_summary(days, instances, engines)
    root = summary["root"]
    if summary["events"] == 0:
        problems.append("no events were ingested")
    _say()
    _say("=" * 100)
    _say(f"Ingested {summary['events']} events in {summary['classes']} query classes "
         f"({summary['rejected']} rejected), {len(days)} days, {len(instances)} instances")
    for name, row in summary["per_instance"].items():
        _say(f"  {name:<16} {row['engine']:<9} {row['files']:>3} files {row['events']:>7} events "
             f"{row['classes']:>4} classes {row['rejected']:>4} rejected")
    _say()
    _say(f"Top {len(summary['top'])} query classes by total time ({days[0]}..{days[-1]}; literals redacted):")
    for rank, r in enumerate(summary["top"], 1):
        _say(f"  {rank}. {_fmt_s(r['query_time_sum']):>10} {r['count']:>6} calls  {r['instance']:<15} {r['fingerprint']}")

    if any(k.to_user_string() == "query_regressions" for a in assets for k in a.keys):
        regs = regressions_of(days[-1])
        _say()
        _say(f"Regressions on {days[-1]} vs the trailing days: {len(regs)}")
        for r in sorted(regs, key=lambda r: -(r.get("query_time_sum") or 0.0))[:5]:
            kind = r.get("kind") or ""
            ratio = r.get("p95_ratio") if "p95" in kind else r.get("total_ratio")
            detail = f" x{ratio:.0f}" if isinstance(ratio, (int, float)) and ratio == ratio and kind != "new" else ""
            _say(f"  {kind + detail:<22} {r.get('instance', ''):<15} {_short(r.get('fingerprint') or '', 70)}")

    checks = outcome["checks"]
    if checks:
        passed = sum(1 for c in checks if c.passed)
        _say()
        _say(f"Asset checks: {passed}/{len(checks)} passed")
        for c in checks:
            if not c.passed:
                _say(f"  FAILED {c.asset_key.to_user_string()}:{c.check_name}")

    _say()
    _say("Files:")
    for table in (warehouse.EVENTS_TABLE, warehouse.DIGEST_TABLE, warehouse.DB_LOAD_TABLE):
        _say(f"  Parquet  {_display(warehouse.table_dir(table, root))}/date=YYYY-MM-DD/...")
    pngs = snapshot_pngs(root)
    if pngs:
        last = max(pngs)
        _say(f"  PNGs     {_display(root.path('snapshots'))}/date=YYYY-MM-DD/*.png ({sum(map(len, pngs.values()))} "
             f"files, {len(pngs)} days); {last}: {', '.join(pngs[last])}")
    else:
        _say("  PNGs     none written")

    _say()
    if os_up:
        search = (defs.resources or {}).get("opensearch")
        list_url = (list(getattr(search, "hosts", None) or []) or [os_url])[0].rstrip("/")
        pattern = f"{getattr(search, 'index_prefix', None) or 'slowlog-digest-'}*"
        try:
            indices = opensearch_indices(list_url, pattern)
            _say(f"OpenSearch {list_url}: {len(indices)} indices {pattern}")
            for name, count in indices:
                _say(f"  {name:<36} {count:>6} docs")
            if not indices and any("opensearch" in a.required_resource_keys for a in assets):
                problems.append(f"OpenSearch is up but no {pattern} index was written")
        except (OSError, ValueError) as exc:
            _say(f"OpenSearch {list_url}: could not list indices: {exc}")
    else:
        _say(f"OpenSearch: {os_msg}; nothing published.")

    if os.environ.get("SLACK_BOT_TOKEN") and os.environ.get("SLACK_CHANNEL_ID"):
        slack = [m for m in outcome["materializations"].get("slack_report", [])]
        if slack:
            meta = slack[-1].metadata
            status = getattr(meta.get("slack_status"), "value", meta.get("slack_status"))
            reason = getattr(meta.get("slack_reason"), "value", meta.get("slack_reason"))
            _say(f"Slack: {status} ({reason})")
        else:
            _say("Slack: nothing sent (no slack_report materialization in this run)")

    _say()
    _say("Runs:")
    for r in outcome["runs"]:
        _say(f"  {r['label']:<24} {'success' if r['success'] else 'FAILED':<8} {r['seconds']:>6.1f} s  run {r['run_id']}")
    _say(f"Dagster UI: `make ui`, then open http://127.0.0.1:3000 (Assets, Runs; DAGSTER_HOME={_display(str(dagster_home))})")
    _say(f"Done in {time.monotonic() - started:.0f} s.")
    if problems:
        _say()
        _say("FAILED steps:")
        for p in problems:
            _say(f"  - {p}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
