"""Statistics as pt-query-digest defines them, on the Percona Toolkit's own logs and expected reports.

pt reports the *sample* standard deviation (n - 1). Its figures come from its ~5%-wide buckets, so on
two-event classes (where a population stddev would be pt's / sqrt(2), 29% off) ours must be within
10% of pt's printed value.
"""
import re

import pytest

from dagster_project.slowlog.digest import Digest
from dagster_project.slowlog.parse import parse_log
from tests.support.corpus import PERCONA
from tests.support.pt_reports import CASES, COUNT, QUERY, seconds



def _pt_stddevs():
    out = []
    for param in CASES:
        expected, logs = param.values
        report = (PERCONA / expected).read_text()
        blocks = QUERY.split(report)[1:]
        for checksum, body in zip(blocks[0::2], blocks[1::2]):
            line = re.search(r"^# Exec time.*$", body, re.M).group(0).split()
            count = int(COUNT.search(body).group(1))
            if count == 2:
                value, rounding = seconds(line[9])
                if value > 0:
                    out.append(pytest.param(logs, checksum, value, rounding, id=f"{expected.split('/')[-1]}-{checksum[:8]}"))
    return out


CASES_2 = _pt_stddevs()


def test_there_are_two_event_classes():
    assert len(CASES_2) >= 5


@pytest.mark.parametrize("logs,checksum,pt_stddev,rounding", CASES_2)
def test_sample_stddev_as_pt(logs, checksum, pt_stddev, rounding):
    digest = Digest()
    for log in logs:
        for batch in parse_log(PERCONA / log):
            digest.add(batch)
    (cls,) = [c for c in digest.classes() if c["checksum"].endswith(checksum) or c["checksum"].startswith(checksum)]
    ours = cls["query_time"]["stddev"]
    assert abs(ours - pt_stddev) <= 0.10 * pt_stddev + rounding, (ours, pt_stddev)
