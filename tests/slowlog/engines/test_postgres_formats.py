"""PostgreSQL log formats other than stderr with a known prefix: syslog, csvlog, jsonlog, lines whose
prefix does not parse, and export formats we do not read (rejected with one line naming them).

Real data: pgBadger's own test logs (the shared corpus, and tests/fixtures/pgbadger/pg-syslog.1.bz2,
see tests/fixtures/pgbadger/SOURCES.md); the csvlog/jsonlog captures of a real server are in
tests/slowlog/engines/test_postgres_real.py. pgBadger 12.0 is run live where it is installed.
"""
from __future__ import annotations

import bz2
import collections
import io
import json
import math
import re
import shutil
import subprocess

import pytest

from dagster_project.slowlog.engines.postgres import detect_format
from dagster_project.slowlog.fingerprint_pg import fingerprint_pg
from dagster_project.slowlog.parse import detect_engine, parse_log
from tests.support.corpus import CORPUS, PGBADGER_FIXTURES

PGBADGER = CORPUS / "pgbadger" / "fixtures"
FIXTURES = PGBADGER_FIXTURES
SYSLOG = FIXTURES / "pg-syslog.1.bz2"
PGBENCH = {
    "begin", "end",
    "update pgbench_accounts set abalance = abalance + ? where aid = ?",
    "select abalance from pgbench_accounts where aid = ?",
    "update pgbench_tellers set tbalance = tbalance + ? where tid = ?",
    "update pgbench_branches set bbalance = bbalance + ? where bid = ?",
    "insert into pgbench_history (tid, bid, aid, delta, mtime) values (?, ?, ?, ?, current_timestamp)",
}


def parse(data: bytes, chunk_size: int | None = None, engine: str = "auto"):
    parsed = parse_log(io.BytesIO(data), engine=engine, instance="pg-1", source_file="postgresql.log",
                       chunk_size=chunk_size)
    rows = parsed.read_all().to_pylist()
    assert parsed.stats.accounted, parsed.stats.as_dict()
    return rows, parsed.stats


def et(row) -> dict:
    return dict(row["extra_text"] or [])


@pytest.fixture(scope="module")
def syslog_data() -> bytes:
    return bz2.decompress(SYSLOG.read_bytes())


# -- syslog ------------------------------------------------------------------------------------------

# pgBadger 12.0: `pgbadger -f syslog -x json pg-syslog.1` -> queries_number 59871, execute 16955.939 ms
SYSLOG_QUERIES = 59871
SYSLOG_MS = 16955.939


def test_syslog_fixture(syslog_data):
    assert detect_format(syslog_data) == "syslog" and detect_engine(syslog_data[:65536]) == "postgres"
    rows, stats = parse(syslog_data)
    assert stats.engine == "postgres" and stats.rejected == 0
    assert stats.events == SYSLOG_QUERIES
    assert math.fsum(r["query_time"] for r in rows) * 1000 == pytest.approx(SYSLOG_MS, abs=0.001)
    counts = collections.Counter(r["fingerprint"] for r in rows)
    for fp in PGBENCH:
        assert counts[fp] == 8552, fp
    # no syslog header text in any query or class, no empty class
    assert not any("test-pc" in r["query"] or "postgres[" in r["query"] or "#011" in r["query"] for r in rows)
    assert all(r["fingerprint"].strip() for r in rows)
    first = rows[0]
    assert first["query"].startswith('SELECT d.datname as "Name",\n\t       pg_catalog.pg_get_userbyid(d.datdba)')
    assert first["query"].endswith("\n\tFROM pg_catalog.pg_database d\n\tORDER BY 1;")
    assert (first["user"], first["db"], first["thread_id"], et(first)["application"]) == ("postgres", "postgres", 10819, "psql")
    assert (first["ts"].month, first["ts"].day, first["ts"].hour, first["ts"].second) == (2, 11, 13, 40)


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("pgbadger") is None, reason="pgbadger not installed (scripts/system-deps.sh)")
def test_syslog_fixture_per_class_parity_with_live_pgbadger(syslog_data, tmp_path):
    log = tmp_path / "pg-syslog.1"
    log.write_bytes(syslog_data)
    out = tmp_path / "out.json"
    subprocess.run(["pgbadger", "-q", "-f", "syslog", "-x", "json", "-o", str(out), str(log)], check=True,
                   capture_output=True, timeout=300)
    report = json.loads(out.read_text())
    rows, _ = parse(syslog_data)
    overall = report["overall_stat"]["postgres"]
    assert overall["queries_number"] == len(rows)
    assert overall["queries_duration"]["execute"] == pytest.approx(math.fsum(r["query_time"] for r in rows) * 1000, abs=0.01)
    theirs, theirs_ms = collections.Counter(), collections.Counter()
    for text, info in report["normalyzed_info"]["postgres"].items():
        theirs[fingerprint_pg(text)] += info["count"]
        theirs_ms[fingerprint_pg(text)] += info.get("duration") or 0
    ours, ours_ms = collections.Counter(), collections.Counter()
    for r in rows:
        ours[r["fingerprint"]] += 1
        ours_ms[r["fingerprint"]] += r["query_time"] * 1000
    for fp in PGBENCH:
        assert ours[fp] == theirs[fp] == 8552 and ours_ms[fp] == pytest.approx(theirs_ms[fp], abs=0.01), fp
    # every class: same count and total (pgBadger's normalized text of E'\n' does not re-fingerprint
    # to the same class name, so classes are matched by their figures)
    assert sorted((n, round(ours_ms[fp], 2)) for fp, n in ours.items()) == \
        sorted((n, round(theirs_ms[fp], 2)) for fp, n in theirs.items())


