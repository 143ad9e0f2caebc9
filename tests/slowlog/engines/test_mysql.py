"""The MySQL-family parser against pt's SlowLogParser expectations and Filebeat's fixtures."""
import gzip
import io
import json

import pytest

from dagster_project.slowlog.events import EVENT_SCHEMA
from dagster_project.slowlog.parse import parse_log
from tests.support.corpus import FILEBEAT, PERCONA

PT_PARSED = sorted((PERCONA / "parsed").glob("*.json"))
FB_CASES = sorted((FILEBEAT / "mysql-slowlog").glob("*.log-expected.json"))


def _events(path_or_file, **kw):
    parsed = parse_log(path_or_file, **kw)
    table = parsed.read_all()
    assert table.schema == EVENT_SCHEMA
    return table.to_pylist(), parsed.stats


@pytest.mark.parametrize("expected", PT_PARSED, ids=lambda p: p.name)
def test_matches_pt_slowlogparser(expected):
    spec = json.loads(expected.read_text())
    want = [e for e in (spec["expected_events"] or []) if e.get("arg")]
    got, stats = _events(PERCONA / spec["input"])
    assert stats.accounted
    assert len(got) == len(want)
    for ours, theirs in zip(got, want):
        assert ours["query"] == theirs["arg"]
        if "Query_time" in theirs:
            assert ours["query_time"] == pytest.approx(float(theirs["Query_time"]))
        if "Lock_time" in theirs:
            assert ours["lock_time"] == pytest.approx(float(theirs["Lock_time"]))
        for field in ("user", "host", "ip", "db"):
            if field in theirs:
                assert ours[field] == theirs[field], field
        if "Rows_examined" in theirs:
            assert ours["rows_examined"] == int(theirs["Rows_examined"])
        if "Thread_id" in theirs:
            assert ours["thread_id"] == int(theirs["Thread_id"])


def test_pt_parsed_corpus_is_substantial():
    assert sum(len(json.loads(p.read_text())["expected_events"] or []) for p in PT_PARSED) >= 55


@pytest.mark.parametrize("expected", FB_CASES, ids=lambda p: p.name)
def test_matches_filebeat_fields(expected):
    want = json.loads(expected.read_text())
    log = expected.with_name(expected.name.replace("-expected.json", ""))
    got, stats = _events(log)
    assert stats.accounted
    assert len(got) == len(want)
    data = log.read_bytes()
    for ours, theirs in zip(got, want):
        fb_query = theirs["mysql.slowlog.query"].strip().rstrip(";")
        if "started with:" in fb_query:  # Filebeat glues a following restart banner onto the query
            assert fb_query.startswith(ours["query"])
        else:
            assert ours["query"] == fb_query
        assert ours["query_time"] == pytest.approx(theirs["event.duration"] / 1e9)
        if "user.name" in theirs:
            assert ours["user"] == theirs["user.name"]
        if "mysql.slowlog.rows_examined" in theirs:
            assert ours["rows_examined"] == theirs["mysql.slowlog.rows_examined"]
        if "mysql.slowlog.schema" in theirs:
            assert ours["db"] == theirs["mysql.slowlog.schema"]
        if "mysql.thread_id" in theirs:
            tid = theirs["mysql.thread_id"]
            assert ours["thread_id"] == int(tid[0] if isinstance(tid, list) else tid)
        # Filebeat's log.offset points at the User@Host line; ours at the entry's first line (# Time:)
        between = data[ours["source_offset"] : theirs["log.offset"]]
        assert between == b"" or (between.startswith(b"# Time: ") and between.count(b"\n") == 1)


MARIADB = b"""/usr/sbin/mariadbd, Version: 10.11.19-MariaDB-0+deb12u1-log (Debian 12). started with:
Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock
Time\t\t    Id Command\tArgument
# Time: 261125  2:01:08
# User@Host: app[app] @ web-1 [10.0.0.7]
# Thread_id: 31  Schema: shop  QC_hit: No
# Query_time: 0.250000  Lock_time: 0.000100  Rows_sent: 1  Rows_examined: 1000
# Rows_affected: 0  Bytes_sent: 99
SET timestamp=1795744868;
SELECT * FROM orders
 WHERE id = 7;
# User@Host: app[app] @ web-1 [10.0.0.7]
# Thread_id: 31  Schema: shop  QC_hit: No
# Query_time: 0.000100  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0
# Rows_affected: 0  Bytes_sent: 7
use `billing`;
SET timestamp=1795744869;
UPDATE invoices SET paid = 1 WHERE id = 3;
# User@Host: app[app] @ web-1 [10.0.0.7]
# Thread_id: 31  Schema: billing  QC_hit: No
# Query_time: 0.000010  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0
# administrator command: Quit;
"""


