"""Daily snapshots: local matplotlib charts from the warehouse, CloudWatch metric widget images,
query regressions against a trailing baseline, and the Slack message that carries them.

No Dagster import here (the assets live in :mod:`dagster_project.assets.snapshots`).
"""