def _syslog_entry(data: bytes, pid: bytes) -> list[bytes]:
    """The lines of the first statement of one process in the fixture."""
    lines = data.splitlines(keepends=True)
    i = next(k for k, l in enumerate(lines) if b"[" + pid + b"]: [7-1]" in l)
    j = i + 1
    while b"[" + pid + b"]: [7-" in lines[j]:
        j += 1
    return lines[i:j]


def test_syslog_unsplit_message_with_escaped_newlines(syslog_data):
    # syslog_split_messages=off: the whole message is one syslog line, rsyslog writes LF/TAB as #012/#011
    entry = _syslog_entry(syslog_data, b"10819")
    head = entry[0].rstrip(b"\n")
    rest = [re.sub(rb"^.*?\]: \[\d+-\d+\] ", b"", l).rstrip(b"\n") for l in entry[1:]]  # "#011 ..." after "[7-n] "
    joined = head + b"".join(b"#012" + r for r in rest) + b"\n"
    split_rows, _ = parse(b"".join(entry))
    rows, stats = parse(joined)
    assert stats.events == 1 and stats.rejected == 0
    assert rows[0]["query"] == split_rows[0]["query"]
    assert rows[0]["fingerprint"] == split_rows[0]["fingerprint"] and "#01" not in rows[0]["fingerprint"]


def test_syslog_interleaved_continuation_lines(syslog_data):
    # another backend's message between two parts of a multi-line statement (syslog does not keep them
    # together): each statement gets its own parts, headers stripped
    a = _syslog_entry(syslog_data, b"10819")
    b = _syslog_entry(syslog_data, b"10822")
    mixed = a[:2] + b[:1] + a[2:] + b[1:]
    rows_a, _ = parse(b"".join(a))
    rows_b, _ = parse(b"".join(b))
    rows, stats = parse(b"".join(mixed))
    assert stats.events == 2 and stats.rejected == 0
    assert [r["query"] for r in rows] == [rows_a[0]["query"], rows_b[0]["query"]]
    assert [r["thread_id"] for r in rows] == [10819, 10822]


@pytest.mark.parametrize("chunk", [4096, 65536])
def test_syslog_chunking(syslog_data, chunk):
    data = syslog_data[:300_000]
    whole, s1 = parse(data)
    pieces, s2 = parse(data, chunk_size=chunk)
    assert [r["query"] for r in pieces] == [r["query"] for r in whole]
    assert (s1.events, s1.skipped_bytes, s1.rejected) == (s2.events, s2.skipped_bytes, s2.rejected)


# -- a line whose prefix does not parse ----------------------------------------------------------

LENIENT = (
    "2021-12-03 07:14:48.591 UTC [4913] user=user1,db=mydb LOG:  duration: 1.5 ms  statement: SELECT a,\n"
    "\tb FROM t\n"
    "2021-12-03 07:14:48.600 UTC [12360] badclient@FATAL:  no pg_hba.conf entry for host \"[local]\", user \"badclient\"\n"
    "2021-12-03 07:14:48.700 UTC [4913] user=user1,db=mydb LOG:  duration: 2.5 ms  statement: SELECT c FROM u\n"
    "2021-12-03 07:14:48.800 UTC [12361] oops@LOG:  duration: 3.5 ms  statement: SELECT d FROM v\n"
    "2021-12-03 07:14:48.900 UTC [4913] user=user1,db=mydb LOG:  duration: 4.5 ms  statement: SELECT e FROM w\n"
).encode()


