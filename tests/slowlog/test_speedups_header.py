"""The C entry-header fast path must produce exactly the rows of the Python reference path."""
import glob
import io
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_project.slowlog.engines import mysql
from dagster_project.slowlog.parse import parse_log
from tests.support.corpus import CORPUS, MYSQL_DATA, PERCONA

pytestmark = pytest.mark.skipif(mysql._c_columns is None, reason="C accelerator not built (no compiler)")


def _same(a, b) -> bool:
    return a.schema == b.schema and repr(a.to_pylist()) == repr(b.to_pylist())  # NaN-tolerant


def _both(data: bytes, monkeypatch):
    with_c = parse_log(io.BytesIO(data)).read_all()
    with monkeypatch.context() as m:
        m.setattr(mysql, "_c_starts", None)
        m.setattr(mysql, "_c_columns", None)
        without = parse_log(io.BytesIO(data)).read_all()
    return with_c, without


DATA = MYSQL_DATA
LOGS = (sorted(glob.glob(str(PERCONA / "slowlogs" / "*.txt"))) + sorted(glob.glob(str(CORPUS / "filebeat/mysql-slowlog/*.log")))
        + sorted(glob.glob(str(DATA / "*.log"))))


@pytest.mark.parametrize("path", LOGS, ids=lambda p: p.rsplit("/", 1)[-1])
def test_corpus_logs_identical(path, monkeypatch):
    data = open(path, "rb").read()
    a, b = _both(data, monkeypatch)
    assert _same(a, b), (a.to_pylist()[:2], b.to_pylist()[:2])


HEADER_BITS = [
    "# Time: 2026-11-24T10:00:01.123456Z\n", "# Time: 2026-11-24T10:00:01Z\n", "# Time: 2026-11-24T10:00:01.123+02:00\n",
    "# Time: 261124  2:01:08\n", "# Time: 261124 12:01:08\n", "# Time: 2026-13-24T10:00:01Z\n", "# Time: 2-1\n",
    "# User@Host: app[app] @ web-1 [10.0.0.7]  Id:    42\n", "# User@Host: app[app] @  [10.0.0.7]\n",
    "# User@Host: [SQL_SLAVE] @  []\n", "# User@Host: a @ b @ c [x]\n", "# User@Host: u[u] @ h []  Id: \n",
    "# Thread_id: 31  Schema: shop  QC_hit: No\n", "# Thread_id: 31  Schema:   QC_hit: No\n", "# Schema: \n",
    "# Query_time: 0.250000  Lock_time: 0.000100  Rows_sent: 1  Rows_examined: 1000\n",
    "# Query_time: 1e3  Lock_time: inf Rows_sent: +5  Rows_examined: 1_000\n", "# Query_time: 1.2.3\n",
    "# Rows_affected: 0  Bytes_sent: 99  Tmp_tables: 1  Full_scan: Yes  Merge_passes: 0  Priority_queue: No\n",
    "# Log_slow_rate_type: query  Log_slow_rate_limit: 10  Extra: nan\n", "# explain: id select_type table\n",
    "# No InnoDB statistics available for this query\n", "#  InnoDB_IO_r_ops: 0  InnoDB_IO_r_wait: 0.000000\n",
    "use shop;\n", "use `billing`;\n", "use ;\n", "SET timestamp=1795744868;\n", "SET insert_id=5,timestamp=1795744868;\n",
    "SET timestamp=99999999999999999;\n", "SET last_insert_id=3;\n",
    # issue 14: Percona Server 8's header line without '#', a first line without '#', an admin command
    "  Tmp_tables: 1  Tmp_disk_tables: 2  Tmp_table_sizes: 3\n", " Time: 2026-11-24T10:00:01Z\n",
    " User@Host: app[app] @ web-1 [10.0.0.7]\n", "# administrator command: Quit;\n", "  Tmp_tables: x\tY: 1\n",
]
QUERIES = ["SELECT 1;\n", "UPDATE t SET a=1\n WHERE b='x';\n", "select 'ü' from t;\r\n", "CALL p(1)\n", "/* c */ SELECT 2;\n"]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.lists(st.sampled_from(HEADER_BITS), min_size=1, max_size=6), st.sampled_from(QUERIES)),
                min_size=1, max_size=4))
