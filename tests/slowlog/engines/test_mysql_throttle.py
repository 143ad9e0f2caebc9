"""MySQL's `throttle: N 'index not used' warning(s) suppressed.` summaries (issue 25): the server's
count of statements it did not log, never an event or a class; counted in ParseStats and in the
digest JSON. Real samples in tests/data/mysql/throttle (sources in its SOURCES.md)."""
import io
import json
import shutil
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from dagster_project.slowlog.digest import Digest
from dagster_project.slowlog.engines import mysql
from dagster_project.slowlog.parallel import digest_file_parallel
from dagster_project.slowlog.parse import parse_log
from tests.support.corpus import MYSQL_DATA

THROTTLE = MYSQL_DATA / "throttle"
MYSQL56 = THROTTLE / "yoku0825-mysql56-throttle.log"  # MySQL 5.6, log_throttle_queries_not_using_indexes=1
RDS56 = THROTTLE / "dblint-rds-mysql56-throttle.log"  # RDS MySQL 5.6.34: banner, summary, query
SLOWLOG = [sys.executable, "-m", "dagster_project.cli"]


def _parse(data: bytes):
    parsed = parse_log(io.BytesIO(data))
    rows = parsed.read_all().to_pylist()
    assert parsed.stats.accounted and parsed.stats.bytes_total == len(data)
    return rows, parsed.stats


def _summary_entry(data: bytes) -> bytes:
    """The bytes of the (one) summary entry: from its header block to the end of its statement."""
    end = data.index(b"suppressed.;\n") + len(b"suppressed.;\n")
    return data[data.rindex(b"# Time: ", 0, end):end]


def test_summary_is_counted_not_an_event():
    data = MYSQL56.read_bytes()
    rows, stats = _parse(data)
    assert [r["query"] for r in rows] == ["SELECT * FROM t1", "SELECT * FROM t1"]
    assert not any("throttle" in r["fingerprint"] for r in rows)
    assert (stats.events, stats.rejected) == (2, 0)
    assert (stats.throttled_summaries, stats.throttled_suppressed) == (1, 39)
    assert stats.throttled_query_time == pytest.approx(0.013910)  # its Query_time: the 39 statements' sum
    assert stats.skipped_bytes == len(_summary_entry(data))  # skipped with a reason, not rejected
    assert stats.event_bytes + stats.skipped_bytes == len(data)
    as_dict = stats.as_dict()
    assert (as_dict["throttled_summaries"], as_dict["throttled_suppressed"]) == (1, 39)


def test_summary_keeps_the_logs_state_for_the_next_entry():
    # the summary's `use schema;` is the log's current database: the query after it has no `use`
    # and is in `schema` (pt-query-digest says the same); the banner is skipped as before
    data = RDS56.read_bytes()
    rows, stats = _parse(data)
    assert [(r["user"], r["ip"], r["db"], r["rows_examined"]) for r in rows] == [("dbadmin2", "172.16.2.208", "schema", 12)]
    assert rows[0]["ts"] == datetime.fromtimestamp(1537887930, timezone.utc)
    assert (stats.events, stats.rejected, stats.throttled_summaries, stats.throttled_suppressed) == (1, 0, 1, 2878)
    assert stats.throttled_query_time == pytest.approx(12.232073)
    banner = data[: data.index(b"# Time: ")]
    assert stats.skipped_bytes == len(banner) + len(_summary_entry(data))


def test_other_statements_starting_with_throttle_stay_events():
    # the same entry whose statement is not the server's template is a query like any other
    data = MYSQL56.read_bytes().replace(b"throttle:         39 ", b"throttle: many ")
    rows, stats = _parse(data)
    assert stats.events == 3 and stats.throttled_summaries == 0
    assert rows[1]["query"] == "throttle: many 'index not used' warning(s) suppressed."


