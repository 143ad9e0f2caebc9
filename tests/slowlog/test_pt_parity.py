"""Parity with pt-query-digest's expected reports shipped in the Percona Toolkit test suite.

For every invocation that groups by fingerprint without filters, each class pt reports must be
ours too: same checksum, same count, same total Query_time (to the report's rounding).
"""
import pytest

from dagster_project.slowlog.digest import Digest
from dagster_project.slowlog.parse import parse_log
from tests.support.corpus import PERCONA
from tests.support.pt_reports import CASES, COUNT, EXEC, QUERY, seconds


def test_enough_cases():
    assert len(CASES) >= 25


@pytest.mark.parametrize("expected,logs", CASES)
def test_classes_counts_and_times_match_pt(expected, logs):
    report = (PERCONA / expected).read_text()
    digest = Digest()
    for log in logs:
        for batch in parse_log(PERCONA / log):
            digest.add(batch)
    ours = {c["checksum"]: c for c in digest.classes()}
    blocks = QUERY.split(report)[1:]
    pairs = list(zip(blocks[0::2], blocks[1::2]))
    for checksum, body in pairs:
        match = [c for cs, c in ours.items() if cs.endswith(checksum) or cs.startswith(checksum)]
        assert match, f"class 0x{checksum} reported by pt is missing"
        cls = match[0]
        count = int(COUNT.search(body).group(1))
        assert cls["count"] == count, (checksum, cls["fingerprint"])
        total, rounding = seconds(EXEC.search(body).group(1))
        assert abs(cls["query_time"]["sum"] - total) <= rounding * 1.0001, cls["fingerprint"]
