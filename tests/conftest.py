"""Fixtures shared by the whole test tree (helpers and constants live in tests/support/).

* ``corpus``: the shared public corpora (``../shared/corpus`` beside the repo, or ``$SLOWLOG_CORPUS``).
* ``moto_endpoint`` / ``s3_data_root``: a moto S3 server and a fresh ``s3://`` data root on it.
* ``data_root``: a fresh local ``SLOWLOG_DATA_ROOT`` per test.
* ``source_tree`` / ``days`` / ``relocate``: a local RDS-like source tree of real slow logs
  (tests/support/source_tree.py).
* ``opensearch_url``: a real single-node OpenSearch (integration tests).
* ``no_ambient_aws``: no AWS/Slack credentials or endpoints from the environment
  (``pytestmark = pytest.mark.usefixtures("no_ambient_aws")``).
"""
from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.corpus import CORPUS, REPO
from tests.support.source_tree import GOOD_LOGS, SourceTree, days_from, relocate_times

OPENSEARCH_SH = REPO / "scripts" / "opensearch" / "opensearch.sh"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"shared corpus not found at {CORPUS} (set SLOWLOG_CORPUS)")
    return CORPUS


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server on a free local port (real HTTP: pyarrow's S3 client and boto3 both talk to it);
    tests keep apart by fresh bucket names."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "data"
    monkeypatch.setenv("SLOWLOG_DATA_ROOT", str(root))
    monkeypatch.delenv("SLOWLOG_MAX_REJECTED_RATIO", raising=False)
    return root


@pytest.fixture
def source_tree(tmp_path):
    """Factory: ``source_tree(days, instances, files_per_day=2, seed=0) -> SourceTree``.

    Real slow logs (``GOOD_LOGS``) copied into ``<tmp>/source/<instance>/slowquery/...``, their
    timestamps moved to each file's day and hour (see tests/support/source_tree.py)."""

    def build(days, instances, files_per_day: int = 2, seed: int = 0, logs=None) -> SourceTree:
        rng = random.Random(seed)
        logs = list(logs or GOOD_LOGS)
        tree = SourceTree(root=tmp_path / "source", instances=[], days=[dt.date.fromisoformat(str(d)) for d in days])
        for day in tree.days:
            for instance in instances:
                hours = sorted(rng.sample(range(24), files_per_day))
                for hour in hours:
                    log = rng.choice(logs)
                    tree.add_file(instance, day, hour, relocate_times(log.read_bytes(), day, hour))
        for instance in instances:
            if instance not in tree.instances:
                tree.instances.append(instance)
        return tree

    return build


@pytest.fixture
def days():
    return days_from


@pytest.fixture
def relocate():
    """``relocate(data, day, hour)``: :func:`relocate_times` for tests that build files by hand."""
    return relocate_times


@pytest.fixture
def s3_data_root(moto_endpoint, monkeypatch) -> str:
    """``SLOWLOG_DATA_ROOT=s3://<fresh bucket>/data`` on the moto server."""
    import uuid

    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint, "SLOWLOG_S3_ENDPOINT_URL": moto_endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("SLOWLOG_MAX_REJECTED_RATIO", raising=False)
    bucket = f"slowlog-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    root = f"s3://{bucket}/data"
    monkeypatch.setenv("SLOWLOG_DATA_ROOT", root)
    return root


@pytest.fixture
def no_ambient_aws(monkeypatch):
    """No AWS profile, keys or endpoint and no Slack token/channel from the environment."""
    for key in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_ENDPOINT_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL_ID"):
        monkeypatch.delenv(key, raising=False)


def _opensearch(cmd: str, port: int, timeout: float) -> subprocess.CompletedProcess:
    env = dict(os.environ, OPENSEARCH_PORT=str(port))
    return subprocess.run(
        ["bash", str(OPENSEARCH_SH), cmd], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def opensearch_url():
    """A real single-node OpenSearch started by ``scripts/opensearch/opensearch.sh`` on
    ``OPENSEARCH_TEST_PORT`` (default 9250, so a demo node on 9200 is left alone). A node already up
    on that port is reused and left running; a node this session started is stopped at the end.
    Without Java the tests are skipped; with Java, a node that does not start is a failure."""
    port = int(os.environ.get("OPENSEARCH_TEST_PORT", "9250"))
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and Path(java_home, "bin", "java").exists()):
        pytest.skip("no JDK: the OpenSearch integration tests need Java 17 (apt-get install openjdk-17-jdk-headless)")
    already_up = _opensearch("status", port, 30).returncode == 0
    if not already_up:
        res = _opensearch("up", port, 420)
        if res.returncode != 0:
            pytest.fail(
                f"could not start OpenSearch on port {port}:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}",
                pytrace=False,
            )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        if not already_up:
            _opensearch("down", port, 120)
