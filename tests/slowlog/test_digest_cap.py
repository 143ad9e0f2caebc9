"""The digest's cap on classes (issue 25, item 4): memory bounded in the number of classes, every
event still counted (listed classes + the overflow), heavy classes listed within the documented
bound (digest_cap.py), and the overflow kept through merges (parallel pieces, a day's parts, days).

Real data: the Percona Toolkit's own slow logs (the shared corpus, tests/support/corpus.py; 82
classes), plus generated classes (one per generated table name, the issue's case) around them.
"""
import json
import math

import numpy as np
import pyarrow as pa
import pytest

from dagster_project.rollup import merge_digest
from dagster_project.slowlog import cli
from dagster_project.slowlog.digest import EXAMPLE_MAX_CHARS, Digest
from dagster_project.slowlog.digest_cap import OVERFLOW_CHECKSUM, OVERFLOW_FINGERPRINT, resolve_max_classes
from dagster_project.slowlog.parse import parse_log
from tests.support.corpus import PERCONA

CAP = 50
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _corpus_batches():
    out = []
    for path in sorted((PERCONA / "slowlogs").glob("*.txt")):
        with open(path, "rb") as f:
            out.extend(parse_log(f, engine="mysql", source_file=path.name))
    return out


def _generated_log(n: int, heavy_late: bool = True) -> bytes:
    """``n`` one-event classes (generated table names), then, late, a class that becomes heavy."""
    lines = []
    for i in range(n):
        name = "".join(LETTERS[(i // 26**k) % 26] for k in range(4))
        lines.append(f"# Time: 2026-11-24T10:{i // 60 % 60:02d}:{i % 60:02d}.000000Z\n# User@Host: app[app] @ web [10.0.0.9]\n"
                     f"# Query_time: 0.{100 + i % 800:06d}  Lock_time: 0.000010 Rows_sent: 1  Rows_examined: {i}\n"
                     f"SELECT v FROM tmp_{name} WHERE id = {i};\n")
    if heavy_late:
        for i in range(20):
            lines.append(f"# Time: 2026-11-24T23:00:{i:02d}.000000Z\n# User@Host: app[app] @ web [10.0.0.9]\n"
                         f"# Query_time: 3.000000  Lock_time: 0.000010 Rows_sent: 1  Rows_examined: 5\n"
                         f"SELECT * FROM late_heavy WHERE id = {i};\n")
    return "".join(lines).encode()


def _generated_batches(n: int, tmp_path, heavy_late: bool = True):
    path = tmp_path / f"generated-{n}.log"
    path.write_bytes(_generated_log(n, heavy_late))
    with open(path, "rb") as f:
        return list(parse_log(f, engine="mysql", source_file=path.name))


def _digest(batches, max_classes: int) -> Digest:
    d = Digest(max_classes=max_classes)
    for b in batches:
        d.add(b)
    return d


def _totals(classes, overflow):
    rows = classes + ([overflow] if overflow else [])
    return (sum(c["count"] for c in rows), math.fsum(c["query_time"]["sum"] for c in rows),
            math.fsum(c["rows_examined"]["sum"] for c in rows))


@pytest.fixture(scope="module")
def batches(tmp_path_factory):
    return _corpus_batches() + _generated_batches(3000, tmp_path_factory.mktemp("gen"))


def test_capped_digest_counts_every_event_and_lists_the_heavy_classes(batches):
    full = _digest(batches, 0)
    capped = _digest(batches, CAP)
    all_classes = full.classes()
    assert full.overflow_entry() is None and len(all_classes) > 3000
    listed, overflow = capped.classes(), capped.overflow_entry()
    assert len(listed) == CAP
    # nothing lost: the classes and the overflow add up to the input
    assert _totals(listed, overflow)[0] == full.events == capped.events
    assert _totals(listed, overflow)[1:] == pytest.approx(_totals(all_classes, None)[1:], rel=1e-9)
    assert overflow["checksum"] == OVERFLOW_CHECKSUM and overflow["fingerprint"] == OVERFLOW_FINGERPRINT
    assert overflow["count"] == capped.events - sum(c["count"] for c in listed)
    assert overflow["example"] is None and overflow["evicted"] >= len(all_classes) - CAP
    # the documented bound: D <= T / (cap + 1); every class above D listed, listed classes miss <= D
    bound = overflow["query_time_bound"]
    total_time = _totals(all_classes, None)[1]
    assert 0 < bound <= total_time / (CAP + 1)
    exact = {c["checksum"]: c for c in all_classes}
    got = {c["checksum"]: c for c in listed}
    for c in all_classes:
        if c["query_time"]["sum"] > bound:
            assert c["checksum"] in got, c["fingerprint"]
    for checksum, c in got.items():
        assert c["count"] <= exact[checksum]["count"]
        assert exact[checksum]["query_time"]["sum"] - c["query_time"]["sum"] <= bound + 1e-9
    # the class that became heavy only at the end of the log got in, complete
    late = [c for c in listed if "late_heavy" in c["fingerprint"]]
    assert len(late) == 1 and late[0]["count"] == 20 and late[0]["query_time"]["sum"] == pytest.approx(60.0)


def test_merging_capped_digests_stays_capped_and_adds_the_overflows(batches):
    full = _digest(batches, 0)
    halves = [_digest(batches[: len(batches) // 2], CAP), _digest(batches[len(batches) // 2:], CAP)]
    merged = Digest(max_classes=CAP)
    for half in halves:
        merged.merge(half)
    listed, overflow = merged.classes(), merged.overflow_entry()
    assert len(listed) == CAP and merged.events == full.events
    assert _totals(listed, overflow)[0] == full.events
    assert _totals(listed, overflow)[1] == pytest.approx(_totals(full.classes(), None)[1], rel=1e-9)
    assert overflow["query_time_bound"] <= _totals(full.classes(), None)[1] / (CAP + 1)
    big = {c["checksum"] for c in full.classes() if c["query_time"]["sum"] > overflow["query_time_bound"]}
    assert big <= {c["checksum"] for c in listed}


def test_overflow_row_in_the_warehouse_keeps_sums_whole_through_days(batches):
    table = _digest(batches, CAP).to_table("2026-11-24")
    assert table.num_rows == CAP + 1
    last = table.slice(table.num_rows - 1).to_pylist()[0]
    assert last["checksum"] == OVERFLOW_CHECKSUM and last["fingerprint"] == OVERFLOW_FINGERPRINT
    assert last["example"] is None and last["example_redacted"] is None
    events = sum(b.num_rows for b in batches)
    assert sum(table.column("count").to_pylist()) == events  # a plain SUM(count) is every event
    day2 = _digest(batches, CAP).to_table("2026-11-25")
    week = merge_digest(pa.concat_tables([table, day2]))
    overflow = week[week["checksum"] == OVERFLOW_CHECKSUM]
    assert len(overflow) == 1 and int(overflow["count"].iloc[0]) == 2 * last["count"]
    assert int(week["count"].sum()) == 2 * events
    assert week["query_time_sum"].sum() == pytest.approx(2 * np.sum(table.column("query_time_sum")), rel=1e-9)
    # merging days stays capped when asked: the classes past the cap join the overflow row
    capped = merge_digest(pa.concat_tables([table, day2]), max_classes=10)
    assert len(capped) == 11 and int(capped["count"].sum()) == 2 * events
    assert capped["checksum"].iloc[-1] == OVERFLOW_CHECKSUM


def test_uncapped_when_under_the_cap_and_example_kept_short(tmp_path):
    batches = _corpus_batches()
    assert _digest(batches, 0).classes() == _digest(batches, 100).classes()  # 82 classes: no change
    long_query = "SELECT * FROM t WHERE id IN (" + ",".join(str(i) for i in range(5000)) + ")"
    log = tmp_path / "long.log"
    log.write_text("# Time: 2026-11-24T10:00:00.000000Z\n# User@Host: app[app] @ web [10.0.0.9]\n"
                   "# Query_time: 1.000000  Lock_time: 0.000010 Rows_sent: 1  Rows_examined: 1\n"
                   f"{long_query};\n")
    with open(log, "rb") as f:
        d = _digest(list(parse_log(f, engine="mysql")), 0)
    assert len(long_query) > EXAMPLE_MAX_CHARS and d.classes()[0]["example"] == long_query[:EXAMPLE_MAX_CHARS]


def test_cap_settings(monkeypatch):
    monkeypatch.setenv("SLOWLOG_MAX_CLASSES", "123")
    assert Digest().max_classes == 123 and Digest(max_classes=7).max_classes == 7
    monkeypatch.delenv("SLOWLOG_MAX_CLASSES")
    assert resolve_max_classes() == 10_000
    for bad in ("-1", "many"):
        with pytest.raises(ValueError, match="whole number"):
            resolve_max_classes(bad)


def test_cli_max_classes(tmp_path, capsys):
    log = tmp_path / "gen.log"
    log.write_bytes(_generated_log(300))
    assert cli.main(["digest", "--max-classes", "20", "-q", "--jobs", "1", str(log)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["classes"]) == 20
    assert out["overflow"]["count"] + sum(c["count"] for c in out["classes"]) == out["events"] == 320
    assert cli.main(["digest", "-q", str(log)]) == 0
    assert "overflow" not in json.loads(capsys.readouterr().out)  # under the default cap
    assert cli.main(["digest", "--max-classes", "lots", "-q", str(log)]) == 2
    err = capsys.readouterr().err
    assert "whole number" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
