"""A real PostgreSQL 15 log, parsed by us and by pgBadger: same events, same durations, same classes.

The server (Debian's postgresql package, scripts/system-deps.sh) is started privately with
log_min_duration_statement=0 and the RDS log_line_prefix '%t:%r:%u@%d:[%p]:'; pgbench drives it in
simple and prepared (parse/bind/execute) protocol, psql adds multi-line statements, SQL-level
PREPARE/EXECUTE, an error, and a log_statement=all session (statement line + lone duration line).
"""
from __future__ import annotations

import bz2
import collections
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project.slowlog.fingerprint_pg import fingerprint_pg
from dagster_project.slowlog.parse import parse_log
from tests.conftest import CORPUS
from tests.support.postgres import RDS_PREFIX, PostgreSQL

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not PostgreSQL.available(), reason="PostgreSQL server binaries not installed (scripts/system-deps.sh)"),
]

PGBENCH_CLASSES = {
    "begin",
    "update pgbench_accounts set abalance = abalance + ? where aid = ?",
    "select abalance from pgbench_accounts where aid = ?",
    "update pgbench_tellers set tbalance = tbalance + ? where tid = ?",
    "update pgbench_branches set bbalance = bbalance + ? where bid = ?",
    "insert into pgbench_history (tid, bid, aid, delta, mtime) values (?, ?, ?, ?, current_timestamp)",
    "end",
}

PSQL_SCRIPT = """\
SELECT a.aid,
       a.abalance
  FROM pgbench_accounts a
 WHERE a.aid = 42;
PREPARE by_aid(int) AS SELECT abalance FROM pgbench_accounts WHERE aid = $1;
EXECUTE by_aid(7);
EXECUTE by_aid(8);
SELECT 'multi
line literal' AS x, 1 AS y;
SELECT no_such_column FROM pgbench_accounts;
SET log_statement = 'all';
SELECT count(*) FROM pgbench_branches WHERE bid IN (1, 2, 3);
SELECT count(*) FROM pgbench_branches WHERE bid IN (4);
"""


