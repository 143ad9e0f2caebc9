"""PostgreSQL log variants the first parsers misread (issue 25, "second set of public logs"), each on a
real or public log, each read alike by the C path and the pure-Python path:

* log_error_verbosity = verbose (SQLSTATE after the severity, a LOCATION line after each message),
* a log_line_prefix that ends in a separator ('%m|%u|%d|%c|'),
* csvlog whose first records span several lines (auto_explain plans in a quoted field),
  these three captured from a real server (tests/support/postgres.py);
* syslog headers in other styles (BSD time with fractional seconds, a leading year, RFC 5424): pgBadger's
  public syslog fixture with its headers rewritten into each style, read as the original is;
* CloudNativePG's JSON log: pgBadger's public fixture (tests/data/postgres/SOURCES.md).
"""
from __future__ import annotations

import bz2
import gzip
import json
import math
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from dagster_project.slowlog.engines import postgres as pg_engine
from dagster_project.slowlog.engines.postgres import PostgresLogParser, detect_format
from dagster_project.slowlog.parse import detect_engine, parse_log
from tests.support.corpus import REPO
from tests.support.postgres import RDS_PREFIX, PostgreSQL

needs_pgbadger = pytest.mark.skipif(shutil.which("pgbadger") is None,
                                    reason="pgbadger not installed (scripts/system-deps.sh)")
needs_server = pytest.mark.skipif(not PostgreSQL.available(),
                                  reason="PostgreSQL server binaries not installed (scripts/system-deps.sh)")

DATA = REPO / "tests" / "data" / "postgres"
SYSLOG_FIXTURE = REPO / "tests" / "fixtures" / "pgbadger" / "pg-syslog.1.bz2"
COLUMNS = ("ts", "user", "host", "db", "thread_id", "query_time", "query", "fingerprint", "source_offset")

# what the workload below runs: every statement is an event with this text (psql sends it as written)
WORKLOAD = [
    "SELECT 1;",
    "SELECT c.relname,\n       n.nspname\n  FROM pg_class c\n  JOIN pg_namespace n ON n.oid = c.relnamespace\n"
    " WHERE c.relkind = 'r'\n ORDER BY 1, 2\n LIMIT 5;",
    "SELECT count(*) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid WHERE a.attnum > 0;",
    "SELECT t.typname FROM pg_type t WHERE t.oid IN (SELECT atttypid FROM pg_attribute) ORDER BY 1 LIMIT 3;",
]
SCRIPT = "".join(q + "\n" for q in WORKLOAD * 5) + "SELECT no_such_column;\n"


def _rows(path: Path, python: bool, monkeypatch) -> tuple[list[dict], object]:
    with monkeypatch.context() as m:
        if python:
            m.setattr(pg_engine, "_c_pg_starts", None)
        parsed = parse_log(path, instance="variants", engine="postgres")
        rows = [{k: r[k] for k in COLUMNS} for r in parsed.read_all().to_pylist()]
    assert parsed.stats.accounted
    return rows, parsed.stats


def _both_paths(path: Path, monkeypatch) -> tuple[list[dict], object]:
    """The events of `path` read by the C path and the pure-Python path: the same, row for row."""
    rows, stats = _rows(path, False, monkeypatch)
    py_rows, py_stats = _rows(path, True, monkeypatch)
    assert rows == py_rows
    assert (stats.rejected, stats.skipped_bytes) == (py_stats.rejected, py_stats.skipped_bytes)
    return rows, stats


def _takes_c_path(path: Path) -> bool:
    parser = PostgresLogParser()
    buf = path.read_bytes()
    parser.starts(buf, 0, len(buf))
    return parser._scan is not None  # the C scan's line records: None when the regexes read it


def _pgbadger_totals(log: Path, out: Path, *args: str) -> tuple[int, float]:
    """(queries, their milliseconds) as the installed pgBadger counts them."""
    subprocess.run(["pgbadger", "-q", *args, "-x", "json", "-o", str(out), str(log)],
                   check=True, capture_output=True, timeout=300)
    overall = json.loads(out.read_text())["overall_stat"]["postgres"]
    return overall["queries_number"], overall["queries_duration"]["execute"]


def _totals(rows) -> tuple[int, float]:
    return len(rows), round(math.fsum(r["query_time"] for r in rows) * 1000, 3)


