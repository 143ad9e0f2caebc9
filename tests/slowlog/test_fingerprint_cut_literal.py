"""A statement the log cut inside a literal (RDS truncates long statements) gets the class of the
whole statement, without the literal's text, on both paths (pure Python and the C accelerator) and
for both SQL engines. pt-query-digest keeps such text (one class per cut statement, the literal in
its fingerprint); every class pt reports on its own test logs is still ours (test_pt_parity.py)."""
import pytest

from dagster_project.slowlog import _speedups
from dagster_project.slowlog.fingerprint import fingerprint
from dagster_project.slowlog.fingerprint_pg import fingerprint_pg
from tests.support.corpus import FILEBEAT

# a real statement of the corpus (filebeat/mysql-slowlog/mysql-5.7.22.log) and its class
MYSQL_LOG = FILEBEAT / "mysql-slowlog" / "mysql-5.7.22.log"
STATEMENT = "SELECT count(*) FROM mysql.user WHERE user='root' and password='';"
CLASS = "select count(*) from mysql.user where user=? and password=?"


def test_the_statement_is_in_the_corpus():
    assert STATEMENT in MYSQL_LOG.read_text()
    assert fingerprint(STATEMENT.rstrip(";")) == CLASS


@pytest.mark.parametrize("cut", [
    "SELECT count(*) FROM mysql.user WHERE user='canary-cut-1 that the log cut",
    "SELECT count(*) FROM mysql.user WHERE user='root' and password='canary-cut-2",
    'SELECT count(*) FROM mysql.user WHERE user="canary-cut-3',
])
def test_mysql_cut_literal_both_paths(cut):
    py = fingerprint(cut)
    c = _speedups.fingerprint_bytes(cut.encode())
    assert "canary" not in py
    assert c == py.encode()
    assert CLASS.startswith(py[:-1])  # the cut statement's class: the statement up to the cut, then ?


def test_mysql_complete_quotes_unchanged():
    # an apostrophe inside a double-quoted string, a quote inside the other kind: pt's pairing is kept
    for q, fp in [("""SELECT "O'Brien", 'say "hi"' FROM t""", "select ?, ? from t"),
                  ("SELECT 'a', 'b' FROM t WHERE c = 1", "select ?, ? from t where c = ?")]:
        assert fingerprint(q) == fp
        assert _speedups.fingerprint_bytes(q.encode()) == fp.encode()


@pytest.mark.parametrize("cut", [
    "UPDATE t SET note = 'canary-pgcut-1 that the log cut",
    "UPDATE t SET note = E'it\\'s canary-pgcut-2",
    "UPDATE t SET note = $$canary-pgcut-3",
    "UPDATE t SET note = $body$canary-pgcut-4 $$",
    "UPDATE t SET note = ? /* canary-pgcut-5",
])
def test_postgres_cut_literal_both_paths(cut):
    py = fingerprint_pg(cut)
    assert "canary" not in py
    assert _speedups.fingerprint_pg_bytes(cut.encode()) == py.encode()
    assert py == "update t set note = ?"