@pytest.fixture(scope="module")
def pg_log(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pg") / "postgresql.log.2026-11-24-10"
    with PostgreSQL(prefix=RDS_PREFIX) as pg:
        pg.psql("CREATE DATABASE bench", check=True)
        pg.pgbench("-i", "-s", "1", "bench")
        pg.pgbench("-c", "2", "-t", "300", "bench")
        pg.pgbench("-M", "prepared", "-c", "2", "-t", "100", "bench")
        r = pg.psql(PSQL_SCRIPT, "bench")
        assert b"no_such_column" in r.stderr  # the error really happened
        pg.stop()
        shutil.copyfile(pg.log_path, out)
    return out


def parse(path: Path):
    parsed = parse_log(path, instance="pg-real")
    rows = parsed.read_all().to_pylist()
    assert parsed.stats.accounted
    return rows, parsed.stats


def step(row) -> str:
    return dict(row["extra_text"])["step"]


@pytest.fixture(scope="module")
def parsed(pg_log):
    return parse(pg_log)


def test_log_shape(parsed):
    rows, stats = parsed
    assert stats.engine == "postgres" and stats.rejected == 0
    assert stats.skipped_bytes > 0  # startup, shutdown, checkpoint, ERROR + STATEMENT, log_statement lines
    steps = collections.Counter(step(r) for r in rows)
    assert steps["statement"] > 4200 and steps["execute"] == 1400 and steps["bind"] == 1400
    assert steps["parse"] == 14  # 7 statements prepared once by each of the 2 prepared-mode clients
    assert {r["user"] for r in rows} == {"postgres"}
    assert {r["host"] for r in rows} == {"[local]"} and all(r["ip"] is None for r in rows)
    assert {r["db"] for r in rows} >= {"bench", "postgres"}
    by_fp = collections.Counter(r["fingerprint"] for r in rows if step(r) in ("statement", "execute"))
    for fp in PGBENCH_CLASSES:
        # 2 x 300 simple + 2 x 100 prepared (pgbench -i adds one BEGIN of its own)
        assert by_fp[fp] == 800 + (fp == "begin"), fp
    executes = [r for r in rows if step(r) == "execute"]
    assert all(dict(r["extra_text"]).get("statement_name", "").startswith("P_") for r in executes)
    upd = next(r for r in executes if r["fingerprint"].startswith("update pgbench_accounts"))
    assert dict(upd["extra_text"])["parameters"].startswith("$1 = ")


def test_psql_statements(parsed):
    rows, _ = parsed
    q = {r["query"]: r for r in rows}
    multi = q["SELECT a.aid,\n\t       a.abalance\n\t  FROM pgbench_accounts a\n\t WHERE a.aid = 42;"]
    assert multi["fingerprint"] == "select a.aid, a.abalance from pgbench_accounts a where a.aid = ?"
    assert q["SELECT 'multi\n\tline literal' AS x, 1 AS y;"]["fingerprint"] == "select ? as x, ? as y"
    assert sum(1 for r in rows if r["fingerprint"] == "execute by_aid(?)") == 2
    assert not any("no_such_column" in r["query"] for r in rows)  # ERROR + STATEMENT: not an event
    # log_statement=all: "statement: ..." then a lone "duration: X ms" -> paired into one event
    paired = [r for r in rows if r["fingerprint"] == "select count(*) from pgbench_branches where bid in (?+)"]
    assert len(paired) == 2 and all(r["query_time"] > 0 for r in paired)


def _pgbadger(log: Path, out: Path) -> dict:
    subprocess.run(["pgbadger", "-q", "-f", "stderr", "--prefix", RDS_PREFIX, "-x", "json", "-o", str(out), str(log)],
                   check=True, capture_output=True, timeout=300)
    return json.loads(out.read_text())


@pytest.mark.skipif(shutil.which("pgbadger") is None, reason="pgbadger not installed (scripts/system-deps.sh)")
def test_parity_with_pgbadger(pg_log, parsed, tmp_path):
    rows, stats = parsed
    report = _pgbadger(pg_log, tmp_path / "pgbadger.json")
    overall = report["overall_stat"]["postgres"]
    durations = overall["queries_duration"]
    queries = [r for r in rows if step(r) in ("statement", "execute")]
    ours_ms = math.fsum(r["query_time"] for r in queries) * 1000
    parse_ms = math.fsum(r["query_time"] for r in rows if step(r) == "parse") * 1000
    bind_ms = math.fsum(r["query_time"] for r in rows if step(r) == "bind") * 1000
    print(f"\npgBadger: queries={overall['queries_number']} execute_ms={durations['execute']:.3f} "
          f"prepare_ms={durations['prepare']:.3f} bind_ms={durations['bind']:.3f}")
    print(f"slowlog : queries={len(queries)} (2 of them log_statement + lone duration pairs) execute_ms={ours_ms:.3f} parse_ms={parse_ms:.3f} bind_ms={bind_ms:.3f} "
          f"(events incl. parse/bind: {stats.events})")
    # pgBadger counts statement + execute durations as queries, parse and bind apart. A log_statement
    # line and its lone "duration: X ms" line count as two queries there (the class gets the statement
    # with duration 0, the total gets the duration); we pair them into one event.
    paired = [r for r in queries if r["fingerprint"] == "select count(*) from pgbench_branches where bid in (?+)"]
    assert len(paired) == 2
    assert overall["queries_number"] == len(queries) + len(paired)
    assert durations["execute"] == pytest.approx(ours_ms, abs=0.01)
    assert durations["prepare"] == pytest.approx(parse_ms, abs=0.01)
    assert durations["bind"] == pytest.approx(bind_ms, abs=0.01)
    # per class: pgBadger's normalized statements, mapped through our fingerprint
    theirs: collections.Counter = collections.Counter()
    theirs_ms: collections.Counter = collections.Counter()
    for text, info in report["normalyzed_info"]["postgres"].items():
        theirs[fingerprint_pg(text)] += info["count"]
        theirs_ms[fingerprint_pg(text)] += info["duration"]
    ours = collections.Counter(r["fingerprint"] for r in queries)
    ours_cls_ms = collections.Counter()
    for r in queries:
        ours_cls_ms[r["fingerprint"]] += r["query_time"] * 1000
    for fp in PGBENCH_CLASSES:
        print(f"  {theirs[fp]:5d} {ours[fp]:5d}  {theirs_ms[fp]:9.3f} {ours_cls_ms[fp]:9.3f}  {fp}")
        assert theirs[fp] == ours[fp] == 800 + (fp == "begin"), fp
        assert theirs_ms[fp] == pytest.approx(ours_cls_ms[fp], abs=0.01), fp
    # every class pgBadger reports exists on our side with the same count, except where pgBadger's
    # normalization drops text ("... where aid = $1" -> "... where aid =")
    mismatched = {fp for fp in theirs if theirs[fp] != ours.get(fp)}
    assert sum(theirs[fp] for fp in mismatched) <= 2, {fp: (theirs[fp], ours.get(fp)) for fp in mismatched}


def test_cli_digest_on_real_log(pg_log, parsed):
    rows, _ = parsed
    out = subprocess.run([str(Path(sys.executable).parent / "slowlog"), "digest", "--compact", str(pg_log)],
                         capture_output=True, check=True)
    doc = json.loads(out.stdout)
    assert doc["events"] == len(rows) and doc["rejected"] == 0
    classes = {c["fingerprint"]: c for c in doc["classes"]}
    for fp in PGBENCH_CLASSES:
        # simple (600) + prepared execute (200) + bind (200) + parse (2): steps of one statement share a class
        assert classes[fp]["count"] == 1002 + (fp == "begin"), fp
        assert classes[fp]["db"] == "bench" and classes[fp]["user"] == "postgres" and classes[fp]["host"] == "[local]"
    assert sum(c["count"] for c in doc["classes"]) == len(rows)


# -- pgBadger's RDS fixture (18 MB, prefix %t:%r:%u@%d:[%p]:) ---------------------------------------

# pgBadger 12.0 on this file: `pgbadger -x json --prefix '%t:%r:%u@%d:[%p]:' rds.log` reports
# queries_number 114594 and queries_duration.execute 71472.764 ms; t/03_consistency.t checks the class
# 'select datname from pg_database where not datistemplate and datallowconn;' = 2.667 ms with
# --exclude-client 192.168.1.201.
RDS_QUERIES = 114594
RDS_TOTAL_MS = 71472.764


def test_pgbadger_rds_fixture(tmp_path):
    path = tmp_path / "rds.log"
    path.write_bytes(bz2.decompress((CORPUS / "pgbadger" / "fixtures" / "rds.log.bz2").read_bytes()))
    rows, stats = parse(path)
    assert stats.engine == "postgres" and stats.rejected == 0
    assert stats.events == RDS_QUERIES
    assert math.fsum(r["query_time"] for r in rows) * 1000 == pytest.approx(RDS_TOTAL_MS, abs=0.01)
    counts = collections.Counter(r["fingerprint"] for r in rows)
    for fp in PGBENCH_CLASSES:
        assert counts[fp] == 16254, fp
    datname = [r for r in rows if r["host"] != "192.168.1.201"
               and r["fingerprint"] == "select datname from pg_database where not datistemplate and datallowconn"]
    assert math.fsum(r["query_time"] for r in datname) * 1000 == pytest.approx(2.667, abs=1e-6)
    assert rows[0]["ts"].isoformat() == "2020-03-11T19:40:44+00:00"  # 20:40:44 CET
