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
