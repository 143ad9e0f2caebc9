"""Fleet benchmark (part of `make bench`; alone: `.venv/bin/python bench/bench_fleet.py`).

An estate of BENCH_FLEET_INSTANCES (8) RDS instances x 24 hourly slow-log files, cut from the real
MariaDB capture of bench.py (BENCH_FLEET_MB, 200 MB in all), served by the local RDS Query API
server (tests/support/rds_api_server.py) the way RDS serves them: 1 MB portions cut at line ends,
BENCH_FLEET_LATENCY (0.2 s) per call, a throttle every 10th call, at most 16 calls in flight (more
are throttled at once). Then `make ingest`'s code path (``python -m dagster_project.ingest_day``:
``ingest_job`` on the definitions' multiprocess executor, SLOWLOG_SOURCE=rds,
AWS_ENDPOINT_URL_RDS pointing at the server) ingests the day.

Reported: wall time; the serial-download estimate (calls x latency); the effective download
concurrency (calls x latency / time from first call to last answer); the download bound (calls x
latency / 16) and the parse bound (`slowlog digest` of the same files, all cores); Dagster's fixed
start-up (the same run over the same instances with no files); events landed vs `slowlog digest`;
peak memory (PSS of the whole process tree).
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench import OUT, SLOWLOG, capture_real_log, timed  # noqa: E402
from tests.support.rds_api_server import RDSApiServer  # noqa: E402

DAY = "2026-11-24"
CAP = 16


def _entry_starts(data: bytes) -> list[int]:
    from dagster_project.slowlog.engines import get_engine

    return list(get_engine("mysql")().starts(data, 0, len(data)))


def _in_flight_profile(timeline: list[tuple[float, float, str, str]], t0: float, step: float = 1.0) -> tuple[list[float], float]:
    """Mean calls in flight in each second of the download window (where the window loses its
    concurrency: start-up, throttling back-off, the tail), and the mean time a call took."""
    if not timeline:
        return [], 0.0
    end = max(t[1] for t in timeline)
    buckets = [0.0] * (int((end - t0) / step) + 1)
    for a, b, *_ in timeline:
        k = int((a - t0) / step)
        while a < b:
            edge = min(b, t0 + (k + 1) * step)
            buckets[k] += (edge - a) / step
            a, k = edge, k + 1
    return [round(x, 1) for x in buckets], sum(t[1] - t[0] for t in timeline) / len(timeline)


def build_estate(real: Path, instances: int, total_mb: int) -> dict[str, dict[str, bytes]]:
    """instances x 24 files of ~total/(instances x 24) bytes each, cut at entry starts of the real
    capture (cycled through it, so every file is real server output)."""
    data = real.read_bytes()
    starts = _entry_starts(data) + [len(data)]
    per_file = int(total_mb * 1e6 / (instances * 24))
    estate: dict[str, dict[str, bytes]] = {}
    k = 0
    for i in range(instances):
        files = {}
        for hour in range(24):
            begin = starts[k]
            end_index = k
            while end_index + 1 < len(starts) and starts[end_index + 1] - begin < per_file:
                end_index += 1
            end_index = max(end_index, k + 1)
            files[f"slowquery/mysql-slowquery.log.{DAY}.{hour:02d}"] = data[begin:starts[end_index]]
            k = end_index if end_index + 1 < len(starts) else 0
        estate[f"fleet-db-{i + 1:02d}"] = files
    return estate


def run_ingest(srv: RDSApiServer, instances: list[str], data_root: Path) -> tuple[float, int, int, str]:
    env = dict(os.environ)
    env.update({
        "SLOWLOG_SOURCE": "rds", "SLOWLOG_INSTANCES": ",".join(instances), "AWS_ENDPOINT_URL_RDS": srv.endpoint_url,
        "AWS_ACCESS_KEY_ID": "AKIAFAKEFLEETBENCH01", "AWS_SECRET_ACCESS_KEY": "fake-fleet-bench-secret",
        "AWS_REGION": "us-east-1", "SLOWLOG_DATA_ROOT": str(data_root), "OPENBLAS_NUM_THREADS": "1",
        "DAGSTER_HOME": tempfile.mkdtemp(prefix="fleet-dagster-home-"),
    })
    env.pop("AWS_PROFILE", None)
    log = OUT / "fleet-ingest.log"
    wall, peak, rc = timed([str(REPO / ".venv/bin/python"), "-m", "dagster_project.ingest_day", DAY], log,
                           env=env, cwd=REPO, with_stderr=True)
    steps = _step_windows(env)
    shutil.rmtree(env["DAGSTER_HOME"], ignore_errors=True)
    return wall, peak, rc, log.read_text(errors="replace"), steps


_STEP_WINDOWS = """
import json, dagster as dg
instance = dg.DagsterInstance.get()
run = instance.get_runs(limit=1)[0]
stats = instance.get_run_step_stats(run.run_id)
t0 = instance.get_run_stats(run.run_id).start_time
kinds = {}
for s in stats:
    kind = s.step_key.split("[")[0]
    a, b = kinds.get(kind, (1e18, 0.0))
    kinds[kind] = (min(a, s.start_time - t0), max(b, s.end_time - t0))
