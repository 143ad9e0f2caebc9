"""RDSLogSource against a local server speaking the RDS Query API (real boto3 client, real HTTP)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dagster_project.sources import LogSourceError, RDSLogSource, TRUNCATION_MARKER, fetch_rds  # noqa: E402
from dagster_project.sources.rds import classify_rds_name  # noqa: E402
from tests.support import UTF8_ENTRY, mysql_log_bytes, postgres_corpus_files  # noqa: E402
from tests.support.rds_api_server import RDSApiServer  # noqa: E402

pytestmark = pytest.mark.timeout(120)

INSTANCE = "db-1"
ROTATED = "slowquery/mysql-slowquery.log.2026-11-24.03"
LIVE = "slowquery/mysql-slowquery.log"


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def file_sha(p: Path) -> str:
    return sha(Path(p).read_bytes())


def no_temp_files(d: Path) -> bool:
    return not [p for p in Path(d).iterdir() if p.name.endswith(".part")]


def source(srv: RDSApiServer, max_attempts: int = 0, **kw) -> RDSLogSource:
    kw.setdefault("backoff_base", 0.001)
    kw.setdefault("backoff_max", 0.01)
    return RDSLogSource(srv.client(max_attempts=max_attempts), **kw)


def lines_upto(data: bytes, start: int, end: int | None = None) -> bytes:
    """data[start:end] widened/narrowed to whole lines (never cuts a UTF-8 character)."""
    a = 0 if start == 0 else data.rfind(b"\n", 0, start) + 1
    b = len(data) if end is None or end >= len(data) else data.rfind(b"\n", 0, end) + 1
    return data[a:b]


@pytest.fixture(scope="module")
def small_lines() -> bytes:
    # ~1.2 MB of real slow logs whose lines all fit a 32 KB portion (nothing for RDS to truncate)
    return mysql_log_bytes(1_200_000, max_line=30_000)


@pytest.fixture(scope="module")
def big() -> bytes:
    # > 4 MB of real slow logs + UTF-8/XML-special/CRLF entries; no line longer than a portion
    return mysql_log_bytes(4_200_000, max_line=150_000)


# --------------------------------------------------------------------------- names / listing
def test_classify_names():
    assert classify_rds_name(ROTATED) == ("mysql", dt.date(2026, 11, 24))
    assert classify_rds_name("error/postgresql.log.2026-11-24-03") == ("postgres", dt.date(2026, 11, 24))
    assert classify_rds_name("error/postgresql.log.2026-11-24-0300") == ("postgres", dt.date(2026, 11, 24))
    assert classify_rds_name(LIVE, 1795490101000) == ("mysql", dt.date(2026, 11, 24))
    assert classify_rds_name("slowquery/mysql-slowquery.log.7", 1795490101000) == ("mysql", dt.date(2026, 11, 24))
    assert classify_rds_name("slowquery/mysql-slowquery.log.24", 1795490101000) is None
    assert classify_rds_name("slowquery/mysql-slowquery.log.2026-11-24.24") is None
    assert classify_rds_name("slowquery/mysql-slowquery.log.2026-02-30.01") is None
    assert classify_rds_name("error/mysql-error.log") is None
    assert classify_rds_name("error/mysql-error-running.log.2026-11-24.03") is None
    assert classify_rds_name("general/mysql-general.log") is None


def test_list_files_paginates_filters_and_days():
    files = {f"slowquery/mysql-slowquery.log.2026-11-{d:02d}.{h:02d}": f"x{d}{h}\n" for d in (23, 24) for h in (0, 5, 23)}
    files.update(
        {
            "error/mysql-error.log": "err\n",
            "error/mysql-error-running.log": "err\n",
            "general/mysql-general.log": "gen\n",
            "audit/server_audit.log": "aud\n",
        }
    )
    with RDSApiServer({INSTANCE: files, "pg-1": {"error/postgresql.log.2026-11-24-03": "a\n",
                                                  "error/postgresql.log.2026-11-24-0400": "b\n",
                                                  "error/postgresql.log.2026-11-25-00": "c\n"}},
                      page_size=2) as srv:
        # live file last written 2026-11-26 (fixed, so the day filter does not depend on the clock)
        srv.add_file(INSTANCE, LIVE, "live\n", last_written=1795651260000)  # 2026-11-26T00:01Z
        src = source(srv)
        all_files = src.list_files(INSTANCE)
        names = [f.name for f in all_files]
        assert len(names) == 7
        assert LIVE in names and names[-1] == LIVE  # live file last
        assert not any("error" in n or "general" in n or "audit" in n for n in names)
        # pagination: 11 files / 2 per page -> 6 DescribeDBLogFiles calls
        describes = [c for c in srv.calls if c["Action"] == "DescribeDBLogFiles"]
        assert len(describes) == 6 and describes[1]["Marker"] == "2"
        day24 = src.list_files(INSTANCE, dt.date(2026, 11, 24))
        assert [f.name for f in day24] == [
            "slowquery/mysql-slowquery.log.2026-11-24.00",
            "slowquery/mysql-slowquery.log.2026-11-24.05",
            "slowquery/mysql-slowquery.log.2026-11-24.23",
        ]
        assert all(f.size == len(files[f.name]) and f.last_written > 0 and f.instance == INSTANCE for f in day24)
        assert day24[0].local_name == "mysql-slowquery.log.2026-11-24.00"
        pg = src.list_files("pg-1", "2026-11-24")
        assert [f.local_name for f in pg] == ["postgresql.log.2026-11-24-03", "postgresql.log.2026-11-24-0400"]
        assert all(f.engine == "postgres" for f in pg)
        with pytest.raises(ClientError) as ei:
            src.list_files("nope")
        assert ei.value.response["Error"]["Code"] == "DBInstanceNotFound"


# --------------------------------------------------------------------------- byte identity
def test_download_multi_mb_byte_identical(tmp_path, big):
    assert len(big) > 4_000_000 and UTF8_ENTRY.encode() in big
    with RDSApiServer({INSTANCE: {ROTATED: big}}, max_portion_bytes=256 * 1024) as srv:
        assert srv.served_bytes(INSTANCE, ROTATED) == big  # nothing for RDS to truncate
        src = source(srv)
        [lf] = src.list_files(INSTANCE, "2026-11-24")
        res = src.download(lf, tmp_path)
        assert res.path == tmp_path / "mysql-slowquery.log.2026-11-24.03"
        assert file_sha(res.path) == sha(big) == res.sha256
        assert res.bytes == len(big)
        assert res.portions == len(srv.download_calls_for(ROTATED)) >= 16
        assert res.retries == 0 and res.truncated_markers == 0 and res.restarts == 0 and res.complete
        calls = srv.download_calls_for(ROTATED)
        assert calls[0]["Marker"] == "0"
        assert all("NumberOfLines" not in c for c in calls)
        # each call continues from the previous response's marker: nothing fetched twice
        assert len({c["Marker"] for c in calls}) == len(calls)
        assert no_temp_files(tmp_path)


def test_binary_file_falls_back_to_complete_download(tmp_path):
    # a real slow log with control characters in a statement: RDS refuses to serve it as text
    data = mysql_log_bytes(1_500_000, max_line=150_000, text_only=False) + b"SELECT '\x00\x1b[0m';\n"
    with RDSApiServer({INSTANCE: {ROTATED: data}}, max_portion_bytes=64 * 1024, throttle_every=4) as srv:
        src = source(srv)
        res = src.download(src.list_files(INSTANCE)[0], tmp_path)
        assert res.path.read_bytes() == data and res.sha256 == sha(data)
        complete = [c for c in srv.calls if c["Action"] == "DownloadCompleteDBLogFile"]
        assert complete and all(c["_signed"] for c in complete)
        refused = [c for c in srv.download_calls_for(ROTATED) if c["_status"] == 400 and c["Marker"] == "0"]
        assert refused  # the portion API was tried first
        assert res.retries >= 1 and res.complete and no_temp_files(tmp_path)


def test_download_postgres_and_odd_text(tmp_path):
    pg = b"".join(postgres_corpus_files())
    odd = (
        "line without newline at the very end: ünïcødé \u2028 sep \x85 nel \r\n"
        "\r\n\r\n   leading spaces kept\t\n\n\n"
        + "x" * 70_000
        + "\n# trailing entry without newline 日本語"
    ).encode("utf-8")
    name_pg = "error/postgresql.log.2026-11-24-03"
    with RDSApiServer({"pg-1": {name_pg: pg}, INSTANCE: {ROTATED: odd}}, max_portion_bytes=100_000) as srv:
        src = source(srv)
        r1 = src.download(src.list_files("pg-1")[0], tmp_path)
        assert r1.path.name == "postgresql.log.2026-11-24-03"
        assert r1.path.read_bytes() == pg
        r2 = src.download(src.list_files(INSTANCE)[0], tmp_path)
        assert r2.path.read_bytes() == odd  # CR, CRLF, U+2028, NEL, blank lines, no final newline


def test_download_is_idempotent_and_atomic(tmp_path, small_lines):
    data = lines_upto(small_lines, 0, 600_000)
    with RDSApiServer({INSTANCE: {ROTATED: data}}, max_portion_bytes=64 * 1024) as srv:
        src = source(srv)
        [lf] = src.list_files(INSTANCE)
        a = src.download(lf, tmp_path)
        b = src.download(lf, tmp_path)
        assert a.sha256 == b.sha256 == sha(data) and a.path == b.path
        assert sorted(p.name for p in tmp_path.iterdir()) == [lf.local_name]
        # a failing download leaves the previous file untouched and no temp file behind
        srv.throttle_every = 1
        src_fail = source(srv, max_loop_retries=2)
        with pytest.raises(ClientError):
            src_fail.download(lf, tmp_path)
        assert file_sha(a.path) == sha(data)
        assert no_temp_files(tmp_path)


def test_missing_file_raises_and_writes_nothing(tmp_path):
    with RDSApiServer({INSTANCE: {ROTATED: "a\n"}}) as srv:
        src = source(srv)
        lf = src.list_files(INSTANCE)[0]
        gone = type(lf)(INSTANCE, "slowquery/mysql-slowquery.log.2026-11-24.04", 1, 1, dt.date(2026, 11, 24))
        with pytest.raises(LogSourceError, match="not found"):
            src.download(gone, tmp_path)
        assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- throttling / 5xx
def test_loop_level_retries_on_throttling(tmp_path, big):
    data = lines_upto(big, 0, 1_500_000)
    with RDSApiServer({INSTANCE: {ROTATED: data}}, max_portion_bytes=64 * 1024, throttle_every=3) as srv:
        src = source(srv, max_attempts=0)  # botocore does not retry: the loop does
        [lf] = src.list_files(INSTANCE)
        after_listing = len(srv.calls)
        res = src.download(lf, tmp_path)
        assert file_sha(res.path) == sha(data)
        assert srv.throttled >= 8
        # every throttled call of the download was retried once by the loop, and counted
        throttled_during = sum(1 for c in srv.calls[after_listing:] if c.get("_status") == 400)
        assert res.retries == throttled_during > 0
        dl = srv.download_calls_for(ROTATED)
        ok_markers = [c["Marker"] for c in dl if c.get("_status") == 200]
        assert ok_markers[0] == "0" and len(set(ok_markers)) == len(ok_markers)


def test_botocore_retries_are_counted(tmp_path):
    data = mysql_log_bytes(200_000, max_line=60_000)
    with RDSApiServer({INSTANCE: {ROTATED: data}}, max_portion_bytes=64 * 1024) as srv:
        src = source(srv, max_attempts=4)
        [lf] = src.list_files(INSTANCE)
        srv.throttle_first = srv._fault_calls + 2  # the next two calls are throttled
        res = src.download(lf, tmp_path)
        assert file_sha(res.path) == sha(data)
        assert srv.throttled == 2
        assert res.retries == 2  # reported by botocore as ResponseMetadata.RetryAttempts


def test_botocore_backoff_is_capped_at_max_backoff_s(tmp_path):
    """Six throttles in a row on one portion: botocore alone would sleep rand(0, 1), rand(0, 2), ...
    rand(0, 32) s between them (all six under 0.5 s about once in 30,000 runs); capped at 50 ms, every
    retry follows within half a second, still jittered, the attempt count still botocore's."""
    from dagster_project.resources.aws import RDSLogSourceResource

    data = mysql_log_bytes(100_000, max_line=60_000)
    with RDSApiServer({INSTANCE: {ROTATED: data}}, max_portion_bytes=256 * 1024) as srv:
        resource = RDSLogSourceResource(instances=[INSTANCE], region_name="us-east-1", endpoint_url=srv.endpoint_url,
                                        aws_access_key_id="testing", aws_secret_access_key="testing",
                                        max_attempts=8, max_loop_retries=0, max_backoff_s=0.05)
        src = resource.build_source()
        [lf] = src.list_files(INSTANCE)
        srv.throttle_first = srv._fault_calls + 6
        res = src.download(lf, tmp_path)
        assert file_sha(res.path) == sha(data)
        assert srv.throttled == 6 and res.retries == 6  # botocore's retries, not the loop's
        starts = sorted(t[0] for t in srv.timeline if t[2] == "DownloadDBLogFilePortion")
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert len(gaps) >= 6 and max(gaps) < 0.5, gaps
        assert max(gaps[:6]) - min(gaps[:6]) > 0.002, gaps  # jittered, not six retries at the cap


