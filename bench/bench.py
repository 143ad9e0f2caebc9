"""`make bench`: speed, memory and parity of `slowlog digest` against pt-query-digest.

1. Captures a ~200 MB REAL slow log from a private MariaDB server (long_query_time=0, a varied
   workload; cached under .bench/ so later runs reuse it).
2. Times whole-process `slowlog digest` and `pt-query-digest` on it; prints MB/s and the ratio.
3. Peak memory (PSS of the whole process tree) of `slowlog digest` on a >= 1 GiB log.
4. Parity: events that both tools put in the same class (same checksum).

Capturing is slow on 2 cores (the server executes every statement), so the real capture is
BENCH_REAL_MB (default 50) and the ~BENCH_MB (default 200) log is that real log repeated (like
several rotated files of the same workload); both sizes are measured and reported.

5. PostgreSQL against pgBadger (bench/bench_postgres.py) and a fleet's day through Dagster against
   an RDS-shaped endpoint (bench/bench_fleet.py).

Environment: BENCH_REAL_MB, BENCH_MB, BENCH_GIB_COPIES (default: enough copies for 1 GiB), BENCH_SKIP_PT=1,
BENCH_SKIP_FLEET=1, BENCH_FLEET_INSTANCES / BENCH_FLEET_MB / BENCH_FLEET_LATENCY.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.mariadb import MariaDB, workload_sql  # noqa: E402

OUT = REPO / ".bench"
SLOWLOG = [str(REPO / ".venv" / "bin" / "slowlog")]


def capture_real_log(target_mb: int) -> Path:
    log = OUT / f"mariadb-real-{target_mb}mb.log"
    if log.exists() and log.stat().st_size >= target_mb * 1e6 * 0.95:
        return log
    for other in sorted(OUT.glob("mariadb-real-*mb.log"), key=lambda p: -p.stat().st_size):
        if other.stat().st_size >= target_mb * 1e6 * 0.95:
            return other
    work = OUT / "mariadb"
    shutil.rmtree(work, ignore_errors=True)
    print(f"capturing a real ~{target_mb} MB slow log from MariaDB (one-time, cached in {log}) ...", flush=True)
    with MariaDB(work) as db:
        seed = 0
        while db.slow_log.stat().st_size < target_mb * 1e6:
            seed += 1
            db.run_sql(workload_sql(50_000, seed=seed))
            print(f"  {db.slow_log.stat().st_size / 1e6:7.1f} MB", flush=True)
    shutil.move(str(db.slow_log), log)
    shutil.rmtree(work, ignore_errors=True)
    return log


def _tree_rss(pid: int, field: str = "Pss:") -> int:
    """Memory of a process and all its descendants, in bytes: PSS by default (pages shared by
    forked workers counted once, as the kernel accounts them), or "Rss:" (shared pages counted
    in every process)."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith(field):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def timed(cmd: list[str], stdout_path: Path | None = None, *, env: dict | None = None, cwd: Path | None = None,
          with_stderr: bool = False) -> tuple[float, int, int]:
    """Run cmd; return (wall seconds, peak tree PSS bytes, exit code). ``with_stderr``: stderr goes
    to ``stdout_path`` too (else it is discarded)."""
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT if with_stderr else subprocess.DEVNULL,
                            env=env, cwd=cwd)
    peak = 0

    def sample():
        nonlocal peak
        while proc.poll() is None:
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    rc = proc.wait()
    wall = time.perf_counter() - t0
    t.join()
    if stdout_path:
        out.close()
    return wall, peak, rc


def parity(ours_path: Path, pt_path: Path) -> tuple[int, int]:
    ours = {c["checksum"]: c["count"] for c in json.loads(ours_path.read_text())["classes"]}
    theirs = {c["checksum"]: c["query_count"] for c in json.loads(pt_path.read_text())["classes"]}
    total = sum(theirs.values())
    # events both tools put in the same class (checksum): a class whose counts differ by one still
    # has all its other events in agreement
    same = sum(min(n, ours.get(cs, 0)) for cs, n in theirs.items())
    return same, total


def repeated(real: Path, target_mb: int, name: str) -> Path:
    """``real`` repeated to about ``target_mb`` (like rotated files of one workload), cached in .bench/."""
    copies = max(1, round(target_mb * 1e6 / real.stat().st_size))
    out = OUT / f"{name}-{copies}x-{real.name}"
    if not out.exists() or out.stat().st_size != real.stat().st_size * copies:
        with open(out, "wb") as dst:
            for _ in range(copies):
                with open(real, "rb") as src:
                    shutil.copyfileobj(src, dst, 16 << 20)
    return out


