"""The PostgreSQL C path (_speedups.c pg_starts / pg_region / fingerprint_pg_bytes) against the pure
Python path: same events row for row in every column, same ParseStats, same classes, on real logs
(the shared corpus, the repository's fixtures and sample estate, a live server's log), synthetic RDS
logs with every entry kind the C path reads or hands back, any chunk size, and mutated lines.

The Python path is forced by setting the module-level C entry points to None (what a machine
without a compiler gets): both are real implementations, compared with each other.
"""
from __future__ import annotations

import bz2
import gzip
import io
import re
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_project.slowlog import _speedups
from dagster_project.slowlog.engines import postgres as pg_engine
from dagster_project.slowlog.engines.postgres import PostgresLogParser
from dagster_project.slowlog.fingerprint_pg import fingerprint_pg, fingerprint_pg_cached
from dagster_project.slowlog.parse import parse_log
from tests.support.corpus import CORPUS, FILEBEAT, REPO

PG_LOGS = sorted(
    [p for p in (CORPUS / "pgbadger" / "fixtures").iterdir() if p.is_file()]
    + sorted((FILEBEAT / "postgresql-log").glob("*.log"))
    + [REPO / "tests" / "fixtures" / "pgbadger" / "pg-syslog.1.bz2"]
    + sorted((REPO / "dagster_project" / "sample_data" / "rds").rglob("postgresql.log.*")),
    key=str,
)
# logs in RDS's layout: the C path must really be taken on them (not a vacuous comparison)
RDS_LOGS = [p for p in PG_LOGS if p.name == "rds.log.bz2" or "sample_data" in p.parts]


def _load(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:3] == b"BZh":
        return bz2.decompress(data)
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    return data


class _Counting(PostgresLogParser):
    """Counts the buffers the C scan read and those it left to the regexes."""

    native_buffers = 0
    python_buffers = 0

    def starts(self, buf, begin, end):
        out = super().starts(buf, begin, end)
        if self._scan is not None:
            type(self).native_buffers += 1
        else:
            type(self).python_buffers += 1
        return out


def _parse(data: bytes, *, native: bool, chunk_size: int | None = None):
    """(table, stats) of a log through parse_log, with or without the C path."""
    saved = pg_engine._c_pg_starts
    if not native:
        pg_engine._c_pg_starts = None
    try:
        parsed = parse_log(io.BytesIO(data), engine="postgres", instance="pg-1", source_file="postgresql.log",
                           chunk_size=chunk_size)
        table = parsed.read_all()
    finally:
        pg_engine._c_pg_starts = saved
    assert parsed.stats.accounted, parsed.stats.as_dict()
    return table, parsed.stats.as_dict()


def assert_same(data: bytes, chunk_size: int | None = None) -> tuple[pa.Table, dict]:
    fast, fast_stats = _parse(data, native=True, chunk_size=chunk_size)
    slow, slow_stats = _parse(data, native=False, chunk_size=chunk_size)
    assert fast_stats == slow_stats
    assert fast.num_rows == slow.num_rows == fast_stats["events"]
    for name in slow.column_names:  # column by column: a failure names the column and the first row
        a, b = fast.column(name).to_pylist(), slow.column(name).to_pylist()
        if a != b:
            row = next(i for i in range(len(a)) if a[i] != b[i])
            raise AssertionError(f"column {name!r} differs at row {row}: C {a[row]!r} != Python {b[row]!r}")
    return fast, fast_stats


def _native_ran(data: bytes, monkeypatch) -> int:
    monkeypatch.setattr(_Counting, "native_buffers", 0)
    monkeypatch.setattr(_Counting, "python_buffers", 0)
    from dagster_project.slowlog.engines.base import ParseStats, sink_for, stream

    parser = _Counting()
    sink = sink_for(parser, instance="pg-1", source_file="x")
    for _ in stream(io.BytesIO(data), parser, sink, ParseStats()):
        pass
    return _Counting.native_buffers


