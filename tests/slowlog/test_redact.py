"""redact_query: one test per kind of literal and comment; every canary must disappear, the
query's shape (keywords, identifiers, operators) must stay. The canary end to end (real logs through
every asset to OpenSearch, Slack, Dagster metadata, the demo report) is tests/test_no_literal_leaves.py."""
import pytest

from dagster_project.slowlog.redact import redact_query

# (engine, query, expected): expected is the exact redaction, so over-redaction shows too
CASES = {
    "single quotes": ("mysql", "SELECT * FROM t WHERE a = 'canary-sq'", "SELECT * FROM t WHERE a = ?"),
    "doubled quote": ("mysql", "SELECT 'it''s canary-dbl' FROM t", "SELECT ? FROM t"),
    "backslash escape": ("mysql", r"SELECT 'it\'s canary-bs', b FROM t", "SELECT ?, b FROM t"),
    "escaped backslash": ("mysql", r"SELECT 'C:\\', 'canary-bsbs' FROM t", "SELECT ?, ? FROM t"),
    "mysql double quotes": ("mysql", 'SELECT * FROM t WHERE a = "canary-dq"', "SELECT * FROM t WHERE a = ?"),
    "national": ("mysql", "SELECT N'canary-n' FROM t", "SELECT ? FROM t"),
    "charset introducer": ("mysql", "SELECT _utf8mb4'canary-intro' FROM t", "SELECT ? FROM t"),
    "hex string": ("mysql", "SELECT x'CA11AB1E' FROM t", "SELECT ? FROM t"),
    "hex number": ("mysql", "SELECT 0xCA11AB1E FROM t", "SELECT ? FROM t"),
    "bit string": ("mysql", "SELECT b'1100101' FROM t", "SELECT ? FROM t"),
    "bit number": ("mysql", "SELECT 0b1100101 FROM t", "SELECT ? FROM t"),
    "numbers": ("mysql", "SELECT a FROM t WHERE b > 987654 AND c < 1.5e3 AND d = .25",
                "SELECT a FROM t WHERE b > ? AND c < ? AND d = ?"),
    "booleans": ("mysql", "SELECT a FROM t WHERE b = TRUE OR c = false", "SELECT a FROM t WHERE b = ? OR c = ?"),
    "in list": ("mysql", "SELECT a FROM t WHERE b IN ('canary-in', 987654, \"canary-in2\")",
                "SELECT a FROM t WHERE b IN (?, ?, ?)"),
    "cut literal": ("mysql", "INSERT INTO notes VALUES (7, 'canary-cut secret note that rds cut off here",
                    "INSERT INTO notes VALUES (?, ?"),
    "cut double quote": ("mysql", 'SELECT a FROM t WHERE b = "canary-cutdq', "SELECT a FROM t WHERE b = ?"),
    "dash comment": ("mysql", "SELECT a -- canary-dash\nFROM t", "SELECT a \nFROM t"),
    "hash comment": ("mysql", "SELECT * FROM t WHERE id = ? # canary-hash bob@example.com",
                     "SELECT * FROM t WHERE id = ? "),
    "block comment": ("mysql", "SELECT /* canary-block */ a FROM t", "SELECT  a FROM t"),
    "cut block comment": ("mysql", "SELECT a FROM t /* canary-cutblock", "SELECT a FROM t "),
    "optimizer hint": ("mysql", "SELECT /*+ MAX_EXECUTION_TIME(1000) canary-hint */ a FROM t", "SELECT  a FROM t"),
    "executable comment": ("mysql", "SELECT /*!40001 SQL_NO_CACHE */ a FROM t WHERE b = 'canary-exec'",
                           "SELECT /*!? SQL_NO_CACHE */ a FROM t WHERE b = ?"),
    "dollar quotes": ("mysql", "SELECT $$canary-dollar@x.com$$ FROM t", "SELECT ? FROM t"),
    "backtick identifiers": ("mysql", "SELECT `col 1`, `t2`.`x` FROM `db`.`t2`", "SELECT `col 1`, `t2`.`x` FROM `db`.`t2`"),
    # PostgreSQL
    "pg escape string": ("postgres", r"SELECT E'it\'s canary-e' FROM t", "SELECT ? FROM t"),
    "pg unicode string": ("postgres", "SELECT U&'canary-u\\0041' FROM t", "SELECT ? FROM t"),
    "pg bit and hex": ("postgres", "SELECT B'1011', X'CA11AB1E' FROM t", "SELECT ?, ? FROM t"),
    "pg dollar": ("postgres", "SELECT $$canary-dollar$$ FROM t", "SELECT ? FROM t"),
    "pg tagged dollar": ("postgres", "SELECT $fn$ canary-tag $$ still $fn$ FROM t", "SELECT ? FROM t"),
    "pg cut dollar": ("postgres", "SELECT $body$ canary-cutdollar", "SELECT ?"),
    "pg nested comment": ("postgres", "SELECT /* a /* canary-nested */ canary-outer */ 1 FROM t", "SELECT  ? FROM t"),
    "pg hint": ("postgres", "/*+ SeqScan(t) canary-pghint */ SELECT 1", " SELECT ?"),
    "pg identifiers and params": ("postgres", 'SELECT "Col1", $1, a::int FROM "T"', 'SELECT "Col1", $1, a::int FROM "T"'),
    "pg json operators": ("postgres", "SELECT j #> '{canary-path}', j #>> '{a}' FROM t", "SELECT j #> ?, j #>> ? FROM t"),
    "pg cut literal": ("postgres", "UPDATE t SET note = 'canary-pgcut that rds cut", "UPDATE t SET note = ?"),
    # standard_conforming_strings on: 'C:\' ends at its quote; off: the backslash escapes it. Either way
    # the next literal must not leak.
    "pg backslash readings": ("postgres", r"SELECT 'C:\', 'canary-pgbs' FROM t WHERE x = 1", "SELECT ?"),
}


