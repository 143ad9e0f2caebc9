"""Every job of the code location, in one place.

* ``collect_job``: raw files -> events for the days and instances asked (what the sensor launches,
  one run per instance-day with new or rewritten files);
* ``ingest_job``: raw files -> events -> digest for a day (or a range): ``make ingest DAY=...``;
* ``daily_job``: one day end to end, raw files to Slack (what the schedule launches).

The daily assets downstream of the events (digest, OpenSearch, snapshots, Slack) run once per day,
in ``ingest_job`` / ``daily_job``, after every instance-day of that day has landed: the sensor's
runs stop at the events so that twenty instances rotating a file do not rebuild the day twenty times.
"""
import dagster as dg

# "publish" (OpenSearch) and "snapshots" (charts, Slack) are added by their own asset modules.
DAILY_GROUPS = ("ingest", "digest", "publish", "snapshots")

collect_job = dg.define_asset_job(
    "collect_job",
    selection=dg.AssetSelection.groups("ingest"),
    description="Raw files -> events for one day (one instance-day per step).",
)

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups("ingest", "digest"),
    description="Raw files -> events -> digest for one day (or a range: single-run backfill).",
)

daily_job = dg.define_asset_job(
    "daily_job",
    selection=dg.AssetSelection.groups(*DAILY_GROUPS),
    description="One day end to end: raw files, events, digest, OpenSearch, snapshots.",
)

JOBS = [collect_job, ingest_job, daily_job]
