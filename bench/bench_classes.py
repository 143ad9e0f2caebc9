"""Memory of `slowlog digest` on a log with very many distinct query classes (issue 25, item 4).

Generates a MySQL slow log (``.bench/classes-<N>.log``, cached) with N distinct table names (one
class each: generated names like ``tmp_report_abcd``, what logs with per-tenant / temporary tables
look like), plus a few heavy classes that appear only in the last tenth of the log (a class that
becomes heavy late must still be listed). Then runs ``slowlog digest --format json --jobs 1`` under
``/usr/bin/time -v`` (or psutil when that is missing) and prints peak RSS, wall time, the number of
listed classes and the overflow, and checks that every event is counted (classes + overflow).

Usage: ``python bench/bench_classes.py [N] [--max-classes M]`` (N defaults to 1,000,000; the
digest's default cap unless --max-classes is given; ``--max-classes 0`` = uncapped).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".bench"
SLOWLOG = str(REPO / ".venv" / "bin" / "slowlog")
HEAVY = 5  # late-heavy classes
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _name(i: int) -> str:
    """A table name without digits (a fingerprint replaces numbers in names, merging them)."""
    out = []
    for _ in range(5):
        i, r = divmod(i, 26)
        out.append(LETTERS[r])
    return "tmp_report_" + "".join(out)


def generate(n: int) -> Path:
    path = OUT / f"classes-{n}.log"
    if path.exists():
        return path
    OUT.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    late = n - n // 10
    with open(tmp, "w") as f:
        f.write("# Time: 2026-11-24T00:00:00.000000Z\n")
        for i in range(n):
            ts = 1795478400 + i * 86400 // n
            f.write(f"# User@Host: app[app] @ app-1 [10.0.0.1]\n# Query_time: 0.{1000 + i % 9000:06d}  "
                    f"Lock_time: 0.000010 Rows_sent: 1  Rows_examined: {i % 500}\nSET timestamp={ts};\n"
                    f"SELECT id, total FROM {_name(i)} WHERE id = {i};\n")
            if i >= late and i % 200 == 0:  # the late-heavy classes: 2 s a call
                h = (i // 200) % HEAVY
                f.write(f"# User@Host: app[app] @ app-1 [10.0.0.1]\n# Query_time: 2.000000  Lock_time: 0.000010 "
                        f"Rows_sent: 1  Rows_examined: 10\nSET timestamp={ts};\nSELECT * FROM late_heavy_{LETTERS[h]} "
                        f"WHERE id = {i};\n")
    tmp.rename(path)
    return path


def run(path: Path, max_classes: str | None) -> dict:
    cmd = [SLOWLOG, "digest", "--format", "json", "--compact", "--jobs", "1", str(path)]
    if max_classes is not None:
        cmd[2:2] = ["--max-classes", max_classes]
    out_path = OUT / "classes-digest.json"
    start = time.monotonic()
    with open(out_path, "w") as out:
        if os.path.exists("/usr/bin/time"):
            proc = subprocess.run(["/usr/bin/time", "-v", *cmd], stdout=out, stderr=subprocess.PIPE, text=True)
            peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
        else:
            import psutil

            p = psutil.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
            peak_kb = 0
            while p.poll() is None:
                peak_kb = max(peak_kb, p.memory_info().rss // 1024)
                time.sleep(0.05)
            proc = p
    wall = time.monotonic() - start
    if proc.returncode:
        raise SystemExit(f"slowlog digest failed ({proc.returncode})")
    with open(out_path) as f:
        result = json.load(f)
    return {"peak_rss_mb": peak_kb / 1024, "wall_s": wall, "result": result}


def main(argv: list[str]) -> int:
    max_classes = None
    if "--max-classes" in argv:
        i = argv.index("--max-classes")
        max_classes = argv[i + 1]
        del argv[i:i + 2]
    n = int(argv[0]) if argv else 1_000_000
    path = generate(n)
    m = run(path, max_classes)
    r = m["result"]
    overflow = r.get("overflow") or {"count": 0, "query_time": {"sum": 0.0}}
    listed = sum(c["count"] for c in r["classes"])
    heavy = sorted(c["fingerprint"] for c in r["classes"] if "late_heavy" in c["fingerprint"])
    print(f"{n} classes in {path.stat().st_size / 2**20:.0f} MiB: peak RSS {m['peak_rss_mb']:.0f} MiB, "
          f"wall {m['wall_s']:.1f} s; {len(r['classes'])} classes listed, overflow {overflow['count']} events")
    print(f"events {r['events']} = listed {listed} + overflow {overflow['count']}: "
          f"{r['events'] == listed + overflow['count']}; late-heavy classes listed: {len(heavy)} of {HEAVY}")
    return 0 if r["events"] == listed + overflow["count"] and len(heavy) == HEAVY else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
