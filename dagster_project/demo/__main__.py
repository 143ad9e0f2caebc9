"""The demo's command line: where things are, then OpenSearch, the runs and the report, in that
order (``python -m dagster_project.demo --help``)."""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import dagster as dg

import dagster_project.demo as demo
from dagster_project.demo import REPO_ROOT, SAMPLE_ROOT, node, report, run
from dagster_project.demo.report import display_path, say


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dagster_project.demo", description=demo.__doc__.split("\n\n")[0])
    p.add_argument("--data-root", help="data root (default $SLOWLOG_DATA_ROOT or ./data)")
    p.add_argument("--source-root", help="local estate (default $SLOWLOG_SOURCE_ROOT or the bundled sample)")
    p.add_argument("--opensearch-url", help=f"default $OPENSEARCH_URL or {node.DEFAULT_OPENSEARCH_URL}")
    p.add_argument("--no-opensearch", action="store_true", help="do not start/use OpenSearch (skip publishing)")
    p.add_argument("--require-opensearch", action="store_true", help="fail when OpenSearch cannot be used")
    p.add_argument("--definitions", default="dagster_project.definitions:defs", metavar="MODULE:ATTR",
                   help="the Definitions to materialize (default dagster_project.definitions:defs)")
    p.add_argument("--verbose", action="store_true", help="show Dagster's INFO logs")
    return p


def _set_environment(args: argparse.Namespace) -> tuple[str, Path, Path, str]:
    """(data root, source root, Dagster home, OpenSearch URL), exported to the environment: the
    definitions' resources and Dagster's instance read them from there, so this runs BEFORE the
    definitions are imported."""
    data_root = args.data_root or os.environ.get("SLOWLOG_DATA_ROOT") or "./data"
    if "://" not in data_root:
        data_root = os.path.abspath(data_root)
    source_root = Path(args.source_root or os.environ.get("SLOWLOG_SOURCE_ROOT") or SAMPLE_ROOT).resolve()
    os.environ["SLOWLOG_DATA_ROOT"] = data_root
    os.environ["SLOWLOG_SOURCE_ROOT"] = str(source_root)
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or REPO_ROOT / ".dagster_home").resolve()
    dagster_home.mkdir(parents=True, exist_ok=True)
    if not (dagster_home / "dagster.yaml").exists():  # an empty config: Dagster's defaults, no warning
        (dagster_home / "dagster.yaml").write_text(
            "# Dagster instance of `make demo` / `make ui` (defaults: SQLite here)\n")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    os_url = (args.opensearch_url or os.environ.get("OPENSEARCH_URL") or node.DEFAULT_OPENSEARCH_URL).rstrip("/")
    os.environ["OPENSEARCH_URL"] = os_url
    return data_root, source_root, dagster_home, os_url


def _opensearch(args: argparse.Namespace, os_url: str, problems: list[str]) -> tuple[bool, str]:
    """(up, message); a node that cannot be used is a problem only with ``--require-opensearch``."""
    if args.no_opensearch:
        return False, "skipped (--no-opensearch)"
    say("OpenSearch")
    os_up, os_msg = node.start_opensearch(os_url)
    say(f"  {'OK' if os_up else 'NOT AVAILABLE'}: {os_msg}")
    if not os_up:
        say("  -> continuing without it: the assets that need OpenSearch are skipped.")
        if args.require_opensearch:
            problems.append(f"OpenSearch: {os_msg}")
    return os_up, os_msg


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    problems: list[str] = []

    data_root, source_root, dagster_home, os_url = _set_environment(args)
    say("slowlog-pipeline demo")
    say(f"  sample estate : {display_path(str(source_root))}")
    say(f"  data root     : {display_path(data_root)}")
    say(f"  Dagster home  : {display_path(str(dagster_home))}")
    if not source_root.is_dir():
        say(f"ERROR: {source_root} is not a folder")
        return 1
    days = run.sample_days(source_root)
    if not days:
        say(f"ERROR: no dated log files under {source_root}")
        return 1

    os_up, os_msg = _opensearch(args, os_url, problems)

    # the pipeline, in process; Dagster's beta / preview notices are not the demo's business
    warnings.filterwarnings("ignore", module="dagster")
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    warnings.filterwarnings("ignore", message=".*is currently in preview.*")
    defs = run.load_definitions(args.definitions)
    assets = run.assets_of(defs)
    needs_opensearch = [a for a in assets if "opensearch" in a.required_resource_keys]
    skip_keys = set() if os_up else {k for a in needs_opensearch for k in a.keys}
    log_source = (defs.resources or {}).get("log_source")
    instances = list(log_source.list_instances()) if log_source is not None else []
    engines = {i: log_source.engine_for(i) for i in instances} if log_source is not None else {}

    say(f"Pipeline: {len(instances)} instances x {len(days)} days ({days[0]}..{days[-1]})")
    outcome = run.run_pipeline(defs, days, dg.DagsterInstance.get(), skip_keys, quiet=not args.verbose)
    problems.extend(outcome.failures)

    # the report
    summary = report.warehouse_summary(days, instances, engines)
    if summary["events"] == 0:
        problems.append("no events were ingested")
    report.print_ingested(summary, days, instances)
    if any(k.to_user_string() == "query_regressions" for a in assets for k in a.keys):
        report.print_regressions(days[-1])
    report.print_checks(outcome.checks)
    report.print_files(summary["root"])

    say()
    if os_up:
        search = (defs.resources or {}).get("opensearch")
        # the node the resource writes to (its first host), which may differ from the one started
        list_url = (list(getattr(search, "hosts", None) or []) or [os_url])[0].rstrip("/")
        pattern = f"{getattr(search, 'index_prefix', None) or 'slowlog-digest-'}*"
        problems.extend(report.print_opensearch_indices(list_url, pattern, expect_indices=bool(needs_opensearch)))
    else:
        say(f"OpenSearch: {os_msg}; nothing published.")
    if os.environ.get("SLACK_BOT_TOKEN") and os.environ.get("SLACK_CHANNEL_ID"):
        report.print_slack(outcome.materializations.get("slack_report", []))

    report.print_runs(outcome.runs, dagster_home, time.monotonic() - started)
    if problems:
        report.print_problems(problems)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