@pytest.mark.parametrize("chunk", [None, 64, 200])
def test_unparseable_prefix_is_not_glued_to_the_previous_statement(chunk):
    rows, stats = parse(LENIENT, chunk_size=chunk)
    assert [r["query"] for r in rows] == ["SELECT a,\n\tb FROM t", "SELECT c FROM u", "SELECT e FROM w"]
    assert [r["fingerprint"] for r in rows] == ["select a, b from t", "select c from u", "select e from w"]
    lines = LENIENT.splitlines(keepends=True)
    # the FATAL line: skipped (not a query); a query line we cannot read: rejected, with a sample
    assert stats.skipped_bytes == len(lines[2])
    assert stats.rejected == 1 and stats.rejected_bytes == len(lines[4])
    assert "oops@LOG:  duration: 3.5 ms" in stats.rejected_samples[0]


# -- csvlog / jsonlog ----------------------------------------------------------------------------------

def test_pgbadger_csvlog_fixture():
    # pgBadger t/07_csv_statement_duration.t: the execute keeps 688786.283 ms; the statement-only line
    # (log_statement, never followed by a duration) is not a timed query
    data = (PGBADGER / "csv_statement_without_duration.log").read_bytes()
    assert detect_format(data) == "csvlog" and detect_engine(data) == "postgres"
    rows, stats = parse(data)
    assert stats.rejected == 0 and stats.events == 1
    (row,) = rows
    assert row["query_time"] == pytest.approx(688.786283)
    assert row["query"] == "SELECT example_schema.slow_table.id FROM example_schema.slow_table"
    assert et(row) == {"step": "execute", "statement_name": "stmt_slow/stmt_slow", "application": "example app"}
    assert (row["user"], row["db"], row["thread_id"], row["host"], row["ip"]) == (
        "example_user", "example_db", 1001, "192.0.2.10", "192.0.2.10")
    assert dict(row["extra"]) == {"port": 54321.0}


def test_csvlog_multiline_quoted_message_and_chunks():
    log = (
        '2026-11-24 10:00:00.123 UTC,"app","shop",77,"10.0.0.5:5000",6571a2b3.4d,1,"SELECT",'
        '2026-11-24 09:00:00 UTC,3/1,0,LOG,00000,"duration: 1.250 ms  statement: SELECT ""x"",\n'
        '  2026-11-24 10:00:00 AS y, \'a\' AS z\nFROM t",,,,,,,,,"psql","client backend",,0\n'
        '2026-11-24 10:00:01.000 UTC,"app","shop",77,"10.0.0.5:5000",6571a2b3.4d,2,"idle",'
        '2026-11-24 09:00:00 UTC,3/2,0,LOG,00000,"checkpoint starting: time",,,,,,,,,"","checkpointer",,0\n'
    ).encode()
    for chunk in (None, 50, 120):
        rows, stats = parse(log, chunk_size=chunk)
        assert stats.events == 1 and stats.rejected == 0
        # a continuation line that starts with a timestamp inside a quoted field is not a record
        assert rows[0]["query"] == 'SELECT "x",\n  2026-11-24 10:00:00 AS y, \'a\' AS z\nFROM t'
        assert rows[0]["fingerprint"] == 'select "x", ?-?-? ?:?:? as y, ? as z from t'