def test_max_backoff_s_is_validated():
    from dagster_project.resources.aws import RDSLogSourceResource
    from dagster_project.sources.aws_client import make_client

    with pytest.raises(Exception, match="greater than or equal to 0"):
        RDSLogSourceResource(instances=[INSTANCE], max_backoff_s=-1)
    with pytest.raises(ValueError, match="max back-off must be >= 0"):
        make_client("rds", region="us-east-1", max_backoff_s=float("nan"))


def test_5xx_and_throttling_mixed(tmp_path, small_lines):
    data = lines_upto(small_lines, 0, 900_000)
    with RDSApiServer({INSTANCE: {ROTATED: data}}, max_portion_bytes=32 * 1024, error_5xx_every=4, throttle_every=7) as srv:
        assert srv.served_bytes(INSTANCE, ROTATED) == data
        src = source(srv, max_attempts=0)
        res = src.download(src.list_files(INSTANCE)[0], tmp_path)
        assert file_sha(res.path) == sha(data)
        assert srv.errors_5xx > 0 and srv.throttled > 0
        assert res.retries >= 1


def test_adaptive_retry_mode(tmp_path):
    data = mysql_log_bytes(100_000, max_line=60_000)
    with RDSApiServer({INSTANCE: {ROTATED: data}}, max_portion_bytes=16 * 1024) as srv:
        src = RDSLogSource(srv.client(max_attempts=3, mode="adaptive"), backoff_base=0.001)
        res = src.download(src.list_files(INSTANCE)[0], tmp_path)
        assert file_sha(res.path) == sha(data)