def test_generated_entries_identical(monkeypatch, entries):
    data = "".join("".join(h) + q for h, q in entries).encode()
    a, b = _both(data, monkeypatch)
    assert _same(a, b), (data, a.to_pylist(), b.to_pylist())


@pytest.mark.parametrize("path", LOGS, ids=lambda p: p.rsplit("/", 1)[-1])
def test_entry_starts_identical(path, monkeypatch):
    data = open(path, "rb").read()
    parser = mysql.MySQLSlowLogParser()
    fast = parser.starts(data, 0, len(data))
    with monkeypatch.context() as m:
        m.setattr(mysql, "_c_starts", None)
        assert parser.starts(data, 0, len(data)) == fast
        for cut in range(0, len(data), max(1, len(data) // 7)):  # as the chunked reader calls it
            m.setattr(mysql, "_c_starts", None)
            slow = parser.starts(data[:cut], 0, cut)
            m.undo()
            assert parser.starts(data[:cut], 0, cut) == slow


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(HEADER_BITS + QUERIES + ["# User@Host: x\n", ";\n", "use x;\n#", "\r\n", "#", "x"]),
                max_size=12))
def test_generated_starts_identical(monkeypatch, bits):
    data = "".join(bits).encode()
    parser = mysql.MySQLSlowLogParser()
    fast = parser.starts(data, 0, len(data))
    monkeypatch.setattr(mysql, "_c_starts", None)
    assert parser.starts(data, 0, len(data)) == fast


@pytest.mark.integration
def test_real_mariadb_log_identical(monkeypatch, tmp_path):
    from tests.support.mariadb import MariaDB, workload_sql

    if not MariaDB.available():
        pytest.fail("mariadb-server missing: run scripts/system-deps.sh")
    with MariaDB(tmp_path / "db") as db:
        db.run_sql(workload_sql(800, seed=random.randint(0, 1000)))
    a, b = _both(db.slow_log.read_bytes(), monkeypatch)
    assert a.num_rows > 800 and _same(a, b)


def test_class_table_restarts_when_full(monkeypatch):
    """The C query->class table is bounded: when it holds more classes than allowed it starts
    over (ids restart, generation bumps) and the fingerprint/checksum columns stay right."""
    from dagster_project.slowlog._speedups import ClassTable

    data = b"".join(open(p, "rb").read().rstrip(b"\n") + b"\n" for p in LOGS[:12])
    monkeypatch.setattr(mysql, "_ClassTable", lambda fallback: ClassTable(fallback, max_classes=2))
    small = parse_log(io.BytesIO(data), chunk_size=4096).read_all()
    a, b = _both(data, monkeypatch)
    assert _same(small, b) and _same(a, b)
    assert len(set(small.column("checksum").to_pylist())) > 10  # many classes went through restarts


def test_union_and_invalid_utf8_queries(monkeypatch):
    """UNION queries take the Python fingerprint (pt's back-reference rule) from inside the C run;
    non-UTF-8 bytes are replaced exactly as bytes.decode('utf-8', 'replace') does."""
    entry = (b"# Time: 2026-11-24T10:00:01.000001Z\n# User@Host: app[app] @ web-1 [10.0.0.7]  Id: 42\n"
             b"# Query_time: 0.25  Lock_time: 0.0001 Rows_sent: 1  Rows_examined: 10\n")
    queries = [b"select a from t where b=1 union select a from t where b=2;\n",
               b"SELECT 'caf\xe9', '\xed\xa0\x80', '\xf4\x90\x80\x80', '\xc3' FROM t;\n",
               b"select 'ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80' from t;\n",
               b"use caf\xe9;\nselect 1;\n"]
    data = b"".join(entry + q for q in queries) * 3
    a, b = _both(data, monkeypatch)
    assert a.num_rows == 12 and _same(a, b)
    assert "/*repeat union*/" in a.column("fingerprint")[0].as_py()
    assert "\ufffd" in a.column("query")[1].as_py()


