"""``make demo`` (``python -m dagster_project.demo``): the whole pipeline on the bundled sample estate.

1. Starts the local OpenSearch (``scripts/opensearch/opensearch.sh up``, 127.0.0.1:9200) unless one
   already answers; it is left running (``make opensearch-down`` stops it). If it cannot start,
   the demo says so, skips the assets that need it and goes on.
2. Points the pipeline at the sample estate (``$SLOWLOG_SOURCE_ROOT``, default
   ``dagster_project/sample_data/rds``) and the data root (``$SLOWLOG_DATA_ROOT``, default ``./data``).
3. Materializes EVERY asset of ``dagster_project.definitions:defs`` (and its checks) for every day
   of the sample in ONE range run (what the UI's backfill launches for single-run assets); assets
   without a single-run backfill policy get one run per day. Runs are recorded in the Dagster
   instance at ``$DAGSTER_HOME`` (default ``./.dagster_home``, the one ``make ui`` opens), so the
   UI shows them.
4. Prints a report: events, classes, rejected lines, the top classes (redacted), regressions,
   where the Parquet and PNG files are, the OpenSearch indices, Slack, how to open the UI.

Re-running is idempotent: every partition, file and OpenSearch document is replaced, never added.
Exit status: 0, or 1 when a required step failed (a failed asset, no events); an OpenSearch that
cannot start is reported but is not a failure of the demo (use ``--require-opensearch`` to make it one).

Modules: ``__main__`` (the command line and the order of things), ``node`` (the local OpenSearch
node: reuse or start), ``run`` (the Dagster runs), ``report`` (what is printed).
The asset graph in README.md and docs/ comes from ``scripts/asset_graph.py``.
"""
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # dagster_project/
REPO_ROOT = PACKAGE_DIR.parent
SAMPLE_ROOT = PACKAGE_DIR / "sample_data" / "rds"