# -- real logs -------------------------------------------------------------------------------------

def test_corpus_present():
    assert len(PG_LOGS) >= 20 and RDS_LOGS


@pytest.mark.parametrize("path", PG_LOGS, ids=lambda p: p.name)
def test_real_logs_same_events_and_stats(path):
    assert_same(_load(path))


@pytest.mark.parametrize("path", RDS_LOGS[:3], ids=lambda p: p.name)
def test_rds_logs_take_the_c_path(path, monkeypatch):
    assert _native_ran(_load(path), monkeypatch) > 0


def test_rds_corpus_log_odd_chunk_sizes():
    data = _load(CORPUS / "pgbadger" / "fixtures" / "rds.log.bz2")[: 3 << 20]
    for chunk in (65536 + 7, 300_001):
        table, stats = assert_same(data, chunk)
        assert stats["events"] > 1000


# -- synthetic RDS logs: every kind of entry the C path reads or leaves to Python -------------------

P = "2026-12-02 10:00:{s:02d}{frac} {tz}:{remote}:{user}@{db}:[{pid}]:"


def line(msg: str, *, s=0, frac="", tz="UTC", remote="10.0.0.5(51234)", user="app", db="shop", pid=100) -> str:
    return P.format(s=s, frac=frac, tz=tz, remote=remote, user=user, db=db, pid=pid) + msg + "\n"


