"""MySQL-family edge cases of issue 14, each on a real file: public parser test logs in
tests/data/mysql (see its SOURCES.md) or a shared-corpus log changed in exactly one documented way.
Expected values were checked by hand against the files (and against pt-query-digest and Percona's
Go parser where they are right: tests/slowlog/engines/test_mysql_real.py runs pt live on the same logs).
"""
import io
from datetime import datetime, timezone

from dagster_project.slowlog.parse import parse_log
from tests.support.corpus import FILEBEAT, MYSQL_DATA as DATA, PERCONA
from tests.support.mysql_logs import ps8_split_tmp_tables, query_time_first

UTC = timezone.utc


def _parse(data: bytes):
    parsed = parse_log(io.BytesIO(data))
    rows = parsed.read_all().to_pylist()
    assert parsed.stats.accounted and parsed.stats.bytes_total == len(data)
    return rows, parsed.stats


def _without_offsets(rows):
    return [{k: v for k, v in r.items() if k not in ("source_offset", "source_length")} for r in rows]


# -- 1. a Windows server banner in mid-file ---------------------------------------------------------

def test_windows_banner_in_mid_file_is_skipped_not_glued_onto_the_query():
    data = (DATA / "phpfui-doubleSession.log").read_bytes()
    rows, stats = _parse(data)
    assert len(rows) == data.count(b"\n# Query_time: ") == 61 and stats.rejected == 0
    assert not any("mysqld.exe" in r["query"] or "Named Pipe" in r["query"] for r in rows)
    mid = data.index(b"c:\\wamp64", 10)  # the server restarted after the last query: its banner ends the file
    banner = data[mid:]
    assert banner.count(b"\n") == 3 and stats.skipped_bytes == data.index(b"# Time: ") + len(banner)
    before = max((r for r in rows if r["source_offset"] < mid), key=lambda r: r["source_offset"])
    assert before["source_offset"] + before["source_length"] == mid
    assert before["query"].endswith("multiplo = 0")
    # the query before the banner is in the class of its 15 twins, not a class of its own
    assert sum(r["checksum"] == before["checksum"] for r in rows) == 16


# -- 2. a log that starts mid-entry -----------------------------------------------------------------

def test_log_starting_mid_entry_gives_no_event_for_the_headless_fragment():
    data = (DATA / "go-mysql-slow016.log").read_bytes()
    rows, stats = _parse(data)
    # what Percona's Go parser expects for this file (TestParseSlow016) and what pt reports
    assert [(r["query"], r["user"], r["host"], r["source_offset"]) for r in rows] == [
        ("SHOW /*!50002 GLOBAL */ STATUS", "pt_agent", "localhost", 159)]
    assert rows[0]["query_time"] == 0.003953 and rows[0]["rows_sent"] == 571 and rows[0]["thread_id"] == 68181423
    assert stats.rejected == 1 and stats.rejected_bytes == 159
    assert stats.rejected_samples[0].startswith("@0: # Filesort: No")


def test_log_starting_inside_a_query_or_at_an_admin_command():
    rows, stats = _parse((DATA / "go-mysql-slow017.log").read_bytes())
    assert [(r["query"], r["source_offset"]) for r in rows] == [("SHOW /*!50002 GLOBAL */ STATUS", 26)]
    assert stats.rejected == 1 and stats.rejected_samples == ["@0: INSERT INTO t VALUES (1);\\n"]
    # pt's slow041 starts with the Quit that ended a session logged in the previous file
    rows, stats = _parse((PERCONA / "slowlogs" / "slow041.txt").read_bytes())
    assert [r["query"] for r in rows] == ["show /*!50002 GLOBAL */ status", "administrator command: Quit"]
    assert rows[1]["query_time"] == 0.000002 and rows[1]["user"] == "chessguest"
    assert stats.rejected == 1 and stats.rejected_samples == ["@0: # administrator command: Quit;\\n"]


def test_a_real_quit_entry_is_still_an_event():
    entry = (b"# Time: 2026-11-24T10:00:01.000001Z\n# User@Host: app[app] @ web-1 [10.0.0.7]  Id: 42\n"
             b"# Query_time: 0.000010  Lock_time: 0.000000 Rows_sent: 0  Rows_examined: 0\n")
    rows, stats = _parse(entry + b"SELECT 1;\n" + entry + b"# administrator command: Quit;\n")
    assert [r["query"] for r in rows] == ["SELECT 1", "administrator command: Quit"] and stats.rejected == 0
    rows, stats = _parse(b"# User@Host: app[app] @ web-1 [10.0.0.7]  Id: 42\n# administrator command: Quit;\n")
    assert [r["query"] for r in rows] == ["administrator command: Quit"] and stats.rejected == 0


# -- 3. a header line without its '#' at the very start of a file -----------------------------------

def test_first_header_line_without_its_hash_is_read():
    whole = (PERCONA / "slowlogs" / "slow002.txt").read_bytes()
    assert whole.startswith(b"# Time: 071218 11:48:27 # User@Host: [SQL_SLAVE] @  []")
    cut = whole[1:]  # the file as it reads when its first byte is lost
    ours, stats = _parse(cut)
    assert stats.rejected == 0
    assert _without_offsets(ours) == _without_offsets(_parse(whole)[0])
    assert ours[0]["ts"] == datetime(2007, 12, 18, 11, 48, 27, tzinfo=UTC) and ours[0]["user"] == "[SQL_SLAVE]"
    assert ours[0]["source_offset"] == 0 and ours[1]["source_offset"] == ours[0]["source_length"]


