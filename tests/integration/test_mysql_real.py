"""Live parity: a real MariaDB server's slow log, pt-query-digest vs `slowlog digest`.

Target (issue 3): >= 99% of events in identical classes (same checksum, same count).
"""
import json
import shutil
import subprocess
import sys

import pytest

from tests.support.mariadb import MariaDB, workload_sql

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def real_log(tmp_path_factory):
    if not MariaDB.available() or not shutil.which("pt-query-digest"):
        pytest.fail("mariadb-server / percona-toolkit missing: run scripts/system-deps.sh (make test does)")
    work = tmp_path_factory.mktemp("mariadb")
    with MariaDB(work) as db:
        db.run_sql(workload_sql(4000, seed=7))
    return db.slow_log


def test_same_classes_counts_and_times_as_live_pt_query_digest(real_log):
    pt = subprocess.run(["pt-query-digest", "--no-version-check", "--limit", "100%", "--output", "json", str(real_log)],
                        capture_output=True, timeout=300, check=True)
    theirs = {c["checksum"]: c for c in json.loads(pt.stdout)["classes"]}
    ours_out = subprocess.run([sys.executable, "-m", "dagster_project.slowlog.cli", "digest", "--compact", str(real_log)],
                              capture_output=True, timeout=300, check=True)
    ours = json.loads(ours_out.stdout)
    mine = {c["checksum"]: c for c in ours["classes"]}
    total = sum(c["query_count"] for c in theirs.values())
    same = sum(c["query_count"] for cs, c in theirs.items() if cs in mine and mine[cs]["count"] == c["query_count"])
    assert total > 4000 and ours["events"] == total and ours["rejected"] == 0
    assert same / total >= 0.99, f"{same}/{total} events in identical classes"
    for cs, c in theirs.items():
        if cs in mine:
            assert mine[cs]["query_time"]["sum"] == pytest.approx(float(c["metrics"]["Query_time"]["sum"]), rel=1e-5, abs=2e-6)
    print(f"live parity: {same}/{total} events in identical classes, {len(theirs)} classes")