SYNTHETIC = "".join([
    "garbage before the first line\n",
    line("LOG:  checkpoint starting: time", remote="", user="", db="", pid=7),
    line("LOG:  duration: 1.500 ms  statement: SELECT 1"),
    line("LOG:  duration: 2 ms  statement: SELECT a,\n\tb FROM t\n\tWHERE x = 'y'  ", frac=".123"),
    line("LOG:  duration: 0.010 ms  parse S_1: SELECT * FROM t WHERE id = $1", pid=101),
    line("LOG:  duration: 0.020 ms  bind S_1/C_1: SELECT * FROM t WHERE id = $1", pid=101),
    line("DETAIL:  parameters: $1 = '5'", pid=101),
    line("LOG:  duration: 0.300 ms  execute S_1/C_1: SELECT * FROM t WHERE id = $1", pid=101),
    line("DETAIL:  parameters: $1 = '5'", pid=101),
    line("LOG:  duration: 0.011 ms  parse <unnamed>: SELECT 20", pid=102),
    line("LOG:  duration: 0.012 ms  bind <unnamed>: SELECT 20", pid=102),
    line("LOG:  duration: 0.013 ms  execute pdo_stmt_00000001: SELECT 20", pid=102),
    line("LOG:  duration: 0.014 ms  bind S_2: SELECT 30", pid=103),
    line("LOG:  duration: 0.015 ms  bind S_2: SELECT 30", pid=103),
    line("LOG:  duration: 0.016 ms  execute fetch from S_2: SELECT 30", pid=103),
    line("LOG:  statement: SELECT pg_sleep(1)", pid=104),
    line("LOG:  duration: 1000.5 ms", pid=104),
    line("LOG:  duration: 3.5 ms", pid=105),
    line("LOG:  duration: 3.5 ms  ", pid=105),
    line("LOG:  execute S_9: SELECT 9", pid=106),
    line("DETAIL:  parameters: $1 = 'x'", pid=106),
    line("LOG:  duration: 0.5 ms", pid=106),
    line("ERROR:  relation \"nope\" does not exist at character 15", pid=107),
    line("STATEMENT:  SELECT * FROM nope", pid=107),
    line("DETAIL:  parameters: $1 = 'other pid'", pid=108),
    line("LOG:  duration: 1 ms  plan:\n\tQuery Text: SELECT 1", pid=109),
    line("LOG:  duration: 4 ms  statement: SELECT 'caf\u00e9'", remote="[local]", tz="CEST"),
    line("LOG:  duration: 4 ms  statement: SELECT 2", remote="[local]", tz="cest", user="[unknown]", db="[unknown]"),
    line("LOG:  duration: 4 ms  statement: SELECT 3", remote="db.internal(5432)", tz="ChST", s=59, frac=",5"),
    line("LOG:  duration: 4 ms  statement: SELECT 4", remote="010.0.0.1", tz="XYZ"),
    line("LOG:  duration: 4 ms  statement: SELECT 5", remote="10.1.2.3", tz="EST"),
    line("LOG:  duration: 4 ms  statement: SELECT 6", remote="", tz="ZZZZZ"),
    line("LOG:  duration: 4 ms  execute a: b: SELECT 7", pid=110),
    line("LOG:  duration: 4 ms  execute : SELECT 8", pid=110),
    line("LOG:  duration: 4 ms  statement: ", pid=111),
    line("LOG:  duration: 4 ms  statement:", pid=111),
    line("LOG:  duration: 12345678901234567 ms  statement: SELECT 10", pid=112),
    line("LOG:  duration: 5. ms  statement: SELECT 11", pid=112),
    line("WARNING:  duration: 4 ms  statement: SELECT 12", pid=112),
    line("LOG:  duration: 4 ms  statement: SELECT 13", s=61),
    line("DEBUG1:  duration: 4 ms  statement: SELECT 14"),
    "2026-12-02 10:00:00 UTC:a line the prefix does not read\n",
    "2026-12-02 10:00:00 UTC:no severity either\n",
    line("FATAL:  password authentication failed for user \"x\"", pid=113),
    line("LOG:  duration: 4 ms  statement: SELECT 15\r", pid=114),
    line("LOG:  duration: 0.1 ms  bind S_3: SELECT 16", pid=115),
    line("LOG:  duration: 0.2 ms  execute S_3: SELECT 16", pid=115),
    line("CONTEXT:  SQL function", pid=115),
    line("LOG:  duration: 4 ms  statement: SELECT 17", remote="::1(5432)", pid=116),
]).encode() + (
    b"2026-12-02 10:00:00 UTC:10.0.0.5(1):us\xe9r@d\xffb:[117]:LOG:  duration: 1 ms  statement: SELECT '\xff\xfe'\n"
    b"\tcontinued \xc3\n"
    b"2026-12-02 10:00:00 UTC:10.0.0.5(1):u@d:[118]:LOG:  duration: 1 ms  statement: SELECT 18\n"
    b"2026-12-02 10:00:00 UTC:10.0.0.5(1):u@d:[118]:LOG:  duration: 1 ms  statement: SELECT 19 without newline"
)


D = "2017-07-31 13:36:{s:02d}.{ms:03d} {tz} [{pid}] {who}"


def dline(msg: str, *, s=42, ms=585, tz="CEST", pid=4974, who="postgres@db1 ") -> str:
    return D.format(s=s, ms=ms, tz=tz, pid=pid, who=who) + msg + "\n"


