"""No credential ever leaves its resource: not in the Dagster event log (every event, its metadata,
error chains, the stored run), not in exceptions, not in files under the data root or the Dagster
instance's storage, not on stdout/stderr or in Python logging.

The pipeline runs for real with fake credentials that *are used*: AWS keys sign the RDS API calls
(the local server checks the SigV4 header of DownloadCompleteDBLogFile), the Slack token is checked
by the local Slack server (a wrong one gets ``invalid_auth``), the OpenSearch password goes in the
Authorization header of every request through the proxy. Runs that succeed and runs that fail.
"""
from __future__ import annotations

import logging
import random
import uuid
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.assets.digest import query_digest
from dagster_project.assets.ingest import ingest_assets, SLOW_LOG_FILES
from dagster_project.assets.publish import opensearch_digest
from dagster_project.assets.snapshots import snapshot_assets
from dagster_project.resources.cloudwatch_metrics import CloudWatchMetricsResource
from dagster_project.resources.opensearch import OpenSearchResource
from dagster_project.resources.slack import SlackReportResource
from dagster_project.resources.warehouse import DataRootResource
from tests.support.dagster_results import event_log_text, failure_message
from tests.support.ingest import AWS_KEY_ID, AWS_SECRET, DAY, rds_log, rds_name, rds_resource
from tests.support.faulty_proxy import FaultyProxy
from tests.support.rds_api_server import RDSApiServer
from tests.support.slack_api_server import SlackApiServer

pytestmark = pytest.mark.usefixtures("no_ambient_aws")  # no AWS/Slack credentials from the environment
KEY = DAY.isoformat()
CHANNEL = "C0123456789"
SLACK_TOKEN = "xoxb-fake-1111-2222-g00dS3cretT0ken"
SLACK_BAD_TOKEN = "xoxb-fake-3333-4444-badS3cretT0ken"
OS_PASSWORD = "fake-os-password-123"


def _secrets() -> list[str]:
    return [AWS_KEY_ID, AWS_SECRET, SLACK_TOKEN, SLACK_BAD_TOKEN, OS_PASSWORD,
            # distinctive fragments, in case a secret is cut or re-encoded
            AWS_SECRET[-12:], "g00dS3cretT0ken", "badS3cretT0ken", "os-password-123"]


def _leaks(text: str | bytes, where: str) -> list[str]:
    found = []
    for s in _secrets():
        needle = s.encode() if isinstance(text, bytes) else s
        if needle in text:
            found.append(f"{s!r} in {where}")
    return found


def _scan_tree(root: Path, label: str) -> tuple[list[str], int]:
    leaks, files = [], 0
    for p in root.rglob("*"):
        if p.is_file():
            files += 1
            leaks += _leaks(p.read_bytes(), f"{label}/{p.relative_to(root)}")
    return leaks, files


