"""Concurrent collection: many files and instances in flight at once, through the real boto3 client
against the local RDS Query API server (latency, a cap on calls in flight, throttling), end to end
through ``dg.materialize``. Invariant everywhere: raw copies byte-identical to what the server
serves, every event stored once."""
from __future__ import annotations

import pytest

from tests.support.dagster_results import failure_message, meta
from tests.support.ingest import (
    DAY,
    assert_nothing_lost,
    log_entries,
    materialize,
    raw_path,
    rds_log,
    rds_name,
    rds_resource,
)
from tests.support.rds_api_server import RDSApiServer

pytestmark = pytest.mark.usefixtures("no_ambient_aws")  # no AWS/Slack credentials from the environment
HOURS = (0, 3, 5, 8, 11, 14, 17, 20)


def estate(instances, hours=HOURS, reps=1) -> dict:
    return {i: {rds_name(h): rds_log(h, reps=reps) for h in hours} for i in instances}


@pytest.mark.parametrize("shared", [True, False])
def test_downloads_overlap_up_to_the_bound_and_lose_nothing(data_root, shared):
    instances = ["db-1", "db-2", "db-3"]
    with RDSApiServer(estate(instances), max_portion_bytes=8192, latency=0.03) as srv:
        result = materialize(rds_resource(srv, instances=instances, max_concurrent_downloads=6,
                                          shared_download_budget=shared))
        window = srv.last_answer_at - srv.first_call_at
        assert result.success, failure_message(result)
        downloads_at_peak = srv.peak_in_flight_by_action["DownloadDBLogFilePortion"]
        if shared:
            # one pool of 6 for the run's 3 download steps: the in-process executor runs one step
            # at a time, and that step may use the whole pool (8 files, 6 at once)
            assert downloads_at_peak == 6, downloads_at_peak
        else:
            # an equal share each: 6 // 3 steps = 2 in flight at the peak
            assert srv.peak_in_flight == 2, srv.peak_in_flight
        portions = sum(1 for c in srv.calls if c["Action"] == "DownloadDBLogFilePortion")
        assert portions >= 8 * 3 * 3
        assert window < 0.8 * len(srv.calls) * srv.latency  # overlapped: well under the serial time
        md = meta(result, "slow_log_files")
        assert md["files"] == 24 and md["units"] == 3 and md["incomplete_downloads"] == []
        total = sum(assert_nothing_lost(srv, data_root, i, list(srv.raw_files(i))) for i in instances)
    assert meta(result, "slow_query_events")["events"] == total > 300


def test_files_waiting_for_their_check_do_not_hold_back_the_others(data_root):
    """A downloaded file waits for a listing that starts after its download (the check that it did
    not change meanwhile). With slow listings and a budget of 2 calls, every file of the unit must
    still be fetched while the first such listing is in flight: a file waiting for its check holds
    no slot and no place the other files need (with one thread per slot, files 3-8 waited)."""
    hours = (0, 2, 4, 6, 8, 10, 12, 14)
    with RDSApiServer(estate(["db-1"], hours=hours), latency=0.005,
                      action_latency={"DescribeDBLogFiles": 0.6}) as srv:
        result = materialize(rds_resource(srv, instances=["db-1"], max_concurrent_downloads=2))
        assert result.success, failure_message(result)
        listings = sorted((a, b) for a, b, action, _ in srv.timeline if action == "DescribeDBLogFiles")
        first_check_answered = listings[1][1]  # listings[0] found the files
        portions = [a for a, _, action, _ in srv.timeline if action == "DownloadDBLogFilePortion"]
        assert len(portions) == len(hours)  # one portion each
        assert max(portions) < first_check_answered, (sorted(portions), listings)
        assert srv.peak_in_flight_by_action["DownloadDBLogFilePortion"] <= 2
        assert_nothing_lost(srv, data_root, "db-1", list(srv.raw_files("db-1")))


