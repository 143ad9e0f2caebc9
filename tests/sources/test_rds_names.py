"""RDS log file names are checked against the documented patterns, strictly: one odd name (a trailing
newline, non-ASCII digits, a control character) is skipped with a warning that shows it escaped,
and the rest of the instance's files are listed and downloaded as usual. Through the local RDS
Query API server (tests/support/rds_api_server.py) and a real boto3 client."""
from __future__ import annotations

import logging

import pytest

from dagster_project.sources import RDSLogSource
from dagster_project.sources.rds import classify_rds_name
from tests.support.ingest import rds_log
from tests.support.rds_api_server import RDSApiServer

pytestmark = pytest.mark.timeout(120)

GOOD = ["slowquery/mysql-slowquery.log.2026-11-24.03", "error/postgresql.log.2026-11-24-0400",
        "slowquery/mysql-slowquery.log.7"]
ODD = [
    "slowquery/mysql-slowquery.log.2026-11-24.04\n",  # '$' matched before the newline: a file name ending in one
    "slowquery/mysql-slowquery.log.\u0662\u0660\u0662\u0666-11-24.05",  # Arabic-Indic digits: \d without re.ASCII
    "error/postgresql.log.2026-11-24-0\u0663",  # the same in the minute
    "slowquery/mysql-slowquery.log.\uff11",  # a fullwidth digit as the hour of an older engine
    "slowquery/mysql-slowquery.log.2026-11-24.0\x006",  # NUL (served as U+FFFD: XML cannot carry it)
    "slowquery/mysql-slowquery.log.2026-11-24.07\x85",  # a C1 control (NEL: a line break to some readers)
    "slowquery/mysql-slowquery.log.2026-11-24.08\x7f",  # DEL
]


@pytest.mark.parametrize("name", ODD)
def test_odd_names_are_not_log_files(name):
    assert classify_rds_name(name, 1_764_000_000_000) is None


def test_documented_names_still_are():
    assert [classify_rds_name(n, 1_764_000_000_000)[0] for n in GOOD] == ["mysql", "postgres", "mysql"]


def test_one_odd_name_is_skipped_with_a_warning_and_the_rest_is_listed_and_downloaded(tmp_path, caplog):
    files = {n: rds_log(3) for n in GOOD + ODD}
    files["error/mysql-error.log"] = b"not a slow log\n"  # another kind of log: skipped quietly
    with RDSApiServer({"db-1": files}) as srv:
        source = RDSLogSource(srv.client(max_attempts=0), backoff_base=0.001, backoff_max=0.01)
        with caplog.at_level(logging.WARNING, logger="dagster_project.sources.rds"):
            listed = source.list_files("db-1")
        assert sorted(f.name for f in listed) == sorted(GOOD)
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == len(ODD)
        for name in ODD:
            served = name.replace("\x00", "\ufffd")
            assert any(ascii(served) in w for w in warnings), (name, warnings)
        assert all(w.isascii() and w.isprintable() for w in warnings)  # one line, escaped
        assert not any("mysql-error" in w for w in warnings)
        for log_file in listed:
            result = source.download(log_file, tmp_path)
            assert result.path.read_bytes() == srv.served_bytes("db-1", log_file.name)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n.rsplit("/", 1)[1] for n in GOOD)
