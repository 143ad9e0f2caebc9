"""`slowlog`: digest and parse slow logs from the command line (no Dagster needed).

The core knows nothing of the package around it: commands that need more than the core (``fetch``:
boto3 and the log sources) are added by ``dagster_project/cli.py``, which is what the ``slowlog``
console script runs, through ``build_parser(extensions)``."""
from __future__ import annotations

import argparse
import json
import os
import sys

from .engines import ENGINES

DESCRIPTION = """\
Slow-query logs in, pt-query-digest-grade answers out.

  slowlog digest mysql-slowquery.log            top query classes as JSON
  slowlog digest --format table slow.log.gz     a profile for people (top classes by total time)
  slowlog parse slow.log --out data/events --instance db-1
                                                events as hive-partitioned Parquet
{more}
Engines: MySQL/MariaDB/Percona/Aurora slow logs, PostgreSQL log_min_duration_statement logs,
Redis/ElastiCache/MemoryDB slow logs (JSON). Files may be gzip- or bzip2-compressed; '-' reads stdin.

Nothing is dropped silently: damaged compressed input (cut short, junk, corrupt bytes) keeps every
event it holds, and a file that lost data, hit the decompression limit or held nothing recognisable
is named on stderr with exit code 1 (the report still counts everything read); 2 is a bad path or option.
"""


class CliError(Exception):
    """Reported as one line on stderr, exit code 2."""


#: exit code when a file lost data (compressed input damaged or over the decompression limit, or
#: nothing in it recognised): the output still holds every event that could be read
EXIT_INPUT_LOST = 1
#: a file whose rejected bytes pass this share of its bytes is named on stderr (the pipeline's
#: ``rejected_ratio`` check has the same default)
WARN_REJECTED_SHARE = 0.01


def _decompression_limit(args):
    from .decompress import DecompressionLimit, LimitSettingError

    try:
        return DecompressionLimit.resolve(args.max_expansion_ratio, args.max_decompressed_bytes)
    except LimitSettingError as exc:
        raise CliError(str(exc)) from None


def report_losses(name: str, stats) -> bool:
    """One line on stderr per problem of one file (compressed data lost, most or all of it
    rejected); True when data was lost (the exit code says so)."""
    for line in stats.input_errors:
        sys.stderr.write(f"slowlog: {name}: {line}; {stats.events} events read\n")
    if stats.input_errors:
        return True  # those lines explain the rest (a bomb's zeros rejected, say)
    if stats.bytes_total and stats.rejected_bytes and not stats.events:
        sys.stderr.write(f"slowlog: {name}: nothing recognised as a {stats.engine or 'slow log'} entry: "
                         f"{stats.rejected_bytes} of {stats.bytes_total} bytes rejected (wrong --engine, or not "
                         f"a slow log?)\n")
        return True
    if stats.bytes_total and stats.rejected_bytes > WARN_REJECTED_SHARE * stats.bytes_total:
        share = 100.0 * stats.rejected_bytes / stats.bytes_total
        sys.stderr.write(f"slowlog: warning: {name}: {stats.rejected_bytes} of {stats.bytes_total} bytes "
                         f"({share:.1f}%) rejected in {stats.rejected} pieces\n")
    return False


def _check_readable(paths: list[str]) -> None:
    for p in paths:
        if p == "-":
            continue
        if not os.path.exists(p):
            raise CliError(f"{p}: no such file")
        if os.path.isdir(p):
            raise CliError(f"{p}: is a directory")
        if not os.access(p, os.R_OK):
            raise CliError(f"{p}: permission denied")