print(json.dumps({k: [round(a, 1), round(b, 1)] for k, (a, b) in kinds.items()}))
"""


def _step_windows(env: dict) -> dict:
    """Per kind of step (units, download, summary, parse, digest...): first start..last end, in
    seconds from the run's start (where the run's time goes after the downloads)."""
    import subprocess

    out = subprocess.run([str(REPO / ".venv/bin/python"), "-W", "ignore", "-c", _STEP_WINDOWS], env=env, cwd=REPO,
                         capture_output=True, text=True)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {}


def landed_events(data_root: Path, instances: list[str]) -> int:
    total = 0
    for instance in instances:
        manifest = data_root / "warehouse" / "slow_query_events" / f"date={DAY}" / f"instance={instance}" / "_manifest.json"
        total += json.loads(manifest.read_text())["events"]
    return total


def _windows_text(windows: dict) -> str:
    return ", ".join(f"{kind} {a}..{b}" for kind, (a, b) in sorted(windows.items(), key=lambda kv: kv[1][0]))


def main() -> dict:
    OUT.mkdir(exist_ok=True)
    n_instances = int(os.environ.get("BENCH_FLEET_INSTANCES", "8"))
    latency = float(os.environ.get("BENCH_FLEET_LATENCY", "0.2"))
    real = capture_real_log(int(os.environ.get("BENCH_REAL_MB", "50")))
    estate = build_estate(real, n_instances, int(os.environ.get("BENCH_FLEET_MB", "200")))
    instances = sorted(estate)
    total_bytes = sum(len(b) for files in estate.values() for b in files.values())

    # the same bytes, for `slowlog digest` (parse bound and event parity)
    files_dir = OUT / "fleet-files"
    shutil.rmtree(files_dir, ignore_errors=True)
    files_dir.mkdir()
    paths = []
    for instance, files in estate.items():
        for name, content in files.items():
            path = files_dir / f"{instance}-{name.rsplit('/', 1)[-1]}"
            path.write_bytes(content)
            paths.append(str(path))
    digest_json = OUT / "fleet-digest.json"
    parse_s, _, rc = timed(SLOWLOG + ["digest", "--compact", "-q", *paths], digest_json)
    assert rc == 0, "slowlog digest failed"
    digest_events = json.loads(digest_json.read_text())["events"]

    # Dagster's fixed start-up: the same run, same instances, no files
    not_slow = {"error/mysql-error.log": b"2026-11-24  0:00:00 0 [Note] mariadbd: ready for connections.\n"}
    with RDSApiServer({i: dict(not_slow) for i in instances}, latency=latency, max_in_flight=CAP) as empty:
        fixed_s, _, rc, text, fixed_steps = run_ingest(empty, instances, OUT / "fleet-empty-data")
    shutil.rmtree(OUT / "fleet-empty-data", ignore_errors=True)
    assert rc == 0, text[-3000:]

    data_root = OUT / "fleet-data"
    shutil.rmtree(data_root, ignore_errors=True)
    with RDSApiServer(estate, max_portion_bytes=1_048_576, latency=latency, throttle_every=10,
                      max_in_flight=CAP) as srv:
        srv.prepare()
        self_before, children_before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        wall, peak, rc, text, steps = run_ingest(srv, instances, data_root)
        self_after, children_after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        server_cpu = (self_after.ru_utime + self_after.ru_stime) - (self_before.ru_utime + self_before.ru_stime)
        ingest_cpu = (children_after.ru_utime + children_after.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
        calls = len(srv.calls)
        window = (srv.last_answer_at or 0) - (srv.first_call_at or 0)
        throttled, capped, peak_in_flight = srv.throttled, srv.capped, srv.peak_in_flight
        t0 = srv.first_call_at or 0.0
        profile, call_s = _in_flight_profile(srv.timeline, t0)
        # every call's window, for a closer look at where the window loses its concurrency
        (OUT / "fleet-timeline.json").write_text(json.dumps(
            [[round(a - t0, 3), round(b - t0, 3), action, instance] for a, b, action, instance in sorted(srv.timeline)]))
        spans = {i: (round(min(t[0] for t in srv.timeline if t[3] == i) - t0, 1),
                     round(max(t[1] for t in srv.timeline if t[3] == i) - t0, 1)) for i in instances}
    assert rc == 0, text[-3000:]
    events = landed_events(data_root, instances)
    identical = all((data_root / "raw" / f"date={DAY}" / f"instance={i}" / n.rsplit("/", 1)[-1]).read_bytes() == c
                    for i, files in estate.items() for n, c in files.items())

    serial = calls * latency
    download_bound = serial / CAP
    result = {
        "instances": n_instances, "files": n_instances * 24, "bytes": total_bytes, "latency_s": latency, "cap": CAP,
        "wall_s": wall, "calls": calls, "throttled": throttled, "capped": capped, "peak_in_flight": peak_in_flight,
        "serial_download_estimate_s": serial, "download_window_s": window,
        "effective_concurrency": serial / window if window else 0.0,
        "download_bound_s": download_bound, "parse_bound_s": parse_s, "dagster_fixed_s": fixed_s,
        "target_s": 2 * max(download_bound, parse_s) + fixed_s,
        "events_landed": events, "events_slowlog_digest": digest_events, "raw_identical": identical,
        "in_flight_per_second": profile, "mean_call_s": call_s, "instance_windows_s": spans,
        "step_windows_s": steps, "step_windows_no_files_s": fixed_steps, "peak_pss_mb": peak / 1e6, "cpu_s_server": server_cpu, "cpu_s_ingest": ingest_cpu, "cpus": os.cpu_count(),
    }
    print(f"[fleet] {n_instances} instances x 24 files, {total_bytes / 1e6:.0f} MB, {latency} s per call, cap {CAP}")
    print(f"  wall time        : {wall:7.1f} s (Dagster fixed start-up, same run with no files: {fixed_s:.1f} s)")
    print(f"  download calls   : {calls} ({throttled} throttled, {capped} of them over the cap); serial estimate "
          f"{serial:.1f} s, bound at {CAP} in flight {download_bound:.1f} s")
    print(f"  concurrency      : {result['effective_concurrency']:.1f} effective (first call to last answer "
          f"{window:.1f} s; peak {peak_in_flight} in flight; target >= 8)")
    print(f"  in flight        : per second of the window {result['in_flight_per_second']}; a call took "
          f"{result['mean_call_s']:.2f} s on average; each instance's calls from..to (s): "
          f"{' '.join(f'{a}..{b}' for a, b in spans.values())}")
    print(f"  steps            : first start..last end (s from the run's start) {_windows_text(steps)}; "
          f"with no files {_windows_text(fixed_steps)}")
    print(f"  parse bound      : {parse_s:.1f} s (slowlog digest, all cores)")
    print(f"  target           : wall <= 2 x max(bounds) + fixed = {result['target_s']:.1f} s -> "
          f"{'met' if wall <= result['target_s'] else 'NOT met'}")
    print(f"  events           : {events} landed, {digest_events} by slowlog digest "
          f"({'none lost' if events == digest_events else 'MISMATCH'}); raw files byte-identical: {identical}")
    print(f"  peak memory      : {peak / 1e6:.0f} MB PSS (whole process tree)")
    print(f"  CPU              : {ingest_cpu:.1f} s ingest (all processes) + {server_cpu:.1f} s the local RDS server "
          f"(XML of every portion), on {os.cpu_count()} cores in {wall:.1f} s")
    shutil.rmtree(files_dir, ignore_errors=True)
    (OUT / "fleet-results.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
