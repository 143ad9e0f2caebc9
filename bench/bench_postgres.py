"""PostgreSQL part of `make bench`: whole-process `slowlog digest` against pgBadger on the same log.

1. Captures a REAL PostgreSQL 15 log with RDS's log_line_prefix ('%t:%r:%u@%d:[%p]:') from a private
   server (log_min_duration_statement=0; pgbench in simple, extended and prepared protocol), cached
   under .bench/; the ~BENCH_PG_MB (default 100) log is that capture repeated (rotated files of the
   same workload).
2. Times `slowlog digest` and pgBadger (single process and `-j 2`, the fair comparison on 2 cores) on
   it; prints MB/s and both ratios (target: >= 20x pgBadger, >= 60 MB/s). Ours is the best of
   BENCH_PG_REPEAT (default 3) runs (a second or so each, so a busy machine's noise shows less than
   on pgBadger's half-minute runs); the same digest without the C accelerator (the pure-Python path,
   what a machine without a compiler runs) is timed once for comparison, and must count the same
   events.
3. Peak memory (PSS of the process tree) of `slowlog digest` on the log and on one twice its size
   (memory must stay flat in the input size).
4. Parity: queries counted by both (pgBadger's queries_number, our events + log_statement pairs).

Run alone: `.venv/bin/python bench/bench_postgres.py`; results in .bench/results-postgres.json.
Environment: BENCH_PG_REAL_MB (default 25), BENCH_PG_MB (default 100), BENCH_PG_REPEAT (default 3),
BENCH_SKIP_PGBADGER=1, BENCH_SKIP_PURE_PYTHON=1.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench import OUT, SLOWLOG, repeated, timed  # noqa: E402
from tests.support.postgres import RDS_PREFIX, PostgreSQL  # noqa: E402

# `slowlog` as a machine without a compiler runs it: the C accelerator made unimportable
PURE_PYTHON = [str(REPO / ".venv" / "bin" / "python"), "-c",
               "import sys; sys.modules['dagster_project.slowlog._speedups'] = None; "
               "from dagster_project.slowlog.cli import run; sys.argv[0] = 'slowlog'; run()"]


def capture_pg_log(target_mb: int) -> Path:
    log = OUT / f"postgres-real-{target_mb}mb.log"
    if log.exists() and log.stat().st_size >= target_mb * 1e6 * 0.95:
        return log
    print(f"capturing a real ~{target_mb} MB PostgreSQL log (one-time, cached in {log}) ...", flush=True)
    with PostgreSQL(prefix=RDS_PREFIX) as pg:
        pg.psql("CREATE DATABASE bench", check=True)
        pg.pgbench("-i", "-s", "2", "bench")
        modes = ("simple", "extended", "prepared")
        k = 0
        while pg.log_path.stat().st_size < target_mb * 1e6:
            pg.pgbench("-M", modes[k % 3], "-c", "2", "-t", "2000", "bench")
            k += 1
            print(f"  {pg.log_path.stat().st_size / 1e6:7.1f} MB", flush=True)
        pg.stop()
        shutil.copyfile(pg.log_path, log)
    return log


def main() -> int:
    OUT.mkdir(exist_ok=True)
    real = capture_pg_log(int(os.environ.get("BENCH_PG_REAL_MB", "25")))
    target = int(os.environ.get("BENCH_PG_MB", "100"))
    log = repeated(real, target, "pg")
    double = repeated(real, 2 * target, "pg2")
    size = log.stat().st_size
    results: dict = {"cpus": os.cpu_count(), "log": str(log), "log_bytes": size}
    ours_json = OUT / "slowlog-postgres.json"
    digest_args = ["digest", "--compact", "-q", "--engine", "postgres"]
    runs = []
    for _ in range(max(1, int(os.environ.get("BENCH_PG_REPEAT", "3")))):
        run_wall, run_pss, rc = timed(SLOWLOG + digest_args + [str(log)], ours_json)
        assert rc == 0, "slowlog digest failed"
        runs.append((run_wall, run_pss))
    wall, pss = min(runs)
    wall2, pss2, _ = timed(SLOWLOG + digest_args + [str(double)])
    results["slowlog"] = {"seconds": wall, "mb_per_s": size / wall / 1e6, "peak_pss_mb": pss / 1e6,
                          "peak_pss_mb_twice_the_input": pss2 / 1e6, "runs_seconds": [w for w, _ in runs]}
    print(f"[postgres] {size / 1e6:.0f} MB, RDS prefix {RDS_PREFIX}", flush=True)
    print(f"  slowlog digest   : {wall:7.2f} s  {size / wall / 1e6:7.1f} MB/s  peak PSS {pss / 1e6:.0f} MB "
          f"({2 * size / 1e6:.0f} MB log: {pss2 / 1e6:.0f} MB, {wall2:.1f} s)  best of {len(runs)}: "
          + ", ".join(f"{w:.2f}" for w, _ in runs), flush=True)
    ours = json.loads(ours_json.read_text())
    if not os.environ.get("BENCH_SKIP_PURE_PYTHON"):
        pure_json = OUT / "slowlog-postgres-pure-python.json"
        pw, ppss, prc = timed(PURE_PYTHON + digest_args + [str(log)], pure_json)
        assert prc == 0, "pure-Python slowlog digest failed"
        pure = json.loads(pure_json.read_text())
        results["slowlog_pure_python"] = {"seconds": pw, "mb_per_s": size / pw / 1e6, "peak_pss_mb": ppss / 1e6,
                                          "events": pure["events"]}
        print(f"  without C (pure Python): {pw:7.2f} s  {size / pw / 1e6:7.1f} MB/s  ({pw / wall:.1f}x slower; "
              f"events {pure['events']} vs {ours['events']})", flush=True)
        assert pure["events"] == ours["events"] and pure["rejected"] == ours["rejected"], "C and Python paths disagree"
        counts = {c["checksum"]: c["count"] for c in ours["classes"]}
        assert counts == {c["checksum"]: c["count"] for c in pure["classes"]}, "C and Python paths: other classes"
    if not os.environ.get("BENCH_SKIP_PGBADGER") and shutil.which("pgbadger"):
        for jobs in (1, 2):
            out = OUT / f"pgbadger-j{jobs}.json"
            cmd = ["pgbadger", "-q", "-f", "stderr", "--prefix", RDS_PREFIX, "-j", str(jobs), "-x", "json", "-o",
                   str(out), str(log)]
            bw, bpss, brc = timed(cmd)
            assert brc == 0, "pgbadger failed"
            report = json.loads(out.read_text())
            queries = report["overall_stat"]["postgres"]["queries_number"]
            results[f"pgbadger_j{jobs}"] = {"seconds": bw, "mb_per_s": size / bw / 1e6, "peak_pss_mb": bpss / 1e6,
                                            "queries": queries, "speedup": bw / wall}
            print(f"  pgbadger -j {jobs}    : {bw:7.2f} s  {size / bw / 1e6:7.1f} MB/s  -> slowlog is "
                  f"{bw / wall:5.1f}x faster (target >= 20x)", flush=True)
        results["parity"] = {"slowlog_events": ours["events"], "pgbadger_queries": results["pgbadger_j1"]["queries"]}
        print(f"  queries          : slowlog {ours['events']} events, pgBadger {results['pgbadger_j1']['queries']}")
    print(f"  target           : >= 60 MB/s on 2 cores: {'met' if size / wall / 1e6 >= 60 else 'NOT met'}")
    (OUT / "results-postgres.json").write_text(json.dumps(results, indent=1))
    print(f"results: {OUT / 'results-postgres.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