class _Progress:
    """A byte-based progress bar on stderr, only when stderr is a terminal and the input is big."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = max(total, 1)
        self.enabled = enabled and total > (16 << 20)
        self.done = 0
        self._last = -1

    def advance(self, n: int) -> None:
        if not self.enabled:
            return
        self.done += n
        pct = int(self.done * 100 / self.total)
        if pct != self._last:
            self._last = pct
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\r[{bar:<25}] {pct:3d}%  {self.done / 1e6:8.1f} / {self.total / 1e6:.1f} MB")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


class _CountingReader:
    def __init__(self, f, progress: _Progress) -> None:
        self._f = f
        self._p = progress
        self.name = getattr(f, "name", "<stream>")

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._p.advance(len(data))
        return data

    def peek(self, n: int = 0) -> bytes:
        return self._f.peek(n)

    def close(self) -> None:
        self._f.close()


def _iter_sources(paths: list[str], progress: _Progress):
    import io

    for p in paths:
        if p == "-":
            yield p, p
            continue
        f = open(p, "rb")
        yield _CountingReader(io.BufferedReader(f, buffer_size=1 << 20), progress), p


def cmd_digest(args) -> int:
    from .digest import Digest
    from .parallel import digest_file_parallel, parallel_ok
    from .parse import parse_log

    _check_readable(args.files)
    limit = _decompression_limit(args)
    total = sum(os.path.getsize(p) for p in args.files if p != "-")
    progress = _Progress(total, sys.stderr.isatty() and not args.quiet)
    try:
        digest = Digest(max_classes=args.max_classes)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    per_file = []  # (name, ParseStats)
    workers = args.jobs if args.jobs else (os.cpu_count() or 1)
    serial = []
    for name in args.files:
        if parallel_ok(name, workers):
            part, stats = digest_file_parallel(name, workers=workers, engine=args.engine,
                                               max_classes=digest.max_classes)
            digest.merge(part)
            per_file.append((name, stats))
            progress.advance(os.path.getsize(name))
        else:
            serial.append(name)
    for source, name in _iter_sources(serial, progress):
        parsed = parse_log(source, engine=args.engine, source_file=os.path.basename(name), limit=limit)
        try:
            for batch in parsed:
                digest.add(batch)
        finally:
            if hasattr(source, "close") and name != "-":
                source.close()
        per_file.append((name, parsed.stats))
    progress.close()
    events = sum(stats.events for _, stats in per_file)
    rejected = sum(stats.rejected for _, stats in per_file)
    lost = [report_losses(name, stats) for name, stats in per_file]
    classes = digest.classes()
    overflow = digest.overflow_entry()  # the events of the classes past --max-classes
    # the server's counts of statements it did not log: valid records, not events (engines/mysql_throttle.py)
    summarised = [stats for _, stats in per_file if stats.throttled_summaries]
    throttled = summarised and {"entries": sum(s.throttled_summaries for s in summarised),
                                "suppressed": sum(s.throttled_suppressed for s in summarised),
                                "query_time": round(sum(s.throttled_query_time for s in summarised), 6)}
    if args.format == "json":
        totals = {"events": events, "rejected": rejected,
                  "rejected_bytes": sum(stats.rejected_bytes for _, stats in per_file)}
        if any(stats.lost_bytes or stats.input_errors for _, stats in per_file):
            totals["lost_compressed_bytes"] = sum(stats.lost_bytes for _, stats in per_file)
        if throttled:
            totals["throttled_summaries"] = throttled
        json.dump({**totals, "classes": classes, **({"overflow": overflow} if overflow else {})}, sys.stdout,
                  separators=(",", ":") if args.compact else None, indent=None if args.compact else 1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_table(classes + [overflow] * bool(overflow), events, rejected, limit=args.limit,
                                      width=args.width))
        if throttled:
            sys.stdout.write(f"# not events: {throttled['entries']} throttle summaries of {throttled['suppressed']} "
                             f"statements the server did not log ({_fmt_time(throttled['query_time'])})\n")
    return EXIT_INPUT_LOST if any(lost) else 0


def _fmt_time(seconds: float) -> str:
    if seconds >= 100:
        return f"{seconds:.0f}s"
    if seconds >= 1:
        return f"{seconds:.2f}s"
    if seconds >= 0.001:
        return f"{seconds * 1e3:.0f}ms"
    return f"{seconds * 1e6:.0f}us"


def format_table(classes: list[dict], events: int, rejected: int, limit: int = 20, width: int = 100) -> str:
    """pt-query-digest's profile: rank, checksum, total time and share, calls, R/call, class."""
    total_time = sum(c["query_time"]["sum"] for c in classes) or 1.0
    lines = [
        f"# {events} events, {len(classes)} classes, {rejected} rejected; "
        f"total query time {_fmt_time(total_time if classes else 0.0)}",
        "# Rank  Query ID            Response time    Calls   R/Call     p95  Class",
        "# ====  ================== ============== ======= ======== =======  " + "=" * max(5, width - 69),
    ]
    for rank, c in enumerate(classes[:limit], 1):
        qt = c["query_time"]
        share = 100.0 * qt["sum"] / total_time
        head = (f"# {rank:>4}  0x{c['checksum'][:16]} {_fmt_time(qt['sum']):>7} {share:5.1f}% "
                f"{c['count']:>7} {_fmt_time(qt['avg']):>8} {_fmt_time(qt['p95']):>7}  ")
        room = max(10, width - len(head))
        fp = " ".join(c["fingerprint"].split())
        lines.append(head + (fp if len(fp) <= room else fp[: room - 3] + "..."))
    if len(classes) > limit:
        rest = classes[limit:]
        rest_time = sum(c["query_time"]["sum"] for c in rest)
        lines.append(f"# MISC  0xMISC             {_fmt_time(rest_time):>7} {100.0 * rest_time / total_time:5.1f}% "
                     f"{sum(c['count'] for c in rest):>7}                   <{len(rest)} more classes>")
    return "\n".join(lines) + "\n"