def test_jsonlog_records():
    recs = [
        {"timestamp": "2026-11-24 10:00:00.500 UTC", "user": "app", "dbname": "shop", "pid": 9, "remote_host": "[local]",
         "error_severity": "LOG", "message": "duration: 0.300 ms  parse <unnamed>: SELECT $1", "backend_type": "client backend"},
        {"timestamp": "2026-11-24 10:00:00.501 UTC", "user": "app", "dbname": "shop", "pid": 9, "remote_host": "[local]",
         "error_severity": "LOG", "message": "duration: 0.100 ms  bind <unnamed>: SELECT $1",
         "detail": "parameters: $1 = '5'"},
        {"timestamp": "2026-11-24 10:00:00.502 UTC", "user": "app", "dbname": "shop", "pid": 9, "remote_host": "[local]",
         "error_severity": "LOG", "message": "duration: 0.200 ms  execute <unnamed>: SELECT $1",
         "detail": "parameters: $1 = '5'", "application_name": "psycopg"},
    ]
    log = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in recs).encode() + b"not json\n"
    assert detect_format(log) == "jsonlog" and detect_engine(log) == "postgres"
    rows, stats = parse(log)
    assert stats.events == 1 and stats.rejected == 1 and stats.rejected_bytes == len(b"not json\n")
    (row,) = rows
    assert row["query"] == "SELECT $1" and row["query_time"] == pytest.approx(0.0002)
    assert dict(row["extra"]) == {"parse_time": pytest.approx(0.0003), "bind_time": pytest.approx(0.0001)}
    assert et(row) == {"step": "execute", "statement_name": "<unnamed>", "parameters": "$1 = '5'", "application": "psycopg"}
    assert row["ts"].isoformat() == "2026-11-24T10:00:00.502000+00:00" and row["host"] == "[local]"


# -- formats we do not read ------------------------------------------------------------------------

@pytest.mark.parametrize("name,fmt", [("cloudsql.log.gz", "cloudsql-json"), ("logplex.gz", "logplex")])
def test_unsupported_export_formats_are_rejected_with_one_clear_line(name, fmt):
    parsed = parse_log(PGBADGER / name, engine="postgres")
    rows = parsed.read_all().to_pylist()
    stats = parsed.stats
    assert rows == [] and stats.accounted and stats.rejected_bytes == stats.bytes_total
    assert stats.rejected_samples[0].startswith(f"postgres: {fmt} format is not supported")


def test_syslog_rfc3339_headers(syslog_data):
    # rsyslog's default file format on current distributions: RFC 3339 time with zone in the header
    months = {b"Feb": b"02"}
    head = syslog_data[:200_000]
    converted = re.sub(rb"(?m)^(Feb) (\d\d) (\d\d:\d\d:\d\d) ",
                       lambda m: b"2019-" + months[m.group(1)] + b"-" + m.group(2) + b"T" + m.group(3) + b".250+01:00 ",
                       head)
    assert converted != head
    a, sa = parse(head)
    b, sb = parse(converted)
    assert sb.rejected == sa.rejected == 0 and sb.events == sa.events > 0
    assert [(r["query"], r["query_time"], r["thread_id"]) for r in b] == [(r["query"], r["query_time"], r["thread_id"]) for r in a]
    assert b[0]["ts"].isoformat() == "2019-02-11T12:15:40.250000+00:00"


def test_log_statement_all_with_extended_protocol():
    # log_statement=all + log_min_duration_statement=0, extended protocol (what PostgreSQL 15 writes):
    # parse and bind are logged with their durations (log_statement does not print them), the execute
    # is printed by log_statement and its duration comes alone afterwards
    log = (
        "2026-11-24 10:00:00 UTC:[local]:app@shop:[9]:LOG:  duration: 0.300 ms  parse <unnamed>: SELECT $1\n"
        "2026-11-24 10:00:00 UTC:[local]:app@shop:[9]:LOG:  duration: 0.100 ms  bind <unnamed>: SELECT $1\n"
        "2026-11-24 10:00:00 UTC:[local]:app@shop:[9]:DETAIL:  parameters: $1 = '5'\n"
        "2026-11-24 10:00:00 UTC:[local]:app@shop:[9]:LOG:  execute <unnamed>: SELECT $1\n"
        "2026-11-24 10:00:00 UTC:[local]:app@shop:[9]:DETAIL:  parameters: $1 = '5'\n"
        "2026-11-24 10:00:01 UTC:[local]:app@shop:[9]:LOG:  duration: 0.200 ms\n"
    ).encode()
    for chunk in (None, 90, 200):
        rows, stats = parse(log, chunk_size=chunk)
        assert stats.events == 1 and stats.rejected == 0
        (row,) = rows
        assert (row["query"], row["query_time"]) == ("SELECT $1", pytest.approx(0.0002))
        assert dict(row["extra"]) == {"parse_time": pytest.approx(0.0003), "bind_time": pytest.approx(0.0001)}
        assert et(row) == {"step": "execute", "statement_name": "<unnamed>", "parameters": "$1 = '5'"}
        assert row["ts"].second == 1  # the duration line's time: when the execution ended