# Debian's default '%m [%p] %q%u@%d ': background lines without user@db, the lazy user / db rules
DEBIAN = "".join([
    dline("LOG:  database system is ready to accept connections", who=""),
    dline("LOG:  incomplete startup packet", who="[unknown]@[unknown] "),
    dline("LOG:  duration: 0.5 ms  statement: SELECT 'a@b' FROM t"),
    dline("LOG:  duration: 0.5 ms  statement: SELECT 1", who="u@\tdb LOG: x@y "),
    dline("LOG:  duration: 0.5 ms  statement: SELECT 'x@y LOG:  z'", who=""),
    dline("LOG:  connection authorized: user=postgres@foo database=x", who=""),
    dline("LOG:  duration: 1.5 ms  parse S_1: SELECT $1", pid=4975),
    dline("LOG:  duration: 1.5 ms  bind S_1: SELECT $1", pid=4975),
    dline("DETAIL:  parameters: $1 = '1'", pid=4975),
    dline("LOG:  duration: 1.5 ms  execute S_1: SELECT $1", pid=4975),
    dline("DETAIL:  parameters: $1 = '1'", pid=4975),
    dline("LOG:  duration: 2 ms  statement: SELECT 2", tz="UTC", who="app@ "),
    dline("LOG:  duration: 2 ms  statement: SELECT 3", tz="", who="@db "),
    dline("LOG:  duration: 2 ms  statement: SELECT 4\n\tFROM t", tz="PDT", s=59, ms=999),
    dline("ERROR:  syntax error at or near \"x\"", pid=4976),
    dline("STATEMENT:  x", pid=4976),
    "2017-07-31 13:36:42.585 CEST [4977]\tpostgres@db1\tLOG:  duration: 3 ms  statement: SELECT 5\n",
    "2017-07-31 13:36:42.585 CEST  [4977]  LOG:  duration: 3 ms  statement: SELECT 6\n",
]).encode()
# lines with a severity the Debian prefix does not read (after the 400 lines the layout is chosen on)
DEBIAN_ODD = (b"2017-07-31 13:36:42.585 CESTXY [4977] LOG:  duration: 3 ms  statement: SELECT 7\n"
              b"2017-07-31 13:36:42.585 CEST [4977]LOG:  duration: 3 ms  statement: SELECT 8\n"
              b"2017-07-31 13:36:42.585 CEST [4977] LOG:  duration: 3 ms  statement: SELECT 9\n")


def test_synthetic_debian_log_same_events_and_stats(monkeypatch):
    table, stats = assert_same(DEBIAN)
    assert stats["events"] >= 7
    assert _native_ran(DEBIAN, monkeypatch) > 0
    rows = {r["query"]: r for r in table.to_pylist()}
    assert rows["SELECT 2"]["user"] == "app" and rows["SELECT 2"]["db"] is None
    assert rows["SELECT $1"]["extra"] is not None
    for chunk in (1, 5, 77, 1024):
        assert_same(DEBIAN, chunk)
    data = DEBIAN * 25 + DEBIAN_ODD + DEBIAN
    _, stats = assert_same(data)
    assert stats["rejected"] >= 2
    assert _native_ran(data, monkeypatch) > 0


def test_synthetic_rds_log_same_events_and_stats(monkeypatch):
    table, stats = assert_same(SYNTHETIC)
    rows = table.to_pylist()
    assert stats["events"] >= 25 and stats["rejected"] >= 1 and stats["skipped_bytes"] > 0
    assert _native_ran(SYNTHETIC, monkeypatch) > 0
    by_query = {r["query"]: r for r in rows}
    # parse/bind folded into the execute; PDO's unnamed parse onto the named execute; fetch from
    prepared = by_query["SELECT * FROM t WHERE id = $1"]
    assert dict(prepared["extra"]) == {"port": 51234.0, "parse_time": 0.01 / 1000, "bind_time": 0.02 / 1000}
    assert dict(prepared["extra_text"])["parameters"] == "$1 = '5'"
    assert dict(by_query["SELECT 20"]["extra"])["parse_time"] == 0.011 / 1000
    assert dict(by_query["SELECT 30"]["extra"])["bind_time"] == pytest.approx(0.029 / 1000)
    assert by_query["SELECT pg_sleep(1)"]["query_time"] == pytest.approx(1.0005)  # log_statement pairing


@pytest.mark.parametrize("chunk", [1, 2, 3, 17, 64, 100, 333, 1000, 4096])
def test_synthetic_rds_log_any_chunk_size(chunk):
    assert_same(SYNTHETIC, chunk)


