"""The `slowlog` console script: the core's commands (dagster_project/slowlog/cli.py: digest, parse)
plus ``fetch``, which downloads raw logs through the package's log sources (boto3, not Dagster).

Kept outside ``slowlog/`` so that the pure core imports nothing of the package around it.
"""
from __future__ import annotations

import json
import sys
from datetime import date

from dagster_project.slowlog import cli as core


def add_fetch(sub) -> None:
    """``slowlog fetch rds|cloudwatch ...`` on the core's subparsers."""
    f = sub.add_parser("fetch", help="download raw slow logs (RDS API or CloudWatch Logs)")
    fsub = f.add_subparsers(dest="provider", metavar="SOURCE", required=True)
    r = fsub.add_parser("rds", help="DescribeDBLogFiles + DownloadDBLogFilePortion (full Marker loop)")
    r.add_argument("--instance", required=True, metavar="ID")
    r.add_argument("--date", metavar="YYYY-MM-DD",
                   help="UTC day (default: every slow-log file the instance has now)")
    c = fsub.add_parser("cloudwatch", help="FilterLogEvents on /aws/rds/instance/<id>/slowquery")
    c.add_argument("--log-group", required=True, metavar="G")
    c.add_argument("--date", required=True, metavar="YYYY-MM-DD")
    for sp in (r, c):
        sp.add_argument("--out", required=True, metavar="DIR")
        sp.add_argument("--region", default=None)
        sp.add_argument("--endpoint-url", default=None, help="e.g. a local endpoint for tests")
        sp.add_argument("--max-attempts", type=int, default=10, help="retries on throttling")
        sp.set_defaults(func=cmd_fetch)


add_fetch.usage = ("  slowlog fetch rds --instance db-1 --date 2026-11-24 --out raw/\n"
                   "                                                download a day's slow logs from RDS, byte-identical\n")

EXTENSIONS = (add_fetch,)


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise core.CliError(f"--date {text!r}: expected YYYY-MM-DD") from None


def cmd_fetch(args) -> int:
    from dagster_project.sources import fetch as fetch_mod

    day = _parse_day(args.date) if getattr(args, "date", None) else None
    if args.provider == "rds":
        try:
            results = fetch_mod.fetch_rds(args.instance, day, args.out, region=args.region,
                                          endpoint_url=args.endpoint_url, max_attempts=args.max_attempts)
        except fetch_mod.NoFilesForDay as e:
            print(f"slowlog: {e}", file=sys.stderr)  # a day without files is no error: say which have some
            results = []
    else:
        results = fetch_mod.fetch_cloudwatch(args.log_group, day, args.out, region=args.region,
                                             endpoint_url=args.endpoint_url)
    out = [{"path": str(r.path), "bytes": r.bytes, "portions": r.portions, "retries": r.retries,
            "truncated_markers": r.truncated_markers} for r in results]
    json.dump({"files": out}, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


def build_parser():
    return core.build_parser(EXTENSIONS)


def main(argv: list[str] | None = None) -> int:
    return core.main(argv, EXTENSIONS)


def run() -> None:
    core.run(EXTENSIONS)


if __name__ == "__main__":
    run()
