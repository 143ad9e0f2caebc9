"""Parity with pt-query-digest's expected reports shipped in the Percona Toolkit test suite.

For every invocation that groups by fingerprint without filters, each class pt reports must be
ours too: same checksum, same count, same total Query_time (to the report's rounding).
"""
import json
import re

import pytest

from dagster_project.slowlog.digest import Digest
from dagster_project.slowlog.parse import parse_log
from tests.conftest import PERCONA

_SKIP_ARGS = {"--group-by", "--filter", "--since", "--until", "--outliers", "--embedded-attributes",
              "--timeline", "--output", "--sample", "--run-time", "--run-time-mode", "--iterations"}
_QUERY = re.compile(r"^# Query \d+: .*ID 0x([0-9A-F]{16,32}) at byte", re.M)
_COUNT = re.compile(r"^# Count\s+\d+\s+(\d+)", re.M)
_EXEC = re.compile(r"^# Exec time\s+\d+\s+(\S+)", re.M)
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(text: str) -> tuple[float, float]:
    """pt's printed time and the rounding it implies (half a unit of its last digit)."""
    m = re.fullmatch(r"([\d]+)(?:\.(\d+))?(us|ms|s|m|h)?", text)
    assert m, text
    unit = _UNITS[m.group(3) or "s"]
    decimals = len(m.group(2) or "")
    value = float(f"{m.group(1)}.{m.group(2) or 0}") * unit
    return value, 0.5 * 10 ** (-decimals) * unit


def _cases():
    cases = []
    for line in (PERCONA / "expected" / "INVOCATIONS.jsonl").read_text().splitlines():
        inv = json.loads(line)
        args = inv.get("pt_query_digest_args") or []
        if _SKIP_ARGS & set(args) or not any("query_report" in a for a in args):
            continue
        logs = [a for a in args if a.startswith("slowlogs/")]
        cases.append(pytest.param(inv["expected"], logs, id=inv["expected"].split("/")[-1]))
    return cases


CASES = _cases()


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
    blocks = _QUERY.split(report)[1:]
    pairs = list(zip(blocks[0::2], blocks[1::2]))
    for checksum, body in pairs:
        match = [c for cs, c in ours.items() if cs.endswith(checksum) or cs.startswith(checksum)]
        assert match, f"class 0x{checksum} reported by pt is missing"
        cls = match[0]
        count = int(_COUNT.search(body).group(1))
        assert cls["count"] == count, (checksum, cls["fingerprint"])
        total, rounding = _seconds(_EXEC.search(body).group(1))
        assert abs(cls["query_time"]["sum"] - total) <= rounding * 1.0001, cls["fingerprint"]