# -- captured from a real server ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server_logs(tmp_path_factory) -> dict[str, Path]:
    if not PostgreSQL.available():
        pytest.skip("PostgreSQL server binaries not installed (scripts/system-deps.sh)")
    out = tmp_path_factory.mktemp("pg-variants")
    logs = {}
    runs = {
        "verbose-debian": ("%m [%p] %q%u@%d ", {"log_error_verbosity": "verbose"}),
        "verbose-rds": (RDS_PREFIX, {"log_error_verbosity": "verbose"}),
        "pipe": ("%m|%u|%d|%c|", {}),
    }
    for name, (prefix, settings) in runs.items():
        with PostgreSQL(prefix=prefix, settings=settings) as pg:
            pg.psql(SCRIPT)
            pg.stop()
            logs[name] = out / f"{name}.log"
            logs[name].write_bytes(pg.log_path.read_bytes())
    # csvlog with auto_explain: the plan of every statement is a multi-line quoted field. The log is
    # rotated before the workload, so that the file begins with those records, as a rotated log does.
    csv_settings = {"logging_collector": "on", "log_destination": "csvlog", "log_directory": "log",
                    "log_filename": "pg-%s.log", "log_rotation_age": "0", "log_rotation_size": "0",
                    "session_preload_libraries": "auto_explain", "auto_explain.log_min_duration": "0"}
    with PostgreSQL(settings=csv_settings) as pg:
        time.sleep(1.1)  # the next file's name (epoch seconds) differs from the first one's
        pg.psql("SELECT pg_rotate_logfile();")
        time.sleep(0.5)
        pg.psql(SCRIPT)
        pg.stop()
        newest = sorted((pg.datadir / "log").glob("pg-*.csv"))[-1]
        logs["csvlog"] = out / "postgresql.csv"
        logs["csvlog"].write_bytes(newest.read_bytes())
    return logs


def _assert_workload(rows) -> None:
    assert [r["query"].replace("\n\t", "\n") for r in rows] == WORKLOAD * 5
    assert all(r["user"] == "postgres" and r["db"] == "postgres" for r in rows)
    assert all(r["query_time"] > 0 and r["ts"] is not None for r in rows)


@needs_server
@pytest.mark.parametrize("name", ["verbose-debian", "verbose-rds"])
def test_verbose_error_verbosity(server_logs, name, monkeypatch):
    """'LOG:  00000: duration: ...' was skipped (0 events, 0 rejected); the LOCATION line after each
    message stays out of the statement and is no record of its own."""
    log = server_logs[name]
    text = log.read_bytes()
    assert b"LOG:  00000: duration: " in text and b"LOCATION:  exec_simple_query, postgres.c:" in text
    assert _takes_c_path(log)  # RDS's and Debian's layouts: the C scan reads them
    rows, stats = _both_paths(log, monkeypatch)
    _assert_workload(rows)
    assert not any("LOCATION" in r["query"] or "00000" in r["query"] for r in rows)
    assert stats.rejected == 0


@needs_server
@needs_pgbadger
@pytest.mark.parametrize("name, args", [("verbose-debian", ()), ("verbose-rds", ()),
                                        ("pipe", ("-p", "%m|%u|%d|%c|"))])
def test_variants_parity_with_pgbadger(server_logs, name, args, tmp_path, monkeypatch):
    rows, _ = _both_paths(server_logs[name], monkeypatch)
    assert _pgbadger_totals(server_logs[name], tmp_path / "out.json", *args) == pytest.approx(_totals(rows))


@needs_server
def test_prefix_ending_in_a_separator(server_logs, monkeypatch):
    """'%m|%u|%d|%c|LOG:  ...' was not read by the prefix detection: every entry rejected. The pid
    comes from the session id (%c: start time and pid, in hex)."""
    rows, stats = _both_paths(server_logs["pipe"], monkeypatch)
    assert stats.rejected == 0
    assert [r["query"].replace("\n\t", "\n") for r in rows] == WORKLOAD * 5
    session = re.search(rb"\|postgres\|postgres\|[0-9a-f]{8}\.([0-9a-f]+)\|LOG:  duration",
                        server_logs["pipe"].read_bytes())
    assert {r["thread_id"] for r in rows} == {int(session.group(1), 16)}


@needs_server
def test_prefix_ending_in_a_separator_given_explicitly(server_logs, monkeypatch):
    """The prefix given in log_line_prefix syntax also reads the user and database (and the pid in %c)."""
    detected, _ = _rows(server_logs["pipe"], True, monkeypatch)
    monkeypatch.setenv("SLOWLOG_PG_PREFIX", "%m|%u|%d|%c|")
    rows, stats = _both_paths(server_logs["pipe"], monkeypatch)
    _assert_workload(rows)
    assert stats.rejected == 0
    assert [r["thread_id"] for r in rows] == [r["thread_id"] for r in detected] and rows[0]["thread_id"]


