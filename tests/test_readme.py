"""Every command the README shows is run, and every statement it makes about the code is checked.

Each fenced ``bash`` / ``python`` / ``yaml`` / ``sql`` block of README.md is followed by a marker
``<!-- readme-test: KIND [ARG] -->`` saying who runs it:

* ``run``: run here, in README order, in a sandbox folder (``./data`` is a fresh data root, the
  sample estate is the source, ``.venv/bin`` first on PATH), and its output checked;
* ``import FILE``: written to the sandbox as FILE and imported (building resources needs no AWS);
* ``dagster.yaml``: loaded as the instance config of a fresh ``$DAGSTER_HOME``;
* ``aws``: needs AWS (the README says so): syntax / argument checked only;
* ``make``, ``server``, ``opensearch``: ``make demo`` / ``make ui`` / the ``curl`` commands are run
  by tests/demo/test_demo.py; ``make ingest`` (``python -m dagster_project.ingest_day``) by
  tests/assets/test_units.py; ``make test`` is what CI (.ci/run) runs.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.readme import Block, check_estate, readme_blocks

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
VENV_BIN = Path(sys.executable).parent
KINDS = {"run", "import", "dagster.yaml", "aws", "make", "server", "opensearch"}
CHECKED_LANGS = {"bash", "sh", "python", "yaml", "sql"}
SAMPLE_DAYS = ("2026-11-18", "2026-11-24")


BLOCKS = readme_blocks()
RUN_BLOCKS = [b for b in BLOCKS if b.kind == "run"]


def _env(sandbox: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLOWLOG_", "OPENSEARCH_", "SLACK_", "AWS_", "DAGSTER_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(sandbox / "home")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["OPENSEARCH_URL"] = "http://127.0.0.1:9"  # nothing the README runs here needs OpenSearch
    return env


def _run_block(block: Block, sandbox: Path, env: dict[str, str], timeout: float = 420) -> subprocess.CompletedProcess:
    if block.lang in ("bash", "sh"):
        cmd = ["bash", "-euo", "pipefail", "-c", block.code]
    else:
        cmd = [str(VENV_BIN / "python"), "-c", block.code]
    return subprocess.run(cmd, cwd=sandbox, env=env, capture_output=True, text=True, timeout=timeout)


def _has_duckdb() -> bool:
    return subprocess.run([str(VENV_BIN / "python"), "-c", "import duckdb"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A folder that looks like the repository root to the README's commands (the package and the
    sample estate through a link), with an empty ``./data``, after running every ``run`` block in
    README order (later blocks read what earlier ones wrote). Returns (path, {block id: result})."""
    box = tmp_path_factory.mktemp("readme")
    (box / "dagster_project").symlink_to(REPO / "dagster_project", target_is_directory=True)
    (box / "workspace.yaml").write_text((REPO / "workspace.yaml").read_text())
    (box / "home").mkdir()
    env = _env(box)
    results: dict[str, subprocess.CompletedProcess | None] = {}
    duckdb = _has_duckdb()
    for block in RUN_BLOCKS:
        if "import duckdb" in block.code and not duckdb:
            results[block.id] = None
            continue
        results[block.id] = _run_block(block, box, env)
    return box, results


# ------------------------------------------------------------------------------- the markers
def test_every_command_block_says_who_runs_it():
    unmarked = [f"README.md:{b.line} ({b.lang})" for b in BLOCKS if b.lang in CHECKED_LANGS and b.kind is None]
    assert not unmarked, f"blocks without a <!-- readme-test: KIND --> marker: {unmarked}"
    unknown = [f"README.md:{b.line}: {b.kind}" for b in BLOCKS if b.kind and b.kind not in KINDS]
    assert not unknown
    assert len(RUN_BLOCKS) >= 8


def test_the_two_commands_come_first():
    first = next(b for b in BLOCKS if b.lang in CHECKED_LANGS)
    assert first.kind == "make"
    commands = [ln.split("#")[0].strip() for ln in first.code.splitlines() if ln.strip()]
    assert commands == ["make demo", "make test"]