@pytest.fixture
def instance(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.DagsterInstance.local_temp(tempdir=str(home)) as inst:
        yield inst


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("RELIABILITY_AWS_SECRET", AWS_SECRET)
    monkeypatch.setenv("RELIABILITY_SLACK_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("RELIABILITY_OS_PASSWORD", OS_PASSWORD)


def _rds_files() -> dict:
    rng = random.Random(3)
    garbage = bytes(rng.randrange(256) for _ in range(3000))  # not text: served by the SigV4-signed GET
    return {"db-1": {rds_name(2): rds_log(2), rds_name(9): rds_log(9) + garbage}}


def _run(assets, resources, instance, selection=None) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, resources={"data_root": DataRootResource(), **resources}, partition_key=KEY,
                          instance=instance, raise_on_error=False,
                          selection=selection)


def _check_everything(results, instance, data_root: Path, capfd, caplog) -> None:
    leaks = []
    for result in results:
        leaks += _leaks(event_log_text(result, instance), f"event log of run {result.run_id[:8]}")
        leaks += _leaks(failure_message(result), f"errors of run {result.run_id[:8]}")
    scanned, n_data = _scan_tree(data_root, "data root")
    leaks += scanned
    scanned, n_home = _scan_tree(Path(instance.root_directory), "dagster home")
    leaks += scanned
    out, err = capfd.readouterr()
    leaks += _leaks(out, "stdout") + _leaks(err, "stderr") + _leaks(caplog.text, "python logging")
    assert n_data >= 5 and n_home > 0 and err  # the scan saw real output
    assert leaks == []


def test_ingest_snapshots_and_slack_never_leak_credentials(data_root, instance, secret_env, capfd, caplog):
    caplog.set_level(logging.INFO)
    aws = rds_resource  # fake keys: the id literal, the secret through an EnvVar
    with RDSApiServer(_rds_files(), max_portion_bytes=4096, throttle_every=5) as rds, \
            SlackApiServer(token=SLACK_TOKEN, channels=(CHANNEL,)) as slack_srv:
        source = aws(rds, aws_secret_access_key=dg.EnvVar("RELIABILITY_AWS_SECRET"))
        slack = SlackReportResource(token=dg.EnvVar("RELIABILITY_SLACK_TOKEN"), channel_id=CHANNEL,
                                    base_url=slack_srv.base_url, backoff_seconds=0.01)
        resources = {"data_root": DataRootResource(), "log_source": source, "cloudwatch_metrics": CloudWatchMetricsResource(),
                     "slack": slack}
        assets = [*ingest_assets, query_digest, *snapshot_assets]
        ok = _run(assets, resources, instance)
        assert ok.success, failure_message(ok)
        assert any(c["Action"] == "DownloadCompleteDBLogFile" and c["_signed"] for c in rds.calls)
        assert slack_srv.completed and SLACK_TOKEN in slack_srv.tokens_seen  # the token was really used

        # Slack refuses a wrong token: invalid_auth, a clear failure
        bad_slack = SlackReportResource(token=SLACK_BAD_TOKEN, channel_id=CHANNEL, base_url=slack_srv.base_url,
                                        backoff_seconds=0.01)
        refused = _run(assets, dict(resources, slack=bad_slack), instance, selection=[snapshot_assets[-1].key])
        assert not refused.success
        assert "invalid_auth (the token is invalid; check SLACK_BOT_TOKEN)" in failure_message(refused)
        assert SLACK_BAD_TOKEN in slack_srv.tokens_seen

        # RDS fails for good (throttled past every retry) and an unknown instance
        rds.throttle_every = 1
        throttled = _run(assets, dict(resources, log_source=aws(rds, max_loop_retries=1)), instance,
                         selection=[SLOW_LOG_FILES])
        assert not throttled.success and "Throttling" in failure_message(throttled)
        rds.throttle_every = 0
        missing = _run(assets, dict(resources, log_source=aws(rds, instances=["no-such-db"])), instance,
                       selection=[SLOW_LOG_FILES])
        assert not missing.success and "DBInstanceNotFound" in failure_message(missing)

    _check_everything([ok, refused, throttled, missing], instance, data_root, capfd, caplog)


@pytest.mark.integration
def test_opensearch_password_never_leaks(data_root, instance, secret_env, opensearch_url, capfd, caplog, tmp_path):
    caplog.set_level(logging.INFO)
    tag = f"rel-sec-{uuid.uuid4().hex[:8]}-"
    with RDSApiServer(_rds_files(), max_portion_bytes=8192) as rds:
        assert _run([*ingest_assets, query_digest], {"log_source": rds_resource(rds)},
                    instance).success

    def os_res(hosts, **kwargs):
        args = dict(hosts=hosts, auth="basic", username="publisher", password=dg.EnvVar("RELIABILITY_OS_PASSWORD"),
                    index_prefix=f"{tag}digest-", events_index_prefix=f"{tag}events-", timeout_s=3,
                    allow_insecure_credentials=True)  # the proxy speaks plain http
        args.update(kwargs)
        return OpenSearchResource(**args)

    results = []
    try:
        with FaultyProxy(opensearch_url) as proxy:
            ok = _run([opensearch_digest], {"opensearch": os_res([proxy.url])}, instance)
            assert ok.success, failure_message(ok)
            assert proxy.auth_headers_seen > 0  # the password really went out
            results.append(ok)

            proxy.fail(401, times=None, match="/")  # the cluster refuses the credentials
            refused = _run([opensearch_digest], {"opensearch": os_res([proxy.url])}, instance)
            assert not refused.success and "HTTP 401, auth=basic" in failure_message(refused)
            results.append(refused)

            proxy.clear()
            proxy.drop(times=None, when="response")  # connection cut mid-bulk, every time
            dropped = _run([opensearch_digest], {"opensearch": os_res([proxy.url])}, instance)
            assert not dropped.success and "is unreachable" in failure_message(dropped)
            results.append(dropped)

            # the password inside the URL too (a common way to configure it), and the node down
            down_url = f"http://publisher:{OS_PASSWORD}@127.0.0.1:{proxy.port}"
        down = _run([opensearch_digest], {"opensearch": os_res([down_url], password=OS_PASSWORD)}, instance)
        assert not down.success and "Connection refused" in failure_message(down)
        results.append(down)
    finally:
        cleanup = OpenSearchResource(hosts=[opensearch_url], index_prefix=f"{tag}digest-",
                                     events_index_prefix=f"{tag}events-")
        client = cleanup.get_client()
        client.indices.delete(index=f"{tag}*", ignore_unavailable=True, expand_wildcards="all")
        for name in cleanup.templates():
            client.indices.delete_index_template(name=name, ignore=[404])
    _check_everything(results, instance, data_root, capfd, caplog)
