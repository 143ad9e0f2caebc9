"""Unit planning of the ingest graph assets: the instance-day (:class:`InstanceDay`), the units of a
run (one per day of its partition window x instance of the log source, or the ``instances`` asked),
the op that plans them from the run config, and the small pieces the download and parse steps share
(the op tag the executor limits by, where a step ran)."""

import datetime as dt
import os
import re
import socket
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg
from pydantic import Field

from dagster_project.assets.common import partition_days
from dagster_project.resources.aws import LogSourceResource

#: op tag saying what a step does; the executor's tag_concurrency_limits use it (definitions.py)
STEP_KIND_TAG = "slowlog/step"


@dataclass(frozen=True)
class InstanceDay:
    """One unit of work: the files of one instance for one UTC day."""

    day: dt.date
    instance: str
    skip_existing: bool = False
    units: int = 1  # units of the run: their download steps share the run's download budget

    @property
    def mapping_key(self) -> str:
        """Dagster's dynamic mapping key (``[A-Za-z0-9_]+``): ``<instance>__<yyyymmdd>``. An
        instance id with characters other than letters, digits and ``-`` gets a short hash so
        that two ids never share a key."""
        safe = re.sub(r"[^A-Za-z0-9]", "_", self.instance)
        if not re.fullmatch(r"[A-Za-z0-9-]+", self.instance):
            safe += f"_{zlib.crc32(self.instance.encode()):08x}"
        return f"{safe}__{self.day:%Y%m%d}"

    def label(self) -> str:
        return f"{self.day} {self.instance}"


def source_instances(source: Any) -> list[str]:
    """The instances of a log source resource (configured, else discovered by the source)."""
    if hasattr(source, "list_instances"):
        return list(source.list_instances())
    return list(source.instances)


def where_ran() -> dict:
    """Which process and machine ran a step (shown in its output, asserted by the executor tests)."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def plan_units(context: dg.OpExecutionContext, log_source: LogSourceResource, instances: list[str] | None,
               skip_existing: bool = False) -> Iterator[dg.DynamicOutput]:
    configured = source_instances(log_source)
    chosen = list(instances or configured)
    unknown = sorted(set(chosen) - set(configured))
    if unknown:
        raise dg.Failure(f"instances not configured on the log source: {unknown}")
    days = partition_days(context)
    units = len(days) * len(chosen)
    context.log.info(f"{len(days)} day(s) x {len(chosen)} instance(s) = {units} units")
    for day in days:
        for instance in chosen:
            unit = InstanceDay(day, instance, skip_existing, units)
            yield dg.DynamicOutput(unit, mapping_key=unit.mapping_key)


class IngestConfig(dg.Config):
    """Options of an ingest run (run config ``ops: {slow_log_ingest: {config: {...}}}``)."""

    instances: list[str] | None = Field(default=None, description="A subset of the resource's instances (default: all).")
    skip_existing: bool = Field(default=False, description="Keep raw copies whose size equals the listed size.")


@dg.op(out=dg.DynamicOut(InstanceDay), description="One output per instance x day of the run.")
def instance_day_units(context: dg.OpExecutionContext, config: IngestConfig,
                       log_source: LogSourceResource) -> Iterator[dg.DynamicOutput]:
    yield from plan_units(context, log_source, config.instances, config.skip_existing)


#: the run config of the ingest graph (``ops.slow_log_ingest.config``), handed to its units op
INGEST_CONFIG = dg.ConfigMapping(config_fn=lambda c: {"instance_day_units": {"config": c}},
                                 config_schema=IngestConfig.to_config_schema())