def test_unreadable_prefixes_after_the_detection_sample(monkeypatch):
    # lines with a severity that the RDS prefix does not read (the layout was chosen on the first
    # 400 prefixed lines): entries of their own, skipped or rejected as the Python path decides
    odd = (b"2026-12-02 10:00:00 UTC:odd prefix:LOG:  duration: 4 ms  statement: SELECT 1\n"
           b"2026-12-02 10:00:00 UTC:odd prefix:FATAL:  no pg_hba.conf entry\n"
           b"2026-12-02 10:00:00 UTC:odd prefix:LOG:  checkpoint complete\n")
    data = SYNTHETIC.replace(b"garbage before the first line\n", b"") * 12 + odd + SYNTHETIC
    _, stats = assert_same(data)
    assert stats["rejected"] >= 2
    assert _native_ran(data, monkeypatch) > 0


def test_numeric_zone_offsets_fall_back_to_python(monkeypatch):
    data = SYNTHETIC.replace(b" UTC:10.0.0.5(51234)", b" +03:10.0.0.5(51234)", 1)
    assert_same(data)
    _native_ran(data, monkeypatch)
    assert _Counting.python_buffers >= 1  # the scan declined the buffer with it: the regexes read it


def test_configured_rds_prefix_takes_the_c_path(monkeypatch):
    monkeypatch.setenv("SLOWLOG_PG_PREFIX", "%t:%r:%u@%d:[%p]:")
    assert_same(SYNTHETIC)
    assert _native_ran(SYNTHETIC, monkeypatch) > 0


def test_pairing_state_crosses_buffers():
    # a parse in one buffer, its execute in the next: the folding must not depend on the cut
    head = line("LOG:  duration: 0.25 ms  parse S_7: SELECT 7", pid=300)
    tail = line("LOG:  duration: 1 ms  execute S_7: SELECT 7", pid=300)
    data = (head + line("LOG:  duration: 1 ms  statement: SELECT 0", pid=301) * 2000 + tail).encode()
    for chunk in (len(head) + 10, 65536):
        table, _ = assert_same(data, chunk)
        last = table.slice(table.num_rows - 1).to_pylist()[0]
        assert dict(last["extra"])["parse_time"] == 0.25 / 1000


def test_few_skipped_entries_hand_whole_runs_to_parse_run():
    # a region with a few skipped entries (a checkpoint, a log_statement line Python pairs) still
    # hands its runs of C events to base._consume's parse_run; the rest go entry by entry
    events = "".join(line(f"LOG:  duration: 1 ms  statement: SELECT {k}", pid=200 + k % 3) for k in range(300))
    data = (events + line("LOG:  checkpoint starting: time", remote="", user="", db="", pid=7) + events
            + line("LOG:  statement: SELECT 'paired'", pid=201) + line("LOG:  duration: 2 ms", pid=201)
            + events).encode()
    for chunk in (None, 4096, 20_000):
        table, stats = assert_same(data, chunk)
        assert stats["events"] == 901
    from dagster_project.slowlog.engines.base import ParseStats, sink_for, stream

    taken = []

    class Runs(PostgresLogParser):
        def _parse_run(self, buf, points, i, sink):
            out = super()._parse_run(buf, points, i, sink)
            taken.append(out[2])
            return out

    parser = Runs()
    stats = ParseStats()
    rows = sum(b.num_rows for b in stream(io.BytesIO(data), parser, sink_for(parser, instance="x", source_file="x"), stats))
    assert rows == stats.events == 901 and stats.accounted
    assert sum(taken) >= 890  # all but the paired one and the entries next to the cuts


def test_layout_redetected_on_a_small_log_reads_fields_afresh():
    # a short log is detected again with each buffer: the second one here picks Debian's layout, and
    # its prefix must not reuse the fields the generic layout read from the same prefix text before
    data = (b"2017-07-31 13:36:42:.585 CEST [4974] LOG:  database system is ready to accept connections\n"
            b"2017-07-31 13:36:42.585 UTC [4974] app@ LOG:  duration: 2 ms  statement: SELECT 2\n"
            b"2017-07-31 13:36:42.585 UTC [4974] app@ LOG:  duration: 2 ms  statement: SELECT 2")
    table, _ = assert_same(data)
    assert table.column("user").to_pylist()[-1] == "app"


