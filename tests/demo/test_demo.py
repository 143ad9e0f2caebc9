"""``make demo`` end to end: the sample estate through every asset into a tmp data root, a real
OpenSearch node (``opensearch_url``), the report, the files; run twice (idempotent); then ``make ui``
on the demo's Dagster instance, and the README's OpenSearch ``curl`` commands.

The demo is run the way ``make demo`` runs it (``python -m dagster_project.demo``, no arguments),
configured through the environment only. Its digest indices get a prefix of their own
(``OPENSEARCH_INDEX_PREFIX``) so the shared test node's other indices are left alone.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.support.readme import check_estate, readme_blocks

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(Path(sys.executable))
DAYS = [f"2026-11-{d}" for d in range(18, 25)]
INSTANCES = ["orders-db", "reports-pg", "sessions-cache", "users-db"]
REGRESSED = "select id, total, status, created_at from orders where customer_id = ?"


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLOWLOG_", "OPENSEARCH_", "SLACK_", "DAGSTER_"))}
    env.update(SLOWLOG_DATA_ROOT=str(tmp / "data"), DAGSTER_HOME=str(tmp / "dagster_home"))
    env.update(extra)
    return env


def _demo(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "dagster_project.demo", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _get(url: str, timeout: float = 10):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode())


def _post(url: str, body: dict, timeout: float = 30):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode())


def _delete(url: str) -> None:
    req = urllib.request.Request(url, method="DELETE")
    try:
        urllib.request.urlopen(req, timeout=30).close()
    except OSError:
        pass


def _report_number(out: str, pattern: str) -> int:
    m = re.search(pattern, out)
    assert m, f"{pattern!r} not in the report:\n{out}"
    return int(m.group(1))


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def demo(opensearch_url, tmp_path_factory):
    """The demo run twice into one tmp data root; yields (tmp, env, first, second, prefix)."""
    tmp = tmp_path_factory.mktemp("demo")
    prefix = f"demotest-{uuid.uuid4().hex[:8]}-digest-"
    env = _env(tmp, OPENSEARCH_URL=opensearch_url, OPENSEARCH_INDEX_PREFIX=prefix)
    started = time.monotonic()
    first = _demo(env)
    first_seconds = time.monotonic() - started
    files_after_first = _files(tmp / "data" / "warehouse")
    second = _demo(env)
    yield {"tmp": tmp, "env": env, "first": first, "second": second, "prefix": prefix, "url": opensearch_url,
           "first_seconds": first_seconds, "files_after_first": files_after_first}
    _delete(f"{opensearch_url}/{prefix}*")
    _delete(f"{opensearch_url}/_index_template/{prefix.rstrip('-')}*")


def test_demo_succeeds_and_reports(demo):
    res = demo["first"]
    out = res.stdout
    assert res.returncode == 0, f"{out[-4000:]}\n{res.stderr[-4000:]}"
    assert demo["first_seconds"] < 300  # "a few minutes on 2 cores", OpenSearch already up

    events = _report_number(out, r"Ingested (\d+) events")
    classes = _report_number(out, r"in (\d+) query classes")
    assert events > 5000 and classes > 20
    assert "(0 rejected)" in out
    for instance, engine in (("orders-db", "mysql"), ("users-db", "mysql"), ("reports-pg", "postgres"),
                             ("sessions-cache", "redis")):
        assert re.search(rf"^  {instance}\s+{engine}\s+\d+ files\s+[1-9]\d* events", out, re.M), instance

    top = re.findall(r"^  (\d)\.\s+[\d.]+ m?s\s+\d+ calls\s+(\S+)\s+(.*)$", out, re.M)
    assert [t[0] for t in top] == ["1", "2", "3", "4", "5"]
    assert any(REGRESSED[:40] in fp for _, _, fp in top)
    assert not re.search(r"customer_id = \d", out)  # literals redacted

    # the story of the last day: the regression and the new classes
    assert re.search(r"^  p95\S* x\d+\s+orders-db\s+" + re.escape(REGRESSED[:40]), out, re.M), out
    assert re.search(r"^  new\s+orders-db\s+select status, count\(\*\)", out, re.M)
    assert re.search(r"^  new\s+sessions-cache\s+KEYS session:\*", out, re.M)
    assert "Asset checks: 3/3 passed" in out

    assert "OK: " in out and "FAILED" not in out
    assert "Slack:" not in out  # no SLACK_BOT_TOKEN / SLACK_CHANNEL_ID: no Slack line
    assert "make ui" in out and "http://127.0.0.1:3000" in out
    assert re.search(r"^  2026-11-18\.\.2026-11-24\s+success", out, re.M)  # ONE range run


def test_demo_files(demo):
    data = demo["tmp"] / "data"
    out = demo["first"].stdout
    assert str(data / "warehouse" / "slow_query_events") in out
    assert str(data / "snapshots") in out
    for day in DAYS:
        for instance in INSTANCES:
            assert (data / "warehouse" / "slow_query_events" / f"date={day}" / f"instance={instance}" / "part-0.parquet").is_file()
            assert any((data / "raw" / f"date={day}" / f"instance={instance}").iterdir())
        assert (data / "warehouse" / "query_digest" / f"date={day}" / "part-0.parquet").is_file()
        pngs = sorted(p.name for p in (data / "snapshots" / f"date={day}").glob("*.png"))
        assert pngs == ["db_load.png", "events_by_hour.png", "p95_by_hour.png", "top_classes.png"]
        for png in pngs:
            assert (data / "snapshots" / f"date={day}" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    from dagster_project import analysis

    events = analysis.load_events(DAYS[0], DAYS[-1], root=data, by="partition")
    assert len(events) == _report_number(out, r"Ingested (\d+) events")
    assert sorted(events["instance"].unique()) == INSTANCES
    assert set(events["engine"].unique()) == {"mysql", "postgres", "redis"}


def test_demo_published_to_opensearch(demo):
    out, url, prefix = demo["first"].stdout, demo["url"], demo["prefix"]
    assert "could not list" not in out, out[out.find("OpenSearch http"):][:2000]
    listed = dict(re.findall(rf"^  ({re.escape(prefix)}\S+)\s+(\d+) docs$", out, re.M))
    assert sorted(listed) == [f"{prefix}{d.replace('-', '.')}" for d in DAYS]
    for index, docs in listed.items():
        count = _get(f"{url}/{index}/_count")["count"]
        assert count == int(docs) > 0
    daily = _get(f"{url}/{prefix}2026.11.24/_count?q=doc_type:daily")["count"]
    from dagster_project import analysis

    assert daily == len(analysis.load_digest("2026-11-24", root=demo["tmp"] / "data"))


def test_demo_is_idempotent(demo):
    first, second = demo["first"].stdout, demo["second"].stdout
    assert demo["second"].returncode == 0, second[-4000:]
    for pattern in (r"Ingested (\d+) events", r"in (\d+) query classes"):
        assert _report_number(first, pattern) == _report_number(second, pattern)
    docs = lambda text: re.findall(rf"^  ({re.escape(demo['prefix'])}\S+)\s+(\d+) docs$", text, re.M)  # noqa: E731
    assert docs(first) == docs(second)
    after = _files(demo["tmp"] / "data" / "warehouse")
    assert sorted(after) == sorted(demo["files_after_first"])  # same partitions, no extra part files


def test_readme_opensearch_commands(demo):
    """The README's curl commands (on the demo's node; here the test node's URL) answer as described."""
    (block,) = [b for b in readme_blocks() if b.kind == "opensearch"]
    code = block.code.replace("http://127.0.0.1:9200", demo["url"]).replace("slowlog-digest-", demo["prefix"])
    code = code.replace("slowlog-*", f"{demo['prefix']}*")
    res = subprocess.run(["bash", "-euo", "pipefail", "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert f"{demo['prefix']}2026.11.24" in res.stdout
    body = json.loads(res.stdout[res.stdout.index("{"):])
    buckets = body["aggregations"]["top"]["buckets"]
    assert len(buckets) == 5 and buckets[0]["qt"]["value"] >= buckets[-1]["qt"]["value"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_ui_shows_the_demo(demo):
    """`make ui`'s command (dagster dev -w workspace.yaml) on the demo's DAGSTER_HOME: the UI serves
    the asset graph and the demo's run."""
    (block,) = [b for b in readme_blocks() if b.kind == "server"]
    assert block.code.strip() == "make ui"
    run_ids = re.findall(r"success\s+[\d.]+ s\s+run (\S+)", demo["first"].stdout)
    assert run_ids
    port = _free_port()
    env = dict(demo["env"], PATH=f"{Path(PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.Popen([str(Path(PYTHON).parent / "dagster"), "dev", "-w", "workspace.yaml", "-p", str(port)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        query = {"query": "{ runsOrError { ... on Runs { results { runId status } } } "
                          "assetNodes { assetKey { path } } }"}
        deadline, answer = time.monotonic() + 240, None
        while time.monotonic() < deadline:
            try:
                answer = _post(f"http://127.0.0.1:{port}/graphql", query, timeout=10)
                if answer.get("data", {}).get("assetNodes"):
                    break
            except OSError:
                pass
            if proc.poll() is not None:
                pytest.fail(f"dagster dev exited with {proc.returncode}")
            time.sleep(2)
        assert answer and answer.get("data"), answer
        runs = {r["runId"]: r["status"] for r in answer["data"]["runsOrError"]["results"]}
        for run_id in run_ids:
            assert runs.get(run_id) == "SUCCESS", runs
        keys = {"/".join(n["assetKey"]["path"]) for n in answer["data"]["assetNodes"]}
        assert {"slow_log_files", "slow_query_events", "query_digest", "opensearch_digest", "slack_report"} <= keys
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_demo_without_opensearch_goes_on(tmp_path):
    """An OpenSearch that cannot be reached is reported and skipped; everything else still runs;
    the exit status is 0 unless --require-opensearch."""
    env = _env(tmp_path, OPENSEARCH_URL="http://192.0.2.1:9200")  # TEST-NET-1: never answers
    res = _demo(env)
    out = res.stdout
    assert res.returncode == 0, f"{out[-4000:]}\n{res.stderr[-4000:]}"
    assert "NOT AVAILABLE" in out and "continuing without it" in out
    assert "nothing published" in out
    assert _report_number(out, r"Ingested (\d+) events") > 5000
    assert (tmp_path / "data" / "snapshots" / "date=2026-11-24" / "top_classes.png").is_file()
    assert re.search(r"^  2026-11-18\.\.2026-11-24\s+success", out, re.M)

    strict = _demo(env, "--require-opensearch")
    assert strict.returncode == 1
    failed = strict.stdout[strict.stdout.index("FAILED steps:"):]
    assert failed.count("  - ") == 1 and "OpenSearch" in failed


def test_make_sample_data_regenerates_from_real_servers(tmp_path):
    """scripts/make_sample_data.py against real MariaDB / PostgreSQL / Redis (one day, three
    instances): files named like RDS's, every event inside its file's hour, nothing rejected."""
    from tests.support.mariadb import MariaDB

    if not MariaDB.available():
        pytest.skip("mariadbd not installed (scripts/system-deps.sh)")
    out = tmp_path / "estate"
    res = subprocess.run([PYTHON, "scripts/make_sample_data.py", "--out", str(out), "--days", "1",
                          "--instances", "users-db,reports-pg,sessions-cache"],
                         cwd=REPO, capture_output=True, text=True, timeout=420)
    assert res.returncode == 0, f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert any(re.fullmatch(r"users-db/slowquery/mysql-slowquery\.log\.2026-11-24\.\d\d\.gz", n) for n in names)
    assert any(re.fullmatch(r"reports-pg/error/postgresql\.log\.2026-11-24-\d\d\.gz", n) for n in names)
    assert any(re.fullmatch(r"sessions-cache/redis-slowlog\.2026-11-24\.\d\d\.jsonl\.gz", n) for n in names)
    events = check_estate(out, ["users-db", "reports-pg", "sessions-cache"])
    assert all(n > 50 for n in events.values()), events
