"""A real PostgreSQL 15 log, parsed by us and by pgBadger (run live): same executions, same durations.

The server (Debian's postgresql package, scripts/system-deps.sh) is started privately with
log_min_duration_statement=0 and the RDS log_line_prefix '%t:%r:%u@%d:[%p]:', writing the same messages
as stderr, csvlog and jsonlog (logging_collector). pgbench drives it in all three protocols
(`-M simple|extended|prepared`: extended and prepared write parse, bind and execute lines, each with its
own duration), psycopg 3 adds an extended-protocol client of its own (unnamed statements, then
server-side prepared ones after its prepare_threshold), psql adds multi-line statements, SQL-level
PREPARE/EXECUTE, an error, and a log_statement=all session (statement line + lone duration line).

What is checked: one event per execution (`statement:` / `execute`), as pgBadger and
pg_stat_statements count; the parse and bind durations on the execute they precede
(extra["parse_time"], extra["bind_time"]); per class, the count and the total duration equal
pgBadger's; the three log formats give the same events.
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
from tests.support.corpus import CORPUS
from tests.support.postgres import RDS_PREFIX, PostgreSQL

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not PostgreSQL.available(), reason="PostgreSQL server binaries not installed (scripts/system-deps.sh)"),
]
needs_pgbadger = pytest.mark.skipif(shutil.which("pgbadger") is None,
                                    reason="pgbadger not installed (scripts/system-deps.sh)")

PGBENCH_CLASSES = {
    "begin",
    "update pgbench_accounts set abalance = abalance + ? where aid = ?",
    "select abalance from pgbench_accounts where aid = ?",
    "update pgbench_tellers set tbalance = tbalance + ? where tid = ?",
    "update pgbench_branches set bbalance = bbalance + ? where bid = ?",
    "insert into pgbench_history (tid, bid, aid, delta, mtime) values (?, ?, ?, ?, current_timestamp)",
    "end",
}
# transactions per protocol (2 clients each): 2 x 150 simple + 2 x 100 extended + 2 x 100 prepared
PER_CLASS = 300 + 200 + 200
PSYCOPG_CLASSES = {
    "select bid, bbalance from pgbench_branches where bid = ?": 40,  # unnamed, then prepared (_pg3_0)
    "select count(*) from pgbench_tellers where tid > ?": 20,  # prepare=False: always unnamed
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
PAIRED_FP = "select count(*) from pgbench_branches where bid in (?+)"


def _psycopg_client(pg: PostgreSQL) -> None:
    import psycopg

    with psycopg.connect(host=str(pg.socket_dir), port=pg.port, user="postgres", dbname="bench",
                         autocommit=True) as conn:
        for i in range(PSYCOPG_CLASSES["select bid, bbalance from pgbench_branches where bid = ?"]):
            conn.execute("SELECT bid, bbalance FROM pgbench_branches WHERE bid = %s", (1 + i % 1,)).fetchall()
        for i in range(PSYCOPG_CLASSES["select count(*) from pgbench_tellers where tid > ?"]):
            conn.execute("SELECT count(*) FROM pgbench_tellers WHERE tid > %s", (i,), prepare=False).fetchall()


@pytest.fixture(scope="module")
def pg_logs(tmp_path_factory) -> dict[str, Path]:
    """{'stderr'|'csvlog'|'jsonlog': path}: one workload, the three formats of the same messages."""
    out_dir = tmp_path_factory.mktemp("pg")
    settings = {"logging_collector": "on", "log_destination": "stderr,csvlog,jsonlog", "log_directory": "log",
                "log_filename": "postgresql", "log_rotation_age": "0", "log_rotation_size": "0"}
    with PostgreSQL(prefix=RDS_PREFIX, settings=settings) as pg:
        pg.psql("CREATE DATABASE bench", check=True)
        pg.pgbench("-i", "-s", "1", "bench")
        pg.pgbench("-M", "simple", "-c", "2", "-t", "150", "bench")
        pg.pgbench("-M", "extended", "-c", "2", "-t", "100", "bench")
        pg.pgbench("-M", "prepared", "-c", "2", "-t", "100", "bench")
        try:
            _psycopg_client(pg)
            have_psycopg = True
        except ImportError:
            have_psycopg = False
        r = pg.psql(PSQL_SCRIPT, "bench")
        assert b"no_such_column" in r.stderr  # the error really happened
        pg.stop()
        logs = {}
        for fmt, suffix in (("stderr", ""), ("csvlog", ".csv"), ("jsonlog", ".json")):
            logs[fmt] = out_dir / f"postgresql.log.2026-11-24-10{suffix}"
            shutil.copyfile(pg.datadir / "log" / f"postgresql{suffix}", logs[fmt])
    logs["psycopg"] = have_psycopg
    return logs


@pytest.fixture(scope="module")
def pg_log(pg_logs) -> Path:
    return pg_logs["stderr"]


def parse(path: Path):
    parsed = parse_log(path, instance="pg-real")
    rows = parsed.read_all().to_pylist()
    assert parsed.stats.accounted
    return rows, parsed.stats


def step(row) -> str:
    return dict(row["extra_text"])["step"]


def extra(row, key):
    return dict(row["extra"] or []).get(key)


@pytest.fixture(scope="module")
def parsed(pg_log):
    return parse(pg_log)


def test_log_shape(parsed, pg_logs):
    rows, stats = parsed
    assert stats.engine == "postgres" and stats.rejected == 0
    assert stats.skipped_bytes > 0  # startup, shutdown, parse/bind lines, ERROR + STATEMENT, log_statement lines
    steps = collections.Counter(step(r) for r in rows)
    assert set(steps) == {"statement", "execute"}  # one event per execution, never one per parse or bind
    assert steps["execute"] >= 1400 * 2
    assert {r["user"] for r in rows} == {"postgres"}
    assert {r["host"] for r in rows} == {"[local]"} and all(r["ip"] is None for r in rows)
    assert {r["db"] for r in rows} >= {"bench", "postgres"}
    by_fp = collections.Counter(r["fingerprint"] for r in rows)
    for fp in PGBENCH_CLASSES:
        assert by_fp[fp] == PER_CLASS + (fp == "begin"), fp  # pgbench -i adds one BEGIN of its own
    if pg_logs["psycopg"]:
        for fp, n in PSYCOPG_CLASSES.items():
            assert by_fp[fp] == n, fp
    executes = [r for r in rows if step(r) == "execute"]
    named = [r for r in executes if dict(r["extra_text"]).get("statement_name", "").startswith("P_")]
    unnamed = [r for r in executes if dict(r["extra_text"]).get("statement_name") == "<unnamed>"]
    assert len(named) == 7 * 200 and len(unnamed) >= 7 * 200
    # extended: every execute has its own parse and bind; prepared: bind on each, parse on the first only
    assert all(extra(r, "parse_time") is not None and extra(r, "bind_time") is not None for r in unnamed)
    assert all(extra(r, "bind_time") is not None for r in named)
    assert sum(extra(r, "parse_time") is not None for r in named) == 7 * 2  # 7 statements x 2 clients
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
    paired = [r for r in rows if r["fingerprint"] == PAIRED_FP]
    assert len(paired) == 2 and all(r["query_time"] > 0 for r in paired)


def _pgbadger(log: Path, out: Path, *args: str) -> dict:
    subprocess.run(["pgbadger", "-q", *args, "-x", "json", "-o", str(out), str(log)],
                   check=True, capture_output=True, timeout=300)
    return json.loads(out.read_text())


def _compare_with_pgbadger(rows, report, label: str) -> None:
    overall = report["overall_stat"]["postgres"]
    durations = overall["queries_duration"]
    ours_ms = math.fsum(r["query_time"] for r in rows) * 1000
    parse_ms = math.fsum(extra(r, "parse_time") or 0 for r in rows) * 1000
    bind_ms = math.fsum(extra(r, "bind_time") or 0 for r in rows) * 1000
    print(f"\n[{label}] pgBadger: queries={overall['queries_number']} execute_ms={durations['execute']:.3f} "
          f"prepare_ms={durations.get('prepare', 0):.3f} bind_ms={durations.get('bind', 0):.3f}")
    print(f"[{label}] slowlog : events={len(rows)} execute_ms={ours_ms:.3f} parse_ms={parse_ms:.3f} bind_ms={bind_ms:.3f}")
    # A log_statement line and its lone "duration: X ms" line count as two queries in pgBadger (the
    # class gets the statement with duration 0, the total gets the duration); we pair them into one event.
    paired = [r for r in rows if r["fingerprint"] == PAIRED_FP]
    assert overall["queries_number"] == len(rows) + len(paired)
    assert (durations.get("prepare") or 0) == pytest.approx(parse_ms, abs=0.01)
    assert (durations.get("bind") or 0) == pytest.approx(bind_ms, abs=0.01)
    # per class: pgBadger's normalized statements, mapped through our fingerprint
    theirs: collections.Counter = collections.Counter()
    theirs_ms: collections.Counter = collections.Counter()
    for text, info in report["normalyzed_info"]["postgres"].items():
        theirs[fingerprint_pg(text)] += info["count"]
        theirs_ms[fingerprint_pg(text)] += info.get("duration") or 0
    ours = collections.Counter(r["fingerprint"] for r in rows)
    ours_cls_ms: collections.Counter = collections.Counter()
    for r in rows:
        ours_cls_ms[r["fingerprint"]] += r["query_time"] * 1000
    for fp in sorted(set(theirs) | set(ours)):
        print(f"  {theirs[fp]:5d} {ours[fp]:5d}  {theirs_ms[fp]:9.3f} {ours_cls_ms[fp]:9.3f}  {fp[:90]}")
    for fp in PGBENCH_CLASSES:
        assert theirs[fp] == ours[fp] == PER_CLASS + (fp == "begin"), fp
        assert theirs_ms[fp] == pytest.approx(ours_cls_ms[fp], abs=0.01), fp
    # every class: same count and same total, except the log_statement pairs (see above; pgBadger's
    # class has the statement lines with duration 0 and also counts the lone durations). pgBadger's
    # normalization drops a `$1` at the very end of a PREPARE ("... where aid = $1" -> "... where aid ="):
    # classes are compared without a trailing " ?".
    def fold(counter):
        out = collections.Counter()
        for fp, v in counter.items():
            out[fp[:-2] if fp.endswith(" ?") else fp] += v
        return out

    theirs, theirs_ms, ours, ours_cls_ms = fold(theirs), fold(theirs_ms), fold(ours), fold(ours_cls_ms)
    for fp in set(theirs) | set(ours):
        if fp == PAIRED_FP:
            # stderr/jsonlog: pgBadger's class has duration 0; csvlog: it also gives the class some of
            # the lone durations, which its total then counts twice
            assert theirs[fp] == ours[fp] == 2 and theirs_ms[fp] <= ours_cls_ms[fp] + 0.01
            assert durations["execute"] == pytest.approx(ours_ms + theirs_ms[fp], abs=0.01)
            continue
        assert theirs[fp] == ours[fp], fp
        assert theirs_ms[fp] == pytest.approx(ours_cls_ms[fp], abs=0.01), fp


@needs_pgbadger
def test_parity_with_pgbadger(pg_log, parsed, tmp_path):
    rows, _ = parsed
    report = _pgbadger(pg_log, tmp_path / "pgbadger.json", "-f", "stderr", "--prefix", RDS_PREFIX)
    _compare_with_pgbadger(rows, report, "stderr")


@pytest.mark.parametrize("fmt", ["csvlog", "jsonlog"])
def test_csvlog_and_jsonlog_give_the_same_events(pg_logs, parsed, fmt):
    rows, _ = parsed
    other, stats = parse(pg_logs[fmt])
    assert stats.engine == "postgres" and stats.rejected == 0 and stats.events == len(rows)

    def key(r):
        return (r["thread_id"], r["user"], r["db"], r["query"].replace("\n\t", "\n"), r["query_time"], step(r),
                dict(r["extra_text"]).get("parameters", "").replace("\n\t", "\n"),
                extra(r, "parse_time"), extra(r, "bind_time"), r["fingerprint"])

    # the same events (the collector may interleave concurrent backends' lines differently per file)
    assert sorted(map(key, other), key=repr) == sorted(map(key, rows), key=repr)
    # csvlog/jsonlog times have milliseconds, the RDS prefix's %t whole seconds (the server formats
    # them apart: %t may be a second behind)
    def times(rs, tab):
        out = collections.defaultdict(list)
        for r in rs:
            out[(r["thread_id"], r["query"].replace("\n", "\n\t") if tab else r["query"])].append(r["ts"])
        return out

    ours, theirs = times(rows, False), times(other, True)
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert all(abs((a - b).total_seconds()) < 2 for a, b in zip(sorted(ours[k]), sorted(theirs[k]))), k


@needs_pgbadger
@pytest.mark.parametrize("fmt", ["csvlog", "jsonlog"])
def test_csvlog_and_jsonlog_parity_with_pgbadger(pg_logs, tmp_path, fmt):
    rows, _ = parse(pg_logs[fmt])
    report = _pgbadger(pg_logs[fmt], tmp_path / "pgbadger.json", "-f", {"csvlog": "csv", "jsonlog": "jsonlog"}[fmt])
    _compare_with_pgbadger(rows, report, fmt)


def test_cli_digest_on_real_log(pg_log, parsed):
    rows, _ = parsed
    out = subprocess.run([str(Path(sys.executable).parent / "slowlog"), "digest", "--compact", str(pg_log)],
                         capture_output=True, check=True)
    doc = json.loads(out.stdout)
    assert doc["events"] == len(rows) and doc["rejected"] == 0
    classes = {c["fingerprint"]: c for c in doc["classes"]}
    for fp in PGBENCH_CLASSES:
        # executions only: simple, extended and prepared executions of one statement share a class
        assert classes[fp]["count"] == PER_CLASS + (fp == "begin"), fp
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