def test_a_throttling_storm_slows_the_estate_down_but_fails_nothing(data_root):
    """8 downloads wanted at once against a cap of 3 calls in flight plus a throttle every 6th
    call: botocore's adaptive mode (one rate limiter per client, shared by every thread) and the
    loop-level retries absorb it."""
    instances = ["db-1"]
    with RDSApiServer(estate(instances), max_portion_bytes=16384, latency=0.01, max_in_flight=3,
                      throttle_every=6) as srv:
        resource = rds_resource(srv, instances=instances, max_concurrent_downloads=16, retry_mode="adaptive",
                                max_attempts=4, max_loop_retries=12, backoff_base=0.02)
        result = materialize(resource)
        assert result.success, failure_message(result)
        assert srv.capped >= 1 and srv.throttled > srv.capped
        assert meta(result, "slow_log_files")["retries"] >= srv.throttled // 2
        for instance in instances:
            assert_nothing_lost(srv, data_root, instance, list(srv.raw_files(instance)))


def test_one_instance_failing_does_not_stop_the_others_and_the_run_names_it(data_root):
    """db-gone is configured but unknown to RDS: its unit fails, the two others land their raw
    files byte-identically, and the failure names the instance and day."""
    with RDSApiServer(estate(["db-1", "db-3"], hours=(2, 9)), max_portion_bytes=8192, latency=0.01) as srv:
        result = materialize(rds_resource(srv, instances=["db-1", "db-gone", "db-3"], max_loop_retries=1))
        assert not result.success
        failed = [e.step_key for e in result.get_step_failure_events()]
        assert failed == [f"slow_log_ingest.download_instance_day[db_gone__{DAY:%Y%m%d}]"]
        assert "db-gone" in failure_message(result) or "DBInstanceNotFound" in failure_message(result)
        for instance in ("db-1", "db-3"):
            for name in srv.raw_files(instance):
                assert raw_path(data_root, instance, name).read_bytes() == srv.served_bytes(instance, name)
        assert not (data_root / "raw" / f"date={DAY}" / "instance=db-gone").exists()
        # and their events: each parse waited for its own download only
        for instance in ("db-1", "db-3"):
            assert_nothing_lost(srv, data_root, instance, list(srv.raw_files(instance)))


def test_files_growing_and_rewritten_mid_download_among_concurrent_ones(data_root):
    """One file grows on every portion call and another is rewritten while 8 downloads are in
    flight: each is downloaded again from Marker 0 as needed, never appended twice, and the rest
    land untouched."""
    instances = ["db-1"]
    files = estate(instances, reps=2)
    growing, rewritten = rds_name(HOURS[1]), rds_name(HOURS[4])
    with RDSApiServer(files, max_portion_bytes=4096, latency=0.01) as srv:
        srv.grow("db-1", growing, log_entries(HOURS[1], 6))
        srv.rewrite_at(10, "db-1", rewritten, rds_log(HOURS[4], reps=3))
        result = materialize(rds_resource(srv, max_concurrent_downloads=8))
        assert result.success, failure_message(result)
        assert meta(result, "slow_log_files")["incomplete_downloads"] == []
        assert srv.served_bytes("db-1", rewritten) == rds_log(HOURS[4], reps=3)
        assert_nothing_lost(srv, data_root, "db-1", list(srv.raw_files("db-1")))


@pytest.mark.parametrize("bound", [1, 4])
def test_the_bound_is_respected(data_root, bound):
    with RDSApiServer(estate(["db-1"]), max_portion_bytes=8192, latency=0.02) as srv:
        result = materialize(rds_resource(srv, max_concurrent_downloads=bound))
        assert result.success, failure_message(result)
        assert srv.peak_in_flight <= bound and (bound == 1 or srv.peak_in_flight >= 2)
        assert srv.peak_in_flight_by_action["DownloadDBLogFilePortion"] <= bound