def test_make_targets_run_what_the_readme_says():
    makefile = (REPO / "Makefile").read_text()

    def recipe(target: str) -> str:
        m = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n?)+)", makefile, re.M)
        assert m, f"no `{target}` target in the Makefile"
        return m.group(1)

    assert "-m dagster_project.demo" in recipe("demo")  # run end to end by tests/demo/test_demo.py
    assert "scripts/test.sh" in recipe("test")
    assert "make test" in (REPO / ".ci" / "run").read_text()
    ui = recipe("ui")
    assert "dagster dev -w workspace.yaml" in ui and ".dagster_home" in ui  # the demo's default DAGSTER_HOME
    assert "opensearch.sh down" in recipe("opensearch-down")
    assert "-m dagster_project.ingest_day $(DAY)" in recipe("ingest")  # run by tests/assets/test_units.py
    demo_cli = (REPO / "dagster_project" / "demo" / "__main__.py").read_text()
    assert '".dagster_home"' in demo_cli


# --------------------------------------------------------------------------- the run blocks
def _result(sandbox, block: Block) -> subprocess.CompletedProcess:
    _, results = sandbox
    res = results[block.id]
    if res is None:
        pytest.skip("duckdb is not installed (the README says `pip install duckdb`)")
    assert res.returncode == 0, f"README.md:{block.line} exited {res.returncode}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[b.id for b in RUN_BLOCKS])
def test_readme_command(sandbox, block):
    box, _ = sandbox
    res = _result(sandbox, block)
    code, out = block.code, res.stdout
    if "dagster asset list" in code:
        for key in ("slow_log_files", "slow_query_events", "query_digest", "opensearch_digest",
                    "query_regressions", "metric_snapshots", "slack_report"):
            assert key in out
    elif "dagster asset materialize" in code:
        digest = sorted(p.name for p in (box / "data" / "warehouse" / "query_digest").iterdir())
        assert digest == [f"date=2026-11-{d}" for d in range(18, 25)]
        pngs = sorted(p.name for p in (box / "data" / "snapshots" / "date=2026-11-24").glob("*.png"))
        assert pngs == ["db_load.png", "events_by_hour.png", "p95_by_hour.png", "top_classes.png"]
        assert (box / "data" / "warehouse" / "query_regressions" / "date=2026-11-24").is_dir()
    elif "sensor start" in code:
        if "sensor preview" in code:
            for instance in ("orders-db", "users-db", "reports-pg", "sessions-cache"):
                assert f"- {instance}" in out, out[-2000:]
        states = _instigator_states(box / ".dagster_home")
        assert states.get("new_slow_log_files_sensor") == "RUNNING", states
        assert states.get("daily_schedule") == "RUNNING", states
    elif "digest --format table" in code:
        lines = out.splitlines()
        assert re.match(r"# \d+ events, \d+ classes, 0 rejected", lines[0]), lines[0]
        # the regression of the last day is the top class of orders-db's day
        assert "select id, total, status" in lines[3], lines[3]
    elif "reports-pg" in code and "slowlog digest" in code:
        count, p95, fingerprint = out.strip().split(" ", 2)
        assert int(count) > 0 and float(p95) > 0 and fingerprint.startswith("select ")
    elif "slowlog parse" in code:
        summary = json.loads(out)
        assert summary["files"] and all(f["rejected"] == 0 for f in summary["files"])
        assert list(Path("/tmp/slowlog-events/date=2026-11-24").glob("instance=users-db/*.parquet"))
    elif "load_events" in code or "duckdb" in code:
        assert "orders-db" in out and "select id, total, status, created_at from orders" in out
    elif "load_digest" in code:
        assert "query_time_sum" in out and "select" in out
    else:  # a new block: at least it ran
        assert res.returncode == 0


