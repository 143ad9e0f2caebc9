"""The C fingerprint must equal the Python reference, byte for byte."""
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_project.slowlog import fingerprint as fpmod
from dagster_project.slowlog.parse import parse_log
from tests.support.corpus import PERCONA

pytestmark = pytest.mark.skipif(not fpmod.HAVE_SPEEDUPS, reason="C accelerator not built (no compiler)")

TOKENS = ["select", "SELECT", "*", "from", "t", "where", "a", "=", "1", "'x'", '"y"', "in", "(", ")", ",", "values",
          "VALUES", "order by", "ORDER BY", "asc", "ASC", "limit", "?", "offset", "--c\n", "#c\n", "/*c*/", "/*!401*/",
          "insert into", "replace into", "ignore", "call", "use", "db", "null", "true", "0x1F", "-1", "1.5e3", "\\'",
          "\\\\", " ", "\n", "\t", "é", "union"]


def _same(query: str) -> None:
    c = fpmod._c_fingerprint_bytes(query.encode())
    if c is not None:  # None: the Python path decides (UNION)
        assert c.decode() == fpmod.fingerprint(query)


def test_corpus_queries():
    queries = [json.loads(l)["query"] for l in (PERCONA / "fingerprints.jsonl").read_text().splitlines()]
    for log in (PERCONA / "slowlogs").glob("slow0*.txt"):
        for batch in parse_log(log):
            queries += batch.column("query").to_pylist()
    assert len(queries) > 200
    for q in queries:
        _same(q)


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=30))
def test_token_soup(tokens):
    _same(" ".join(tokens))


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aINSERTvaluesVALUES()?,'\"\\#-/*! \n\t\r\x0b09.xb+ORDERbyASClimitnull;")), max_size=60))
def test_character_soup(text):
    _same(text)


def test_invalid_utf8_bytes_do_not_crash():
    for _ in range(2000):
        raw = bytes(random.getrandbits(8) for _ in range(random.randint(0, 50)))
        assert isinstance(fpmod.fingerprint_raw(raw), bytes)
