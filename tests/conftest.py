"""Shared test fixtures: where the public corpora live (../shared/corpus beside the repo)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("SLOWLOG_CORPUS", REPO.parent / "shared" / "corpus")).resolve()
PERCONA = CORPUS / "percona"
FILEBEAT = CORPUS / "filebeat"


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