def test_mariadb_entries_without_time_inherit_and_attributes_are_not_events():
    got, stats = _events(io.BytesIO(MARIADB))
    assert [e["query"] for e in got] == [
        "SELECT * FROM orders\n WHERE id = 7",
        "UPDATE invoices SET paid = 1 WHERE id = 3",
        "administrator command: Quit",
    ]
    assert got[0]["db"] == "shop"  # from Schema:
    assert got[1]["db"] == "`billing`"  # `use` is an attribute, not an event (pt keeps the backticks)
    assert got[0]["user"] == "app" and got[0]["host"] == "web-1" and got[0]["ip"] == "10.0.0.7"
    assert got[0]["thread_id"] == 31 and got[0]["bytes_sent"] == 99
    # SET timestamp (exact epoch) wins over the server-local "# Time:" line
    assert got[0]["ts"].timestamp() == 1795744868
    assert got[2]["ts"] == got[1]["ts"]  # inherited
    assert dict(got[0]["extra"])["QC_hit"] == 0.0  # Yes/No flags are numeric extras
    assert stats.skipped_bytes > 0 and stats.rejected == 0 and stats.accounted


def test_crlf_gzip_and_non_utf8():
    data = MARIADB.replace(b"WHERE id = 7", b"WHERE name = '\xff\xfe'").replace(b"\n", b"\r\n")
    got, stats = _events(io.BytesIO(gzip.compress(data)))
    assert len(got) == 3 and stats.rejected == 0 and stats.accounted
    assert got[0]["query_time"] == pytest.approx(0.25)
    assert "\ufffd" in got[0]["query"]
    assert got[0]["fingerprint"] == "select * from orders where name = ?"


def test_cut_inside_the_last_query_is_rejected_not_a_bogus_class():
    data = MARIADB.replace(b"# administrator command: Quit;\n", b"SELECT * FROM orders WHERE id IN (1, 2")
    got, stats = _events(io.BytesIO(data))
    assert len(got) == 2 and stats.rejected == 1 and stats.accounted
    assert stats.rejected_samples[0].startswith("@")


def test_file_cut_mid_entry_keeps_complete_entries():
    cut = MARIADB[: MARIADB.index(b"# Query_time: 0.000100")]
    got, stats = _events(io.BytesIO(cut))
    assert [e["query"][:6] for e in got] == ["SELECT"]
    assert stats.rejected == 1 and stats.accounted
    assert "User@Host" in stats.rejected_samples[0]


def test_garbage_is_counted_not_fatal():
    junk = bytes(range(256)) * 50
    got, stats = _events(io.BytesIO(junk + MARIADB + junk + b"\n"))
    assert len(got) == 3
    assert stats.rejected >= 1 and stats.rejected_bytes >= len(junk)
    assert stats.accounted


def test_restart_banner_mid_file_is_skipped():
    banner = MARIADB[: MARIADB.index(b"# Time:")]
    got, stats = _events(io.BytesIO(MARIADB + banner + MARIADB))
    assert len(got) == 6 and stats.rejected == 0 and stats.accounted
    assert stats.skipped_bytes == 3 * len(banner)


def test_every_statement_kind_is_an_event():
    kinds = ["SELECT 1", "INSERT INTO t VALUES (1)", "REPLACE INTO t VALUES (1)", "CREATE TABLE x (a int)",
             "ALTER TABLE x ADD b int", "CALL p(1)", "SHOW TABLES", "BEGIN", "COMMIT", "LOAD DATA INFILE 'f' INTO TABLE t",
             "WITH c AS (SELECT 1) SELECT * FROM c", "DROP TABLE x"]
    text = "".join(
        f"# Time: 2026-11-24T10:00:0{i % 10}.000001Z\n# User@Host: u[u] @  [1.2.3.4]  Id: 5\n"
        f"# Query_time: 0.1  Lock_time: 0.0 Rows_sent: 0  Rows_examined: 0\nSET timestamp=1795996800;\n{q};\n"
        for i, q in enumerate(kinds)
    )
    got, stats = _events(io.BytesIO(text.encode()))
    assert [e["query"] for e in got] == kinds
    assert all(e["ip"] == "1.2.3.4" and e["host"] == "1.2.3.4" for e in got)  # skip-name-resolve: host = ip
    assert stats.accounted


def test_small_chunks_give_identical_results():
    log = PERCONA / "slowlogs" / "slow002.txt"
    whole = parse_log(log).read_all()
    chunked = parse_log(log, chunk_size=97).read_all()
    assert whole.equals(chunked)


def test_gzip_cut_in_the_middle_keeps_what_was_decoded():
    raw = (PERCONA / "slowlogs" / "slow052.txt").read_bytes() * 20
    packed = gzip.compress(raw)
    got, stats = _events(io.BytesIO(packed[: len(packed) * 2 // 3]))
    whole, _ = _events(io.BytesIO(raw))
    assert 0 < len(got) < len(whole)
    assert [e["query"] for e in got] == [e["query"] for e in whole[: len(got)]]
    assert stats.rejected >= 1 and any("compressed" in s for s in stats.rejected_samples)
    assert stats.accounted