# --------------------------------------------------------------------------- truncation marker
def test_truncated_lines_are_kept_and_counted(tmp_path, small_lines):
    long_line = ("SELECT '" + "é" * 50_000 + "';\n").encode()
    data = lines_upto(small_lines, 0, 200_000) + long_line + lines_upto(small_lines, 200_000, 400_000)
    nlines = data.count(b"\n")
    with RDSApiServer(
        {INSTANCE: {ROTATED: data}},
        max_portion_bytes=64 * 1024,
        truncate_lines={(INSTANCE, ROTATED): {3, 10, nlines - 2}},
    ) as srv:
        served = srv.served_bytes(INSTANCE, ROTATED)
        assert served.count(TRUNCATION_MARKER.encode()) == 4  # 3 injected + the over-long line
        src = source(srv)
        res = src.download(src.list_files(INSTANCE)[0], tmp_path)
        assert res.path.read_bytes() == served
        assert res.truncated_markers == 4


# --------------------------------------------------------------------------- changing files
def test_growing_file_is_downloaded_again_cleanly(tmp_path, small_lines):
    base = lines_upto(small_lines, 0, 300_000)
    growth = [UTF8_ENTRY.replace("42", str(i)) for i in range(3)]
    with RDSApiServer({INSTANCE: {LIVE: base}}, max_portion_bytes=64 * 1024) as srv:
        srv.grow(INSTANCE, LIVE, growth)
        src = source(srv)
        [lf] = src.list_files(INSTANCE)
        res = src.download(lf, tmp_path)
        final = base + "".join(growth).encode()
        assert srv.served_bytes(INSTANCE, LIVE) == final
        got = res.path.read_bytes()
        assert got == final  # no duplicated portion, nothing lost
        assert res.restarts >= 1 and res.complete
        assert res.path.name == "mysql-slowquery.log"
        starts = [c for c in srv.download_calls_for(LIVE) if c["Marker"] == "0"]
        assert len(starts) == res.restarts + 1