def _with_the_threads_user(data: bytes) -> bytes:
    """The sample as a server that does not blank the summary's user writes it (a 2014 5.6 fork's
    Slow_log_throttle::print_summary keeps the security context): the thread's own `User@Host`."""
    return data.replace(b"# User@Host: [] @  []  Id:     4", b"# User@Host: root[root] @ localhost []  Id:     4")


@pytest.mark.skipif(mysql._c_columns is None, reason="C accelerator not built (no compiler)")
@pytest.mark.parametrize("sample", ["mysql56", "mysql56-user", "rds56"])
def test_c_path_agrees_with_the_reference_path(sample, monkeypatch):
    data = {"mysql56": MYSQL56.read_bytes(), "mysql56-user": _with_the_threads_user(MYSQL56.read_bytes()),
            "rds56": RDS56.read_bytes() + b"\n"}[sample]
    # many copies: the summaries sit inside runs of common-shape entries the C path takes
    data = data * 200
    with_c = parse_log(io.BytesIO(data))
    fast = with_c.read_all()
    with monkeypatch.context() as m:
        m.setattr(mysql, "_c_starts", None)
        m.setattr(mysql, "_c_columns", None)
        without = parse_log(io.BytesIO(data))
        slow = without.read_all()
    # same rows, classes aside: fingerprints are test_speedups.py's business (the dblint query has an
    # unpaired quote, a case of its own there)
    columns = [c for c in fast.column_names if c not in ("fingerprint", "checksum")]
    assert repr(fast.select(columns).to_pylist()) == repr(slow.select(columns).to_pylist())
    assert with_c.stats.as_dict() == without.stats.as_dict()
    assert with_c.stats.throttled_summaries == 200 and with_c.stats.rejected == 0


def test_parallel_digest_counts_the_same_summaries(tmp_path):
    data = MYSQL56.read_bytes() * 500
    path = tmp_path / "slow.log"
    path.write_bytes(data)
    _, stats = digest_file_parallel(str(path), workers=3)
    assert (stats.events, stats.throttled_summaries, stats.throttled_suppressed) == (1000, 500, 500 * 39)
    assert stats.throttled_query_time == pytest.approx(500 * 0.013910)
    assert stats.accounted and stats.rejected == 0


def test_digest_json_counts_summaries_apart_from_the_classes():
    out = subprocess.run(SLOWLOG + ["digest", "--compact", str(MYSQL56), str(RDS56)], capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["events"] == 3 and report["rejected"] == 0
    assert report["throttled_summaries"] == {"entries": 2, "suppressed": 39 + 2878, "query_time": 12.245983}
    assert sum(c["count"] for c in report["classes"]) == 3
    assert not any(c["fingerprint"].startswith("throttle") for c in report["classes"])
    table = subprocess.run(SLOWLOG + ["digest", "--format", "table", str(MYSQL56)], capture_output=True, timeout=120)
    assert "1 throttle summaries of 39 statements the server did not log" in table.stdout.decode()


@pytest.mark.integration
def test_pt_query_digest_takes_the_summary_for_a_query():
    # pt-query-digest (3.x) reports the summary as a class "throttle: ? ? warning(s) suppressed." with
    # the suppressed statements' summed time: its events are ours plus the summaries
    if not shutil.which("pt-query-digest"):
        pytest.fail("percona-toolkit missing: run scripts/system-deps.sh (make test does)")
    for path in (MYSQL56, RDS56):
        pt = subprocess.run(["pt-query-digest", "--no-version-check", "--limit", "100%", "--output", "json", str(path)],
                            capture_output=True, timeout=120, check=True)
        theirs = {c["fingerprint"]: int(c["query_count"]) for c in json.loads(pt.stdout)["classes"]}
        parsed = parse_log(path)
        digest = Digest()
        for batch in parsed:
            digest.add(batch)
        assert theirs.pop("throttle: ? ? warning(s) suppressed.") == parsed.stats.throttled_summaries == 1
        assert sum(theirs.values()) == parsed.stats.events == sum(c["count"] for c in digest.classes())
