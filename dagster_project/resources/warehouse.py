"""Where the pipeline keeps its data, as a resource the UI shows: ``data_root``.

One folder or ``s3://bucket/prefix`` holds everything: ``raw/`` (byte-identical downloads),
``warehouse/`` (hive-partitioned Parquet), ``snapshots/`` (PNGs). Every asset that reads or writes
it takes this resource, so a run's storage is part of its configuration (the Launchpad and the
resource page show it) instead of a global each asset re-reads.
"""
from __future__ import annotations

import dagster as dg
from pydantic import Field

from dagster_project import settings
from dagster_project.settings import Root
from dagster_project.warehouse import Warehouse


class DataRootResource(dg.ConfigurableResource):
    """The data root: a local folder or ``s3://bucket/prefix`` (empty: ``$SLOWLOG_DATA_ROOT``, else
    ``./data``, read when a run starts)."""

    root: str = Field(default="", description="Folder or s3://bucket/prefix for raw files, Parquet and PNGs.")

    def resolve(self) -> Root:
        """The root as a pyarrow filesystem and a base path (S3 endpoint and region from the environment)."""
        return settings.resolve_root(self.root or None)

    def warehouse(self) -> Warehouse:
        """The :class:`~dagster_project.warehouse.Warehouse` of this root (raw files, Parquet tables)."""
        return Warehouse(self.resolve())