def cmd_parse(args) -> int:
    from .parse import parse_log
    from .writer import write_events

    _check_readable(args.files)
    limit = _decompression_limit(args)
    total = sum(os.path.getsize(p) for p in args.files if p != "-")
    progress = _Progress(total, sys.stderr.isatty() and not args.quiet)
    summary = []
    lost = False
    for source, name in _iter_sources(args.files, progress):
        parsed = parse_log(source, instance=args.instance, engine=args.engine, source_file=os.path.basename(name),
                           limit=limit)
        try:
            written = write_events(parsed, args.out, instance=args.instance or "unknown")
        finally:
            if hasattr(source, "close") and name != "-":
                source.close()
        summary.append({**parsed.stats.as_dict(), "written": written})
        lost = report_losses(name, parsed.stats) or lost
    progress.close()
    json.dump({"files": summary}, sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")
    return EXIT_INPUT_LOST if lost else 0


def _limit_arguments(p: argparse.ArgumentParser) -> None:
    from .decompress import DEFAULT_MAX_DECOMPRESSED_BYTES, DEFAULT_MAX_EXPANSION_RATIO, DEFAULT_RATIO_FLOOR_BYTES

    p.add_argument("--max-expansion-ratio", metavar="R", default=None,
                   help=f"compressed input: stop a file whose output passes R x its compressed bytes, once past "
                        f"{DEFAULT_RATIO_FLOOR_BYTES >> 20} MiB (default $SLOWLOG_MAX_EXPANSION_RATIO or "
                        f"{DEFAULT_MAX_EXPANSION_RATIO:g}; 0 = none)")
    p.add_argument("--max-decompressed-bytes", metavar="N", default=None,
                   help=f"compressed input: stop a file past N decompressed bytes (K/M/G suffixes; default "
                        f"$SLOWLOG_MAX_DECOMPRESSED_BYTES or {DEFAULT_MAX_DECOMPRESSED_BYTES >> 30}G; 0 = none)")


def build_parser(extensions: tuple = ()) -> argparse.ArgumentParser:
    """The core's commands (digest, parse); each of `extensions` adds more to the subparsers."""
    more = "".join(getattr(extend, "usage", "") for extend in extensions)
    p = argparse.ArgumentParser(prog="slowlog", description=DESCRIPTION.format(more=more),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    engines = ["auto", *ENGINES]

    d = sub.add_parser("digest", help="aggregate query classes (pt-query-digest's profile)",
                       description="Group events by query fingerprint (pt-query-digest-compatible checksum) "
                                   "and report count, total/min/max/avg/p50/p95/p99/stddev per class.")
    d.add_argument("files", nargs="+", metavar="FILE", help="slow log(s); gzip detected; '-' = stdin")
    d.add_argument("--format", choices=["json", "table"], default="json", help="json (default) or table")
    d.add_argument("--engine", choices=engines, default="auto", help="log format (default: detect)")
    d.add_argument("--limit", type=int, default=20, help="table: classes to show (default 20)")
    d.add_argument("--width", type=int, default=100, help="table: line width (default 100)")
    d.add_argument("--compact", action="store_true", help="json: no indentation")
    d.add_argument("-j", "--jobs", type=int, default=0, help="worker processes for big files (default: all cores)")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    d.add_argument("--max-classes", metavar="N", default=None,
                   help="keep at most N classes, the others' events in an \"overflow\" (default "
                        "$SLOWLOG_MAX_CLASSES or 10000; 0 = no cap)")
    _limit_arguments(d)
    d.set_defaults(func=cmd_digest)

    pa_ = sub.add_parser("parse", help="write events as hive-partitioned Parquet",
                         description="Parse slow logs into Parquet under DIR/date=YYYY-MM-DD/instance=ID/. "
                                     "Re-running replaces the same files (idempotent).")
    pa_.add_argument("files", nargs="+", metavar="FILE")
    pa_.add_argument("--out", required=True, metavar="DIR")
    pa_.add_argument("--instance", default=None, metavar="ID", help="instance id stored with each event")
    pa_.add_argument("--engine", choices=engines, default="auto")
    pa_.add_argument("-q", "--quiet", action="store_true")
    _limit_arguments(pa_)
    pa_.set_defaults(func=cmd_parse)

    for extend in extensions:  # commands of the package around the core (dagster_project/cli.py: fetch)
        extend(sub)
    return p


def _lean_memory_pool() -> None:
    # jemalloc returns freed batch memory sooner than the default mimalloc: a lower, flat RSS.
    try:
        import pyarrow as pa

        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except (ImportError, NotImplementedError, AttributeError):
        pass


def main(argv: list[str] | None = None, extensions: tuple = ()) -> int:
    _lean_memory_pool()
    parser = build_parser(extensions)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .parse import InputError

    try:
        return args.func(args)
    except (CliError, InputError) as exc:
        sys.stderr.write(f"slowlog: error: {exc}\n")
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("slowlog: interrupted\n")
        return 130
    except Exception as exc:  # one line, no traceback; SLOWLOG_DEBUG=1 shows it
        if os.environ.get("SLOWLOG_DEBUG"):
            raise
        sys.stderr.write(f"slowlog: error: {type(exc).__name__}: {exc}\n")
        return 1


class _NoPandas:
    """pyarrow imports pandas on its first array conversion (0.3 s, 60 MB) only to check for it;
    the CLI never needs it, so the import fails fast and pyarrow carries on without it."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("not needed by the slowlog CLI", name=name)
        return None


def run(extensions: tuple = ()) -> None:
    """Console-script entry: exit without running C++ static destructors, which can race with
    Arrow's thread pool at interpreter shutdown ("terminate called without an active exception")."""
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _NoPandas)
    # numpy's OpenBLAS starts a thread per core that spins while idle; the CLI never multiplies
    # matrices, and the spinning threads would steal the cores the digest workers run on.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # The hot loop allocates millions of small tuples and creates no reference cycles: the cyclic
    # GC would only re-scan them (measured: ~10% of a digest). Refcounting still frees everything.
    import gc

    gc.disable()
    code = main(None, extensions)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    os._exit(code)


if __name__ == "__main__":
    run()