def test_class_table_kind_is_checked():
    with pytest.raises(ValueError):
        _speedups.ClassTable(lambda raw: raw, kind="oracle")
    table = _speedups.ClassTable(lambda raw: b"fallback", kind="postgres")
    assert table.fps == []


# -- a live server's log -----------------------------------------------------------------------------

@pytest.mark.integration
def test_live_server_log_same_events(tmp_path, monkeypatch):
    from tests.support.postgres import RDS_PREFIX, PostgreSQL

    if not PostgreSQL.available():
        pytest.skip("PostgreSQL server binaries not installed (scripts/system-deps.sh)")
    with PostgreSQL(prefix=RDS_PREFIX) as pg:
        pg.psql("CREATE DATABASE bench", check=True)
        pg.pgbench("-i", "-s", "1", "bench")
        for mode in ("simple", "extended", "prepared"):
            pg.pgbench("-M", mode, "-c", "2", "-t", "50", "bench")
        pg.psql("SELECT 1;\nSELECT nope;\nSET log_statement = 'all';\nSELECT 2;\n", "bench")
        pg.stop()
        data = pg.log_path.read_bytes()
    table, stats = assert_same(data)
    assert stats["events"] >= 3 * 2 * 50 * 7
    assert _native_ran(data, monkeypatch) > 0
    for chunk in (4096, 100_003):
        assert_same(data, chunk)


# -- mutated lines -----------------------------------------------------------------------------------

BASE_LINES = SYNTHETIC.split(b"\n")
DEBIAN_LINES = DEBIAN.split(b"\n")
REAL_LINES = _load(RDS_LOGS[0])[:200_000].split(b"\n")[1:-1] if RDS_LOGS else []
MUTATION_BYTES = st.sampled_from([b":", b"@", b"[", b"]", b"(", b")", b" ", b"\t", b"\n", b"\r", b"0", b"9", b"-",
                                  b"LOG:  ", b"DETAIL:  ", b"duration: ", b" ms", b"\xff", b"\xc3\xa9", b"UTC",
                                  b"parameters: ", b"execute ", b"bind ", b"parse ", b"statement: ", b"<unnamed>"])