@needs_server
def test_csvlog_beginning_with_multiline_records(server_logs, tmp_path, monkeypatch):
    """auto_explain plans (quoted, multi-line) at the start of a csvlog: it was read as stderr and
    every record rejected."""
    log = server_logs["csvlog"]
    head = log.read_bytes()[:65536]
    first = head.split(b"\n")[:50]
    # the premise: most of the first lines are inside a record, not the start of one
    assert sum(1 for l in first if re.match(rb"\d{4}-\d\d-\d\d ", l)) * 2 < len(first)
    assert b"plan:\nQuery Text: " in head
    assert detect_format(head) == "csvlog"
    rows, stats = _both_paths(log, monkeypatch)
    # the rotation's own statement may be logged after it, in this file
    _assert_workload([r for r in rows if r["query"] != "SELECT pg_rotate_logfile();"])
    assert stats.rejected == 0
    if shutil.which("pgbadger"):
        # pgBadger also counts each auto_explain "duration: X ms  plan:" record as a query (we skip them)
        plans = [float(ms) for ms in re.findall(rb',"duration: ([\d.]+) ms  plan:\n', log.read_bytes())]
        assert len(plans) >= len(rows)
        count, ms = _pgbadger_totals(log, tmp_path / "out.json", "-f", "csv")
        assert (count, ms) == pytest.approx((len(rows) + len(plans), _totals(rows)[1] + math.fsum(plans)))


# -- public logs ----------------------------------------------------------------------------------------

_MONTH = {m: i for i, m in enumerate(b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_BSD_HEAD = re.compile(rb"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (\S+) (\w+)\[(\d+)\]: ", re.M)


def _restyle(text: bytes, style: str) -> bytes:
    """pgBadger's syslog fixture with each header in another style (the milliseconds are the line's
    number, so that each line's time is known)."""
    number = iter(range(1 << 30))

    def header(m) -> bytes:
        ts, host, ident, pid = m.groups()
        ms = b"%03d" % (next(number) % 1000)
        if style == "bsd-fractional":
            return b"%s.%s %s %s[%s]: " % (ts, ms, host, ident, pid)
        if style == "leading-year":
            return b"2019 %s %s %s[%s]: " % (ts, host, ident, pid)
        iso = b"2019-%02d-%02dT%s.%sZ" % (_MONTH[ts[:3]], int(ts[4:6]), ts[7:], ms)
        return b"<134>1 %s %s %s %s - - " % (iso, host, ident, pid)

    return _BSD_HEAD.sub(header, text)


@pytest.mark.parametrize("style", ["bsd-fractional", "leading-year", "rfc5424"])
def test_syslog_header_styles(style, tmp_path, monkeypatch):
    """Other header styles were not stripped from continuation lines (header text inside statements,
    statements that begin on the next line lost): each reads as the original does."""
    text = b"\n".join(bz2.decompress(SYSLOG_FIXTURE.read_bytes()).split(b"\n")[:6000]) + b"\n"
    original, restyled = tmp_path / "original.log", tmp_path / f"{style}.log"
    original.write_bytes(text)
    restyled.write_bytes(_restyle(text, style))
    want, want_stats = _both_paths(original, monkeypatch)
    got, stats = _both_paths(restyled, monkeypatch)
    assert stats.rejected == want_stats.rejected == 0
    assert len(got) == len(want) > 1000
    assert any("\n" in r["query"] for r in got)  # continuation lines, their headers stripped
    same = ("user", "db", "thread_id", "query_time", "query", "fingerprint")
    assert [{k: r[k] for k in same} for r in got] == [{k: r[k] for k in same} for r in want]
    for g, w in zip(got, want):
        assert (g["ts"].month, g["ts"].day, g["ts"].hour, g["ts"].minute, g["ts"].second) == \
               (w["ts"].month, w["ts"].day, w["ts"].hour, w["ts"].minute, w["ts"].second)
    if style != "bsd-fractional":
        assert {r["ts"].year for r in got} == {2019}  # the header's year, not a guessed one
    if style != "leading-year":
        assert len({r["ts"].microsecond for r in got}) > 100  # the fractional seconds are read


def test_cloudnativepg_json(monkeypatch):
    """CloudNativePG's log (pgBadger's fixture) was rejected line by line. pgBadger (its commit in
    SOURCES.md) counts 400 queries, 2370.85 ms; the instance manager's own lines are skipped."""
    rows, stats = _both_paths(DATA / "cnpg.log.gz", monkeypatch)
    assert stats.rejected == 0
    assert len(rows) == 400
    assert math.fsum(r["query_time"] for r in rows) * 1000 == pytest.approx(2370.85, abs=1e-6)
    assert {r["user"] for r in rows} >= {"postgres"} and all(r["thread_id"] for r in rows)
    assert all(r["ts"].year == 2022 for r in rows)


def test_cloudnativepg_json_is_recognised_without_durations():
    """The engine is told from CloudNativePG's envelope itself, not from a 'duration: ' further on
    (a log of connections and checkpoints only would have been taken for MySQL)."""
    lines = gzip.decompress((DATA / "cnpg.log.gz").read_bytes()).split(b"\n")
    head = b"\n".join(l for l in lines if b"duration: " not in l and b"statement: " not in l)[:65536]
    assert b'"logger":"postgres"' in head
    assert detect_engine(head) == "postgres"