BANNERS = ["/usr/sbin/mariadbd, Version: 10.11.6-MariaDB-0+deb12u1-log (Debian 12). started with:\n",
           "Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\n", "Time                 Id Command    Argument\n",
           "mysqld,\nVersion: 8.0 embedded library\n", "TCP Port: 0  x\n", "Toy line\n", "# Version: 1\n",
           "select 'Version' from t;\n",
           "c:\\wamp64\\bin\\mysql\\mysql8.0.21\\bin\\mysqld.exe, Version: 8.0.21 (MySQL Community Server - GPL). started with:\n",
           "TCP Port: 3306, Named Pipe: /tmp/mysql.sock\n"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(BANNERS),
                          st.tuples(st.lists(st.sampled_from(HEADER_BITS[:3] + HEADER_BITS[7:9] + HEADER_BITS[15:16]),
                                             min_size=1, max_size=3), st.sampled_from(QUERIES))),
                min_size=1, max_size=8))
def test_banners_identical(monkeypatch, parts):
    """Banner lines are found from the C scan's candidate lines exactly as the regex over the
    whole buffer finds them (the pure-Python path)."""
    data = "".join(p if isinstance(p, str) else "".join(p[0]) + p[1] for p in parts).encode()
    parsed = {}
    for label, off in (("c", False), ("py", True)):
        with monkeypatch.context() as m:
            if off:
                m.setattr(mysql, "_c_starts", None)
                m.setattr(mysql, "_c_columns", None)
            p = parse_log(io.BytesIO(data))
            table = p.read_all()
            parsed[label] = (table, p.stats.as_dict())
    assert _same(parsed["c"][0], parsed["py"][0]) and parsed["c"][1] == parsed["py"][1], data


def test_query_cache_clears_when_full():
    """More distinct queries than the C query cache holds (2^16 entries): it starts over, and every
    row still gets the class the reference fingerprint gives its query."""
    from dagster_project.slowlog.fingerprint import checksum, fingerprint

    head = b"# Time: 2026-11-24T10:00:01Z\n# User@Host: app[app] @ web-1 [10.0.0.7]  Id: 42\n# Query_time: 0.001  Lock_time: 0\n"
    kinds = [b"SELECT name FROM users WHERE id = %d;\n", b"select * from orders where id in (%d, 7) limit 5;\n",
             b"UPDATE t SET a = 'x%d' WHERE b IS NULL;\n"]
    data = b"".join(head + kinds[i % 3] % i for i in range(70_000))
    table = parse_log(io.BytesIO(data)).read_all()
    assert table.num_rows == 70_000
    assert len(set(table.column("checksum").to_pylist())) == 3
    for row in table.slice(65_000).to_pylist()[::97] + table.slice(0, 50).to_pylist():
        assert row["fingerprint"] == fingerprint(row["query"]) and row["checksum"] == checksum(row["fingerprint"])


def test_issue14_edge_case_inputs_identical(monkeypatch):
    """The derived edge-case inputs of test_mysql_edge_cases (tests/support/mysql_logs.py: a first
    line without '#', Percona Server 8's header line without '#', `# Query_time:` above `# Time:`):
    same rows and the same byte accounting on both paths, whole and in small chunks."""
    from tests.support.mysql_logs import ps8_split_tmp_tables, query_time_first

    inputs = [(PERCONA / "slowlogs" / "slow002.txt").read_bytes()[1:],
              ps8_split_tmp_tables((CORPUS / "filebeat/mysql-slowlog/percona-ubuntu-8.0.15.log").read_bytes()),
              query_time_first((CORPUS / "filebeat/mysql-slowlog/mysql-5.7.22.log").read_bytes()),
              query_time_first((DATA / "phpfui-doubleSession.log").read_bytes())]
    for data in inputs:
        a, b = _both(data, monkeypatch)
        assert a.num_rows > 0 and _same(a, b)
        stats = []
        for off in (False, True):
            with monkeypatch.context() as m:
                if off:
                    m.setattr(mysql, "_c_starts", None)
                    m.setattr(mysql, "_c_columns", None)
                p = parse_log(io.BytesIO(data), chunk_size=512)
                assert _same(p.read_all(), a)
                stats.append(p.stats.as_dict())
        assert stats[0] == stats[1] and stats[0]["rejected"] == 0