def test_other_headless_first_lines():
    tail = b"# Query_time: 2  Lock_time: 0  Rows_sent: 1  Rows_examined: 5\nSELECT 1;\n"
    for first, user, ts in ((b" User@Host: root[root] @ localhost []\n", "root", None),
                            (b" Time: 2026-11-24T10:00:01Z\n", None, datetime(2026, 11, 24, 10, 0, 1, tzinfo=UTC))):
        rows, stats = _parse(first + tail)
        assert stats.rejected == 0 and len(rows) == 1
        assert (rows[0]["user"], rows[0]["ts"], rows[0]["query"], rows[0]["rows_examined"]) == (user, ts, "SELECT 1", 5)
    rows, stats = _parse(b" not a header\n" + tail)  # anything else is still no entry
    assert rows == [] and stats.rejected == 1


# -- 4. `# Query_time:` before `# Time:` ------------------------------------------------------------

def test_query_time_before_time_keeps_the_timestamp():
    rows, stats = _parse((DATA / "phpfui-ignoredData.log").read_bytes())
    assert [r["query"][:30] for r in rows] == [
        "SELECT st.* FROM performance_s", "SELECT st.* FROM performance_s", "SELECT 'this session is still ",
        "SELECT 'this session is STILL ", "SELECT 'THIS session is finall", "SELECT 'Header without time sp"]
    late = rows[4]  # "# Query_time:" right after a banner, then "# Time: 220907 18:55:33"
    assert late["ts"] == datetime(2022, 9, 7, 18, 55, 33, tzinfo=UTC)
    assert (late["query_time"], late["user"], late["rows_affected"], late["bytes_sent"]) == (0.001519, "root", 1, 5709)
    assert rows[5]["ts"] == late["ts"]  # no Time line: inherited
    # attribute lines above "# Time:" and between it and "# User@Host:" belong to the entry
    assert dict(rows[0]["extra_text"]) == {"FirstLine": "ignored_by_default", "UnknownProperty": "ignored_by_default"}
    assert all(r["user"] == "root" and r["query_time"] == 0.001519 for r in rows)
    # the banners are skipped; the trailing comment block is the only piece that is no entry
    assert stats.rejected == 1 and stats.rejected_samples[0].startswith("@4907: #\\n# Explanation")


def test_query_time_line_moved_above_time_changes_nothing():
    whole = (FILEBEAT / "mysql-slowlog" / "mysql-5.7.22.log").read_bytes()
    moved = query_time_first(whole)
    ours, stats = _parse(moved)
    assert stats.rejected == 0
    assert _without_offsets(ours) == _without_offsets(_parse(whole)[0])
    assert all(r["ts"] is not None for r in ours)


# -- 5. Percona Server 8's header line without '#' ---------------------------------------------------

def test_percona8_header_line_without_hash_is_a_header_line():
    whole = (FILEBEAT / "mysql-slowlog" / "percona-ubuntu-8.0.15.log").read_bytes()
    ours, stats = _parse(ps8_split_tmp_tables(whole))
    assert stats.rejected == 0
    assert _without_offsets(ours) == _without_offsets(_parse(whole)[0])
    second = ours[1]
    assert second["query"].startswith("SELECT last_name") and "Tmp_tables" not in second["query"]
    assert dict(second["extra"])["Tmp_tables"] == 1.0 and dict(second["extra"])["Tmp_table_sizes"] == 0.0
    assert second["ts"] == datetime(2019, 3, 24, 16, 26, 4, 482151, tzinfo=UTC) and second["db"] == "employees"
    # with no "# Time:" line, SET timestamp gives the time as usual
    no_time = b"\n".join(l for l in ps8_split_tmp_tables(whole).split(b"\n") if not l.startswith(b"# Time: "))
    rows, _ = _parse(no_time)
    assert rows[1]["ts"] == datetime.fromtimestamp(1553444761, UTC) and "SET" not in rows[1]["query"]


def test_a_query_that_starts_indented_is_still_a_query():
    head = b"# User@Host: app[app] @ web-1 [10.0.0.7]\n# Query_time: 0.1  Lock_time: 0.0 Rows_sent: 0  Rows_examined: 0\n"
    rows, stats = _parse(head + b"  SELECT a FROM t;\n" + head + b"  select b: 1 from t;\n")
    assert [r["query"] for r in rows] == ["  SELECT a FROM t", "  select b: 1 from t"] and stats.rejected == 0


def test_parallel_split_points_are_entry_starts_of_the_whole_file(tmp_path, monkeypatch):
    """A window that begins mid-file cannot see the header lines above it: the parallel path cuts
    only at starts whose line above is in the window and outside any header block, so an entry
    whose `# Query_time:` line comes first is never cut between that line and its `# Time:`."""
    from dagster_project.slowlog import parallel
    from dagster_project.slowlog.digest import Digest
    from dagster_project.slowlog.engines.mysql import MySQLSlowLogParser

    log = query_time_first((FILEBEAT / "mysql-slowlog" / "mysql-5.7.22.log").read_bytes())
    body = log[log.index(b"# Query_time: "):]
    big = tmp_path / "big.log"
    big.write_bytes(log + body * (400_000 // len(body)))
    data = big.read_bytes()
    whole = set(MySQLSlowLogParser().starts(data, 0, len(data)))
    for offset in range(1, len(data) - 4096, 997):
        assert parallel._first_start_after(MySQLSlowLogParser(), str(big), offset, len(data)) in whole
    serial = Digest()
    parsed = parse_log(big)
    for batch in parsed:
        serial.add(batch)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)
    par, stats = parallel.digest_file_parallel(str(big), workers=5)
    assert stats.events == parsed.stats.events and stats.rejected == parsed.stats.rejected == 0
    assert [(c["checksum"], c["count"]) for c in serial.classes()] == [(c["checksum"], c["count"]) for c in par.classes()]
