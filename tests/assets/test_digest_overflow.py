"""query_digest with the class cap set low ($SLOWLOG_MAX_CLASSES, issue 25 item 4): each instance's
classes past the cap are one overflow row (last, fixed checksum), so the day's sums stay every
event's, in the stored table and in a range merged by ``analysis.load_digest``."""
from __future__ import annotations

import dagster as dg

from dagster_project import analysis
from dagster_project.assets.digest import query_digest
from dagster_project.assets.ingest import ingest_assets
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.slowlog.digest_cap import OVERFLOW_CHECKSUM, OVERFLOW_FINGERPRINT
from dagster_project.warehouse import DIGEST_TABLE, Warehouse

DAY = "2026-03-10"
CAP = 3


def test_capped_day_keeps_every_event(source_tree, days, data_root, monkeypatch):
    monkeypatch.setenv("SLOWLOG_MAX_CLASSES", str(CAP))
    tree = source_tree(days(DAY, 1), ["db-1", "db-2"], files_per_day=4, seed=3)
    result = dg.materialize([*ingest_assets, query_digest],
                            resources={"data_root": DataRootResource(), "log_source": tree.resource()}, partition_key=DAY)
    assert result.success
    events = analysis.load_events(DAY, DAY, by="partition")
    assert events.groupby("instance")["checksum"].nunique().min() > CAP  # the cap bites on both
    stored = Warehouse().read_table(DIGEST_TABLE, DAY, DAY).column("checksum").to_pylist()
    assert stored[-2:] == [OVERFLOW_CHECKSUM] * 2 and stored.count(OVERFLOW_CHECKSUM) == 2  # after the classes
    digest = analysis.load_digest(DAY, DAY)
    overflow = digest[digest["checksum"] == OVERFLOW_CHECKSUM]
    assert sorted(overflow["instance"]) == ["db-1", "db-2"]
    assert (overflow["fingerprint"] == OVERFLOW_FINGERPRINT).all() and overflow["example"].isna().all()
    assert list(digest["checksum"].iloc[-2:]) == [OVERFLOW_CHECKSUM] * 2  # after the classes
    assert (digest[digest["checksum"] != OVERFLOW_CHECKSUM].groupby("instance").size() == CAP).all()
    assert digest["count"].sum() == len(events)
    assert abs(digest["query_time_sum"].sum() - events["query_time"].sum()) < 1e-6
    for row in overflow.itertuples():  # the overflow: the instance's events outside its listed classes
        listed = digest[(digest["instance"] == row.instance) & (digest["checksum"] != OVERFLOW_CHECKSUM)]
        assert row.count == (events["instance"] == row.instance).sum() - listed["count"].sum()
    # a range merged with a cap of its own stays capped, every event counted
    week = analysis.load_digest(DAY, "2026-03-16", max_classes=1)
    assert list(week["checksum"]).count(OVERFLOW_CHECKSUM) == 2 and len(week) == 4
    assert week["count"].sum() == len(events)