def test_concurrent_downloads_share_their_after_checks_and_still_see_a_change(tmp_path, small_lines):
    """24 files of one day downloaded 8 at a time: the "after" checks are answered by shared listings
    of that day (fewer DescribeDBLogFiles calls than files), every file is byte-identical, and a file
    that grows during its download is still caught and downloaded again."""
    from dagster_project.sources.base import download_concurrently

    hours = {f"slowquery/mysql-slowquery.log.2026-11-24.{h:02d}": lines_upto(small_lines, h * 40_000, h * 40_000 + 60_000)
             for h in range(24)}
    grower = "slowquery/mysql-slowquery.log.2026-11-24.05"
    growth = [UTF8_ENTRY.replace("42", str(i)) for i in range(2)]
    with RDSApiServer({INSTANCE: dict(hours)}, max_portion_bytes=16 * 1024, latency=0.02) as srv:
        srv.add_file(INSTANCE, "slowquery/mysql-slowquery.log.2026-11-23.23", b"other day\n")
        srv.grow(INSTANCE, grower, growth)
        src = source(srv)
        files = src.list_files(INSTANCE, "2026-11-24")
        assert len(files) == 24
        before = len(srv.calls)
        outcomes = download_concurrently(lambda lf: src.download(lf, tmp_path), files, 8)
        checks = [c for c in srv.calls[before:] if c.get("Action") == "DescribeDBLogFiles"]
        for lf, res, err in outcomes:
            assert err is None and res.complete
            assert res.path.read_bytes() == srv.served_bytes(INSTANCE, lf.name)
        results = {lf.name: res for lf, res, _ in outcomes}
        assert results[grower].restarts >= 1 and results[grower].path.read_bytes().endswith(growth[-1].encode())
        assert all(r.restarts == 0 for n, r in results.items() if n != grower)
        # one listing answers the downloads that finished while it was waited for; each is of that day only
        assert len(checks) < 24, len(checks)
        assert {c.get("FilenameContains") for c in checks} <= {"mysql-slowquery.log.2026-11-24", grower}
        assert no_temp_files(tmp_path)


