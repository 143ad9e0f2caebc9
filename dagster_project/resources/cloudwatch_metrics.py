"""CloudWatch metric graph images (``GetMetricWidgetImage``) as a Dagster resource.

    cw = CloudWatchMetricsResource(region_name="ap-northeast-1", rds_instances=["db-1"],
                                   widgets={"checkout-latency": '<JSON pasted from the console>'},
                                   timezone="+0900")
    png = cw.get_widget_image({"metrics": [["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "db-1"]]})

Nothing is configured by default (no instance, no cluster, no widget): then :meth:`widgets_for_day`
is empty and no AWS call is made, which is what the local demo wants. Default widgets (CPU,
connections, latency of each RDS instance; engine CPU and connections of each MemoryDB / ElastiCache
cluster) cover the partition's UTC day; pasted widgets keep their own ``start``/``end`` (e.g.
``-PT3H``) unless ``pin_to_day`` is set or they have none.

Widgets are validated before the call (:mod:`dagster_project.snapshots.widgets`), so a bad paste
fails with a one-line message naming the widget and the problem. Credentials follow the usual
chain or ``dg.EnvVar(...)`` fields; they never appear in reprs or messages produced here.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from dagster_aws.utils import ResourceWithBoto3Configuration
from pydantic import Field, PrivateAttr

from dagster_project.resources.masking import AWS_SECRET_FIELDS, mask_secrets
from dagster_project.snapshots import widgets as W

__all__ = ["CloudWatchMetricsResource", "CloudWatchImageError"]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class CloudWatchImageError(RuntimeError):
    """GetMetricWidgetImage failed (one-line message: widget, error code, message)."""


class CloudWatchMetricsResource(ResourceWithBoto3Configuration):
    """Renders CloudWatch metric widgets to PNG with ``GetMetricWidgetImage``."""

    rds_instances: list[str] = Field(
        default_factory=list, description="RDS/Aurora DBInstanceIdentifiers: CPU, connections, latency graphs."
    )
    memorydb_clusters: list[str] = Field(
        default_factory=list, description="MemoryDB ClusterNames: EngineCPUUtilization and CurrConnections graphs."
    )
    elasticache_clusters: list[str] = Field(
        default_factory=list, description="ElastiCache CacheClusterIds: EngineCPUUtilization and CurrConnections graphs."
    )
    widgets: dict[str, str] = Field(
        default_factory=dict,
        description="Extra graphs: name -> widget JSON pasted verbatim from the console's Source tab "
        "('.' / '...' shorthand allowed).",
    )
    timezone: str | None = Field(
        default=None, description="Time zone of the graphs' time axis, +HHMM/-HHMM (e.g. +0900); default UTC."
    )
    width: int = Field(default=W.DEFAULT_WIDTH, description="Image width in px (1-2000) for widgets without one.")
    height: int = Field(default=W.DEFAULT_HEIGHT, description="Image height in px (1-2000) for widgets without one.")
    period: int = Field(default=300, description="Period (s) of the default widgets.")
    pin_to_day: bool = Field(
        default=False, description="Also render pasted widgets over the partition's day (ignore their start/end)."
    )

    _client: Any = PrivateAttr(default=None)

    def __repr_args__(self):  # type: ignore[override]
        return mask_secrets(super().__repr_args__(), AWS_SECRET_FIELDS)

    # ------------------------------------------------------------------------------- client
    @property
    def enabled(self) -> bool:
        return bool(self.rds_instances or self.memorydb_clusters or self.elasticache_clusters or self.widgets)

    def build_client(self) -> Any:
        from dagster_project.sources.aws_client import client_for_resource

        return client_for_resource(self, "cloudwatch")

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self.build_client()
        return self._client

    # ------------------------------------------------------------------------------ widgets
    def _defaults(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "region": self.region_name, "timezone": self.timezone}

    def widgets_for_day(self, day: dt.date) -> dict[str, dict]:
        """Every configured widget, expanded and validated, for one UTC day (name -> widget).

        Raises :class:`~dagster_project.snapshots.widgets.WidgetError` on the first bad widget,
        before any AWS call.
        """
        start, end = W.day_range(day)
        common = {"period": self.period, "start": start, "end": end}
        out: dict[str, dict] = {}
        out.update(W.rds_widgets(self.rds_instances, **common))
        out.update(W.memorydb_widgets(self.memorydb_clusters, **common))
        out.update(W.elasticache_widgets(self.elasticache_clusters, **common))
        for name, widget in list(out.items()):
            out[name] = W.prepare_widget(widget, name, defaults=self._defaults())
        for name, source in self.widgets.items():
            defaults = self._defaults()
            widget = W.parse_widget(source, name)
            if self.pin_to_day or ("start" not in widget and "end" not in widget):
                widget.pop("start", None)
                widget.pop("end", None)
                defaults.update(start=start, end=end)
            out[name] = W.prepare_widget(widget, name, defaults=defaults)
        return out

    def get_widget_image(self, widget: dict | str, name: str | None = None) -> bytes:
        """PNG bytes of one widget (a dict or pasted JSON text; shorthand expanded, validated first)."""
        prepared = W.prepare_widget(widget, name, defaults={"region": self.region_name})
        body = json.dumps(prepared, separators=(",", ":"))
        try:
            response = self.client.get_metric_widget_image(MetricWidget=body, OutputFormat="png")
        except Exception as e:  # botocore ClientError / EndpointConnectionError / NoCredentialsError
            raise CloudWatchImageError(_describe(e, name)) from e
        image = response.get("MetricWidgetImage") or b""
        if not image.startswith(PNG_MAGIC):
            raise CloudWatchImageError(
                f"GetMetricWidgetImage for {name or 'widget'!s} returned {len(image)} bytes that are not a PNG"
            )
        return image


def _describe(error: Exception, name: str | None) -> str:
    what = f"GetMetricWidgetImage for widget {name!r}" if name else "GetMetricWidgetImage"
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        code = response["Error"].get("Code") or "Error"
        message = " ".join(str(response["Error"].get("Message") or "").split())
        return f"{what} failed: {code}: {message}"[:500]
    return f"{what} failed: {type(error).__name__}: {' '.join(str(error).split())}"[:500]