@pytest.mark.parametrize("engine,query,expected", CASES.values(), ids=CASES.keys())
def test_each_kind_of_literal_and_comment(engine, query, expected):
    out = redact_query(query, engine)
    assert out == expected
    assert "canary" not in out.lower() and "ca11ab1e" not in out.lower() and "987654" not in out
    assert redact_query(out, engine) == out  # idempotent: redacting what was redacted changes nothing


@pytest.mark.parametrize("engine,query,expected", CASES.values(), ids=CASES.keys())
def test_unknown_engine_redacts_every_reading(engine, query, expected):
    out = redact_query(query)
    assert "canary" not in out.lower() and "ca11ab1e" not in out.lower() and "987654" not in out


def test_unknown_engine_covers_both_dialects():
    # MySQL reads `#` as a comment and "x" as a string; PostgreSQL reads a plain 'C:\' as ending at
    # its quote: without the engine, all of them are redacted
    assert redact_query("SELECT a # canary-hash") == "SELECT a "
    assert redact_query('SELECT "canary-dq" FROM t') == "SELECT ? FROM t"
    assert "canary" not in redact_query(r"SELECT 'C:\', 'canary-pgbs' FROM t")
    assert redact_query('SELECT "Col1" FROM t', "postgres") == 'SELECT "Col1" FROM t'


def test_redis_keeps_the_command_and_key_pattern_only():
    assert redact_query("SET session:12345 canary-redis-value EX 60", "redis") == "SET session:?"
    assert redact_query('HSET user:7 "canary redis" v2', "redis") == "HSET user:?"


def test_none_and_plain_queries():
    assert redact_query(None) is None
    assert redact_query("SELECT a, b FROM t1 JOIN t2 USING (id)") == "SELECT a, b FROM t1 JOIN t2 USING (id)"