def test_file_that_never_settles_keeps_last_snapshot(tmp_path):
    base = mysql_log_bytes(100_000, max_line=60_000)
    with RDSApiServer({INSTANCE: {LIVE: base}}, max_portion_bytes=16 * 1024) as srv:
        srv.grow(INSTANCE, LIVE, [f"-- growth {i}\n" for i in range(10_000)])
        src = source(srv, max_restarts=2)
        res = src.download(src.list_files(INSTANCE)[0], tmp_path)
        assert not res.complete and res.restarts == 2
        got = res.path.read_bytes()
        assert srv.served_bytes(INSTANCE, LIVE).startswith(got)  # a clean prefix snapshot
        assert got.startswith(base) and got.count(b"-- growth 0\n") == 1


def test_rewritten_file_restarts_from_zero(tmp_path, small_lines):
    first, second = lines_upto(small_lines, 0, 400_000), lines_upto(small_lines, 400_000, 700_000)
    with RDSApiServer({INSTANCE: {ROTATED: first}}, max_portion_bytes=32 * 1024) as srv:
        srv.rewrite_at(4, INSTANCE, ROTATED, second)
        src = source(srv)
        res = src.download(src.list_files(INSTANCE)[0], tmp_path)
        assert res.path.read_bytes() == second
        assert res.restarts == 1 and res.complete


def test_broken_marker_sequence_restarts(tmp_path, small_lines):
    data = lines_upto(small_lines, 0, 500_000)
    with RDSApiServer({INSTANCE: {ROTATED: data}}, max_portion_bytes=32 * 1024) as srv:
        srv.break_marker_at(5)
        src = source(srv)
        res = src.download(src.list_files(INSTANCE)[0], tmp_path)
        assert res.path.read_bytes() == data
        assert res.restarts == 1 and res.complete
        # always broken -> bounded, then an error; nothing written
        srv.break_marker_at(*range(srv.download_calls + 1, srv.download_calls + 200))
        out = tmp_path / "other"
        with pytest.raises(LogSourceError, match="marker"):
            source(srv, max_restarts=2).download(src.list_files(INSTANCE)[0], out)
        assert not out.exists() or list(out.iterdir()) == []


# --------------------------------------------------------------------------- folder-backed server + fetch helper
def test_fetch_rds_from_folder_server(tmp_path, monkeypatch, big):
    root = tmp_path / "rds"
    (root / INSTANCE / "slowquery").mkdir(parents=True)
    (root / INSTANCE / "error").mkdir()
    f03, f04 = lines_upto(big, 0, 700_000), lines_upto(big, 700_000, 900_000)
    (root / INSTANCE / "slowquery" / "mysql-slowquery.log.2026-11-24.03").write_bytes(f03)
    (root / INSTANCE / "slowquery" / "mysql-slowquery.log.2026-11-24.04").write_bytes(f04)
    (root / INSTANCE / "slowquery" / "mysql-slowquery.log.2026-11-25.00").write_bytes(b"other day\n")
    (root / INSTANCE / "error" / "mysql-error.log").write_bytes(b"not a slow log\n")
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(k, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with RDSApiServer(folder=root, max_portion_bytes=128 * 1024, throttle_every=5) as srv:
        out = tmp_path / "out"
        results = fetch_rds(INSTANCE, "2026-11-24", out, region="us-east-1", endpoint_url=srv.endpoint_url, max_attempts=5)
    assert sorted(p.name for p in out.iterdir()) == [
        "mysql-slowquery.log.2026-11-24.03",
        "mysql-slowquery.log.2026-11-24.04",
    ]
    assert (out / "mysql-slowquery.log.2026-11-24.03").read_bytes() == f03
    assert (out / "mysql-slowquery.log.2026-11-24.04").read_bytes() == f04
    assert sum(r.retries for r in results) >= 1
    assert all(os.path.dirname(r.path) == str(out) for r in results)