def _instigator_states(home: Path) -> dict[str, str]:
    script = textwrap.dedent("""
        import json, dagster as dg
        inst = dg.DagsterInstance.get()
        print(json.dumps({s.name: s.status.value for s in inst.all_instigator_state()}))
    """)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    res = subprocess.run([str(VENV_BIN / "python"), "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_the_output_layout_shown_is_what_the_backfill_wrote(sandbox):
    """The README's picture of ./data (a block without a language) matches the files."""
    box, results = sandbox
    (block,) = [b for b in BLOCKS if not b.lang and b.code.startswith("data/raw/")]
    backfill = next(b for b in RUN_BLOCKS if "dagster asset materialize" in b.code)
    assert results[backfill.id] is not None and results[backfill.id].returncode == 0
    shown = 0
    for line in block.code.splitlines():
        path = line.split()[0]
        m = re.match(r"(.*)\{(.*)\}(.*)", path)
        for p in ([m.group(1) + x + m.group(3) for x in m.group(2).split(",")] if m else [path]):
            assert (box / p).is_file(), p
            shown += 1
    assert shown >= 7


def test_readme_pandas_example_matches_the_warehouse(sandbox):
    """The pandas answer is the digest's answer: same top class, same total time."""
    box, _ = sandbox
    sys.path.insert(0, str(REPO))
    from dagster_project import analysis

    root = box / "data"
    events = analysis.load_events(*SAMPLE_DAYS, root=root, columns=["instance", "checksum", "query_time"])
    digest = analysis.load_digest(*SAMPLE_DAYS, root=root)
    assert len(events) == int(digest["count"].sum())
    by_events = events.groupby(["instance", "checksum"])["query_time"].sum().idxmax()
    by_digest = digest.groupby(["instance", "checksum"])["query_time_sum"].sum().idxmax()
    assert by_events == by_digest


# ----------------------------------------------------------------- imports, config, AWS blocks
def _blocks(kind: str) -> list[Block]:
    return [b for b in BLOCKS if b.kind == kind]


@pytest.mark.parametrize("block", _blocks("import"), ids=lambda b: b.arg)
def test_readme_module_builds_without_aws(tmp_path, block):
    (tmp_path / block.arg).write_text(block.code)
    module = block.arg.removesuffix(".py")
    check = textwrap.dedent(f"""
        import datetime as dt
        import {module} as m
        if hasattr(m, "defs"):
            defs = m.defs
            assert defs.resolve_job_def("daily_job") and defs.resolve_job_def("ingest_job")
            res = defs.resources
            assert type(res["log_source"]).__name__ == "RDSLogSourceResource"
            assert res["log_source"].engine_for("reports-pg") == "postgres"
            assert res["opensearch"].auth == "sigv4"
            widgets = res["cloudwatch_metrics"].widgets_for_day(dt.date(2026, 11, 24))  # validated, no AWS call
            assert "checkout-latency" in widgets and len(widgets) > 1, sorted(widgets)
            assert res["slack"].channel_id == "C0123456789"
        else:
            assert type(m.log_source).__name__ == "LocalLogSourceResource"
        print("ok")
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_", "OPENSEARCH_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(REPO)])
    res = subprocess.run([str(VENV_BIN / "python"), "-c", check], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=180)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-3000:]


def test_readme_dagster_yaml_is_a_valid_instance_config(tmp_path):
    (block,) = _blocks("dagster.yaml")
    (tmp_path / "dagster.yaml").write_text(block.code)
    script = textwrap.dedent("""
        import dagster as dg
        inst = dg.DagsterInstance.get()
        limits = inst.get_concurrency_config().run_queue_config.tag_concurrency_limits
        print(limits)
    """)
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    res = subprocess.run([str(VENV_BIN / "python"), "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "slowlog/day" in res.stdout and "applyLimitPerUniqueValue" in res.stdout
    assert "slowlog/day" in (REPO / "dagster_project" / "sensors.py").read_text()  # the tag the sensor sets


@pytest.mark.parametrize("block", _blocks("aws"), ids=lambda b: b.id)
def test_readme_aws_blocks_are_well_formed(block):
    if block.lang == "bash":
        assert subprocess.run(["bash", "-n", "-c", block.code]).returncode == 0
        sys.path.insert(0, str(REPO))
        from dagster_project.cli import build_parser  # the slowlog console script: core + fetch

        for line in block.code.splitlines():
            if line.startswith("slowlog "):
                args = build_parser().parse_args(shlex.split(line)[1:])  # exits on an unknown option
                assert args.command == "fetch"
    elif block.lang == "python":
        compile(block.code, f"README.md:{block.line}", "exec")
    else:
        assert block.lang == "sql" and "slow_query_events" in block.code
        # the columns the Athena table declares are columns of the events
        sys.path.insert(0, str(REPO))
        from dagster_project.slowlog.events import EVENT_SCHEMA

        body = block.code.split("(", 1)[1].split("PARTITIONED BY")[0]
        names = [c.strip().split()[0].strip("`") for c in body.rstrip().rstrip(")").split(",")]
        assert set(names) <= set(EVENT_SCHEMA.names), set(names) - set(EVENT_SCHEMA.names)


# ------------------------------------------------------------------- statements about the code
def _mermaid(text: str) -> str:
    m = re.search(r"```mermaid\n(.*?)```", text, re.S)
    assert m, "no mermaid block"
    return m.group(1)


def test_the_asset_graph_shown_is_the_graph_of_the_code():
    res = subprocess.run([str(VENV_BIN / "python"), "scripts/asset_graph.py"], cwd=REPO,
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    hint = "regenerate with `python scripts/asset_graph.py`"
    assert _mermaid(README.read_text()) == res.stdout, f"README.md: {hint}"
    assert _mermaid((REPO / "docs" / "asset-graph.md").read_text()) == res.stdout, f"docs/asset-graph.md: {hint}"


def test_every_asset_is_described():
    sys.path.insert(0, str(REPO))
    from dagster_project.definitions import defs

    text = README.read_text()
    keys = {k.to_user_string() for a in defs.assets for k in a.keys}
    missing = sorted(k for k in keys if f"| `{k}` |" not in text)
    assert not missing, f"assets without a row in the README's asset table: {missing}"
    for name in ("ingest_job", "daily_job", "new_slow_log_files_sensor", "daily_schedule"):
        assert name in text
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"ingest_job", "daily_job"}


def test_every_environment_variable_named_is_read_by_the_code():
    text = README.read_text()
    named = set(re.findall(r"`((?:SLOWLOG|OPENSEARCH|SLACK)_[A-Z_]+)", text))
    assert {"SLOWLOG_DATA_ROOT", "SLOWLOG_SOURCE_ROOT", "OPENSEARCH_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL_ID"} <= named
    source = "\n".join(p.read_text() for p in (REPO / "dagster_project").rglob("*.py"))
    unread = sorted(v for v in named if v not in source)
    assert not unread, f"the README names variables the code never reads: {unread}"


def test_links_and_paths_named_exist():
    text = README.read_text()
    for rel in re.findall(r"\]\(((?:docs|dagster_project)/[^)#]+)\)", text):
        assert (REPO / rel).exists(), rel
    for rel in ("dagster_project/sample_data/rds", "scripts/opensearch/opensearch.sh", "scripts/system-deps.sh",
                "workspace.yaml", ".dagster_home"):
        assert rel in text, rel
        assert rel == ".dagster_home" or (REPO / rel).exists(), rel
    days = sorted({m for m in re.findall(r"\d{4}-\d{2}-\d{2}", " ".join(
        p.name for p in (REPO / "dagster_project" / "sample_data" / "rds").rglob("*") if p.is_file()))})
    assert (days[0], days[-1]) == SAMPLE_DAYS  # the dates the README's examples use
    assert dt.date.fromisoformat(days[-1]) - dt.date.fromisoformat(days[0]) == dt.timedelta(days=6)


# --------------------------------------------------------------------------- the sample estate
def test_sample_estate_is_as_documented():
    root = REPO / "dagster_project" / "sample_data" / "rds"
    events = check_estate(root, ["orders-db", "users-db", "reports-pg", "sessions-cache"])
    assert sum(events.values()) > 10_000
    assert sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) < 1_000_000  # "well under 3 MB"
    doc = (REPO / "dagster_project" / "sample_data" / "README.md").read_text()
    files = [p for p in root.rglob("*") if p.is_file()]
    assert f"({len(files)} files" in doc
