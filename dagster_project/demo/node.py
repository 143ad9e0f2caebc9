"""The local OpenSearch node of the demo: reuse one that answers, else start it with
``scripts/opensearch/opensearch.sh up`` (left running; ``make opensearch-down`` stops it)."""
from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from dagster_project.demo import REPO_ROOT
from dagster_project.demo.report import say

OPENSEARCH_SH = REPO_ROOT / "scripts" / "opensearch" / "opensearch.sh"
DEFAULT_OPENSEARCH_URL = "http://127.0.0.1:9200"


def _http_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local/demo URL
        return json.loads(resp.read().decode() or "null")


def opensearch_answers(url: str) -> bool:
    try:
        info = _http_json(url.rstrip("/") + "/", timeout=3)
    except (OSError, ValueError, urllib.error.URLError):
        return False
    return isinstance(info, dict) and "version" in info


def start_opensearch(url: str, timeout: float = 600) -> tuple[bool, str]:
    """(up, message). Reuses a node already answering at ``url``; else ``opensearch.sh up``."""
    if opensearch_answers(url):
        return True, f"already running at {url}"
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        return False, f"{url} does not answer (the demo only starts a local node)"
    if not OPENSEARCH_SH.exists():
        return False, f"{OPENSEARCH_SH.relative_to(REPO_ROOT)} not found and nothing answers at {url}"
    port = parts.port or 9200
    say(f"  starting OpenSearch on port {port} (the first start resolves ~55 MB of jars with Maven; "
        "later starts take ~30 s)...")
    env = dict(os.environ, OPENSEARCH_PORT=str(port))
    try:
        res = subprocess.run(["bash", str(OPENSEARCH_SH), "up"], env=env, capture_output=True, text=True,
                             timeout=timeout, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        return False, f"opensearch.sh up did not finish in {timeout:.0f} s"
    except OSError as exc:
        return False, f"could not run opensearch.sh: {exc}"
    if res.returncode != 0 or not opensearch_answers(url):
        tail = " | ".join(line for line in (res.stderr or res.stdout or "").strip().splitlines()[-3:])
        return False, f"opensearch.sh up failed (exit {res.returncode}): {tail or 'no output'}"
    return True, f"started at {url} (left running: `make opensearch-down` stops it)"


def opensearch_indices(url: str, pattern: str) -> list[tuple[str, int]]:
    """(index, documents) of the indices matching ``pattern``, sorted by name."""
    try:
        rows = _http_json(f"{url.rstrip('/')}/_cat/indices/{pattern}?format=json&h=index,docs.count", timeout=10)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # no index matches the pattern yet: nothing published, not an error
            return []
        raise
    return sorted((r["index"], int(r.get("docs.count") or 0)) for r in rows or [])