def tiled(real: Path, target_mb: int) -> Path:
    return repeated(real, target_mb, "tiled")


def compare(log: Path, label: str, results: dict) -> None:
    size = log.stat().st_size
    entry: dict = {"log": str(log), "log_bytes": size}
    ours_json = OUT / f"slowlog-{label}.json"
    wall, rss, rc = timed(SLOWLOG + ["digest", "--compact", "-q", str(log)], ours_json)
    assert rc == 0, "slowlog digest failed"
    wall1, rss1, _ = timed(SLOWLOG + ["digest", "--compact", "-q", "-j", "1", str(log)])
    entry["slowlog"] = {"seconds": wall, "mb_per_s": size / wall / 1e6, "peak_pss_mb": rss / 1e6}
    entry["slowlog_1_core"] = {"seconds": wall1, "mb_per_s": size / wall1 / 1e6, "peak_pss_mb": rss1 / 1e6}
    print(f"[{label}] {size / 1e6:.0f} MB", flush=True)
    print(f"  slowlog digest   : {wall:7.2f} s  {size / wall / 1e6:7.1f} MB/s  (1 core: {wall1:.2f} s, "
          f"{size / wall1 / 1e6:.1f} MB/s)", flush=True)
    if not os.environ.get("BENCH_SKIP_PT") and shutil.which("pt-query-digest"):
        pt_json = OUT / f"pt-{label}.json"
        ptw, ptrss, ptrc = timed(["pt-query-digest", "--no-version-check", "--limit", "100%", "--output", "json",
                                  str(log)], pt_json)
        entry["pt_query_digest"] = {"seconds": ptw, "mb_per_s": size / ptw / 1e6, "peak_pss_mb": ptrss / 1e6}
        entry["speedup"] = ptw / wall
        same, total = parity(ours_json, pt_json)
        entry["parity"] = {"events_in_identical_classes": same, "events": total, "ratio": same / max(total, 1)}
        print(f"  pt-query-digest  : {ptw:7.2f} s  {size / ptw / 1e6:7.1f} MB/s", flush=True)
        print(f"  speed-up         : {ptw / wall:7.1f}x  (target >= 20x)")
        print(f"  parity           : {same}/{total} events in identical classes ({100 * same / max(total, 1):.2f}%)")
    results[label] = entry


def main() -> int:
    OUT.mkdir(exist_ok=True)
    real = capture_real_log(int(os.environ.get("BENCH_REAL_MB", "50")))
    results: dict = {"cpus": os.cpu_count()}
    compare(real, "real", results)
    log = tiled(real, int(os.environ.get("BENCH_MB", "200")))
    compare(log, "tiled", results)
    size = log.stat().st_size

    copies = int(os.environ.get("BENCH_GIB_COPIES", "0")) or -(-(1 << 30) // size)  # at least 1 GiB
    big = OUT / "gib.log"
    if not big.exists() or big.stat().st_size != size * copies:
        with open(big, "wb") as dst:
            for _ in range(copies):
                with open(log, "rb") as src:
                    shutil.copyfileobj(src, dst, 16 << 20)
    gw, grss, grc = timed(SLOWLOG + ["digest", "--compact", "-q", str(big)])
    results["gib"] = {"bytes": big.stat().st_size, "seconds": gw, "peak_pss_mb": grss / 1e6, "mb_per_s": big.stat().st_size / gw / 1e6}
    gw1, grss1, _ = timed(SLOWLOG + ["digest", "--compact", "-q", "-j", "1", str(big)])
    results["gib_1_core"] = {"seconds": gw1, "peak_pss_mb": grss1 / 1e6}
    print(f"1 GiB-class log  : {big.stat().st_size / 2**30:.2f} GiB in {gw:.1f} s, peak PSS {grss / 1e6:.0f} MB "
          f"(whole process tree, all cores); 1 core: {gw1:.1f} s, {grss1 / 1e6:.0f} MB (target < 400 MB)")
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    print(f"results: {OUT / 'results.json'}")
    import bench_postgres  # PostgreSQL against pgBadger (bench/bench_postgres.py)

    bench_postgres.main()
    if not os.environ.get("BENCH_SKIP_FLEET"):
        import bench_fleet  # a fleet's day through Dagster against an RDS-shaped endpoint

        bench_fleet.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
