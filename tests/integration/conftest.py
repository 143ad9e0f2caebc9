"""Real servers for the integration tests.

``opensearch_url``: a real single-node OpenSearch started by ``scripts/opensearch/opensearch.sh`` on
``OPENSEARCH_TEST_PORT`` (default 9250, so a demo node on 9200 is left alone). A node already up
on that port is reused and left running; a node this session started is stopped at the end.
Without Java the tests are skipped; with Java, a node that does not start is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
OPENSEARCH_SH = REPO_ROOT / "scripts" / "opensearch" / "opensearch.sh"


def _opensearch(cmd: str, port: int, timeout: float) -> subprocess.CompletedProcess:
    env = dict(os.environ, OPENSEARCH_PORT=str(port))
    return subprocess.run(
        ["bash", str(OPENSEARCH_SH), cmd], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def opensearch_url():
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
