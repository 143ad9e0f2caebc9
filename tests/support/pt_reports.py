"""pt-query-digest's expected reports shipped in the Percona Toolkit test suite (shared corpus):
the invocations that group by fingerprint without filters, and how to read a report's figures."""
from __future__ import annotations

import json
import re

import pytest

from tests.support.corpus import PERCONA

_SKIP_ARGS = {"--group-by", "--filter", "--since", "--until", "--outliers", "--embedded-attributes",
              "--timeline", "--output", "--sample", "--run-time", "--run-time-mode", "--iterations"}
#: a class header of a report (group 1: the checksum)
QUERY = re.compile(r"^# Query \d+: .*ID 0x([0-9A-F]{16,32}) at byte", re.M)
#: a class's event count
COUNT = re.compile(r"^# Count\s+\d+\s+(\d+)", re.M)
#: a class's total exec time
EXEC = re.compile(r"^# Exec time\s+\d+\s+(\S+)", re.M)
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(text: str) -> tuple[float, float]:
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


#: ``pytest.param(expected_report, logs)`` for every such invocation
CASES = _cases()