@st.composite
def mutated_logs(draw):
    pool = draw(st.sampled_from([BASE_LINES + REAL_LINES, DEBIAN_LINES, DEBIAN_LINES + DEBIAN_ODD.split(b"\n")]))
    lines = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=40))
    for _ in range(draw(st.integers(0, 6))):
        k = draw(st.integers(0, len(lines) - 1))
        text = lines[k]
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(MUTATION_BYTES)
        if op == "insert":
            text = text[:at] + piece + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)):]
        else:
            text = text[:at] + piece + text[at + len(piece):]
        lines[k] = text
    return b"\n".join(lines) + draw(st.sampled_from([b"", b"\n"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_logs(), st.sampled_from([None, 1, 7, 64, 500, 4096]))
def test_mutated_lines_same_events_and_stats(data, chunk):
    assert_same(data, chunk)


# -- fingerprint_pg: the C port against the Python one ------------------------------------------------

_STATEMENT = re.compile(rb"(?:statement|execute [^:\n]*|parse [^:\n]*|bind [^:\n]*): ([^\n]*(?:\n\t[^\n]*)*)")


def _statements() -> list[str]:
    out: set[str] = set()
    for path in PG_LOGS:
        for m in _STATEMENT.finditer(_load(path)):
            out.add(m.group(1).rstrip().decode("utf-8", "replace"))
    return sorted(out)


STATEMENTS = _statements()


def _c_fingerprint(query: str) -> str | None:
    raw = _speedups.fingerprint_pg_bytes(query.encode("utf-8", "surrogatepass"))
    return None if raw is None else raw.decode("utf-8")


def test_fingerprint_statements_of_every_log():
    assert len(STATEMENTS) > 500
    declined = 0
    for query in STATEMENTS:
        fp = _c_fingerprint(query)
        if fp is None:
            declined += 1
            continue
        assert fp == fingerprint_pg_cached(query), query
        assert fp == fingerprint_pg(query), query
    assert declined < len(STATEMENTS) // 20  # the port takes (nearly) everything


FINGERPRINT_CASES = [
    "SELECT 1", "select a from t where x = -5 and y in (1, 2, 3)", "insert into t values (1,'a'),(2,'b')",
    "UPDATE pgbench_accounts SET abalance = abalance + -4231 WHERE aid = 112;;", "select $1::int, E'a\\'b', $$x$$",
    "select $t$y$t$, $a$ unterminated", "select /* c */ 1 -- x\n, \"Col1\" from T", "select 'it''s', e'\\\\'",
    "select ARRAY[1,2], x::varchar(10)[] from y where z IN ($1, $2)", "values (1, 2), (1, 2)",
    "values (a, 1), (a, 1), (a, 1)", "select =-1, +-2, @-3, *-+4, x - -5", "select true, FALSE, null",
    "select 0x1F, 0o17, 0b101, 1_000, .5, 5., 1e10, 1.5e-3, 1e", "select U&'d\\0061t', U&\"d\\0061t\", b'101', x'ff'",
    "select '\u00e9' || \u00fcn\u00ef_1 from t1 where a=1.5", "select * from t where a in (?+) and b in (...)",
    "select x from t where y = 'unterminated", "/* only a comment */", "", ";", "select a::int[][]",
    "select ? , ?", "in(1)", "select a/b, a/*x*/b, a--b\n", "select $1, $12abc, $$", "select 'a' 'b'",
    "SELECT a1, b22 FROM t33 WHERE c = 4 AND \"x1\" = 5", "insert into t (a) values ($1), ($2)",
    "select f(-1), -x, (- 2), [-3], case when -4 then -5 end",
]


@pytest.mark.parametrize("query", FINGERPRINT_CASES)
def test_fingerprint_cases(query):
    fp = _c_fingerprint(query)
    assert fp is not None
    assert fp == fingerprint_pg_cached(query)


def test_fingerprint_declines_what_python_must_decide():
    assert _speedups.fingerprint_pg_bytes(b"select /* a /* nested */ */ 1") is None
    assert _speedups.fingerprint_pg_bytes(b"select '\xff'") is None  # not UTF-8
    assert _speedups.fingerprint_pg_bytes("select \u00e91".encode()) is None  # Unicode \w before a digit


SQL_PIECES = st.sampled_from([
    "select", "SELECT", "from", "where", "in", "IN", "values", "array", "ARRAY", "and", "-", "+", "=-", "*-", "~-",
    "(", ")", "[", "]", ",", ";", "::", ":", "'a'", "'it''s'", "E'x\\'y'", "$1", "$$q$$", "$t$", "\"Q\"", "\"\"",
    "1", "0", "01", "-2", "1.5", ".5", "1e3", "0x1F", "true", "false", "x", "t1", "_a$b", "\u00e9", "\u00e9t\u00e9",
    " ", "  ", "\n", "\t", "--c\n", "/*c*/", "/*", "*/", "?", "(?+)", "[?+]", "(...)", "'", "\"", "$", "@", "#",
    "varchar(10)", "int[]", "/", "\\", "e'", "u&'", "U&\"", "b'0'", "n'x'",
])


@settings(max_examples=2000, deadline=None)
@given(st.lists(SQL_PIECES, max_size=30).map("".join))
def test_fingerprint_fuzz_sql_pieces(query):
    fp = _c_fingerprint(query)
    if fp is not None:
        assert fp == fingerprint_pg_cached(query)


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0x2FF), max_size=80))
def test_fingerprint_fuzz_text(query):
    fp = _c_fingerprint(query)
    if fp is not None:
        assert fp == fingerprint_pg_cached(query)
