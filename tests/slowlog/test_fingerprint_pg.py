"""fingerprint_pg_cached (the per-event path) == fingerprint_pg on every query: the number masking it
memoizes on must never change a class. Checked on real queries (pgBadger's and filebeat's logs) and on
generated token and character soups."""
from __future__ import annotations

import bz2
import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_project.slowlog.fingerprint_pg import fingerprint_pg, fingerprint_pg_cached, mask_numbers
from dagster_project.slowlog.parse import parse_log
from tests.support.corpus import CORPUS, FILEBEAT, PGBADGER_FIXTURES

FIXTURES = PGBADGER_FIXTURES


def _same(query: str) -> None:
    assert fingerprint_pg(mask_numbers(query)) == fingerprint_pg(query), query
    assert fingerprint_pg_cached(query) == fingerprint_pg(query), query


def _corpus_queries() -> list[str]:
    logs = sorted((CORPUS / "pgbadger" / "fixtures").iterdir()) + sorted((FILEBEAT / "postgresql-log").glob("*.log"))
    logs.append(FIXTURES / "pg-syslog.1.bz2")
    queries: set[str] = set()
    for log in logs:
        for batch in parse_log(log, engine="postgres"):
            queries.update(batch.column("query").to_pylist())
    return sorted(queries)


def test_corpus_queries():
    queries = _corpus_queries()
    assert len(queries) > 100_000
    for q in queries:
        _same(q)


@pytest.mark.parametrize("query", [
    "select 1..5", "select 1x5, 0x1F, 0o17, 0b101, 00x5, 01xF", "select 1_000, 12_000.5e-3, .5, 1.e5",
    "select t1.col2, a$1, $12, $tag1$ 9 $tag1$", 'select "col 12" from "t2"', "select é1, ü22 from t",
    "select 0, 00, 0.0, -0, +07", "values (1), (2), (1)", "select '12' || E'\\\\1' -- 3\n /* 4 */",
])
def test_edge_cases(query):
    _same(query)


_PIECES = st.sampled_from([
    "SELECT", "FROM", "t", "t1", "\"Q1\"", "'s2'", "E'a\\'3'", "$1", "$$4$$", "$a1$ 5 $a1$", "0", "00", "1", "12",
    "-3", "1.5", "1..5", ".5", "1e5", "1e-5", "0x1F", "0x", "0o7", "0b1", "1_0", "x9", "é9", "+", "-", "=", "::",
    "int", "(", ")", ",", ";", "IN", "VALUES", "ARRAY", "[", "]", "/* 6 */", "-- 7\n", " ", "\n\t", "true", ".", "e",
    "_", "$", "'",
])


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, max_size=25), st.sampled_from(["", " "]))
def test_token_soup(pieces, sep):
    _same(sep.join(pieces))


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789._eExXoObB+-$'\"té (),;/*\n")), max_size=40))
def test_character_soup(text):
    _same(text)
