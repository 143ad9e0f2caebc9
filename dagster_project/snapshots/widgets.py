"""CloudWatch metric widgets for ``GetMetricWidgetImage``.

Users paste a widget's JSON verbatim from the console ("Source" tab of a graph, or the widget
source of a dashboard). This module parses it, expands the console's metric shorthand, validates
it against the API's limits *before* any call, and builds the default widgets of the RDS instances
and MemoryDB / ElastiCache clusters we watch.

Metric shorthand (as written by the console)::

    ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "db-1"],
    [".", ".", ".", "db-2"],                    # "." = the value at that position in the previous row
    ["...", "db-3"],                            # "..." = every leading element of the previous row,
                                                #          the given ones replace its trailing ones
    ["...", {"stat": "p99"}],                  # same metric, other rendering options
    [".", "DatabaseConnections", ".", ".", {"yAxis": "right"}]

A row's options object (the dict at its end) is never inherited. Metric math rows
(``[{"expression": "m1 + m2", "id": "e1"}]``) are kept as they are and are not a "previous row".

Every validation error is a :class:`WidgetError` with a one-line message naming the widget and the
problem, e.g. ``widget 'rds-db-1-cpu': width must be an integer from 1 to 2000 px, got 4000``.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "MAX_METRICS",
    "MAX_PAYLOAD_BYTES",
    "WidgetError",
    "parse_widget",
    "expand_metrics",
    "validate_widget",
    "prepare_widget",
    "rds_widgets",
    "memorydb_widgets",
    "elasticache_widgets",
    "day_range",
]

MAX_METRICS = 100  # GetMetricWidgetImage: "As many as 100 metrics in the graph"
MAX_PAYLOAD_BYTES = 100 * 1024  # "Up to 100 KB uncompressed payload"
MIN_PX, MAX_PX = 1, 2000  # width / height, pixels
DEFAULT_WIDTH, DEFAULT_HEIGHT = 800, 450  # Slack's preview proportions

_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
_TIMEZONE = re.compile(r"^[+-](?:[01]\d|2[0-3])[0-5]\d$")
_DURATION = re.compile(r"^-?P(?=\d|T\d)(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+S)?)?$")
_OPTIONAL_STR = ("title", "view", "stat", "region", "timezone", "start", "end")


class WidgetError(ValueError):
    """A widget that cannot be sent to GetMetricWidgetImage (one-line message)."""


def _fail(name: str | None, message: str) -> WidgetError:
    where = f"widget {name!r}: " if name else "widget: "
    return WidgetError(where + message)


# ------------------------------------------------------------------------------------------ parse
def parse_widget(source: str | Mapping[str, Any], name: str | None = None) -> dict:
    """A widget dict from pasted JSON text (or a dict), unwrapping a dashboard widget.

    Accepted: the graph source ``{"metrics": [...], "view": ..., "region": ...}`` or one dashboard
    widget ``{"type": "metric", "x": .., "width": 6, "properties": {...}}`` (its grid ``width`` /
    ``height`` are dashboard units, not pixels, and are dropped). A whole dashboard body
    (``{"widgets": [...]}``) is refused: paste one widget.
    """
    if isinstance(source, Mapping):
        data: Any = copy.deepcopy(dict(source))
    else:
        text = str(source).strip()
        if not text:
            raise _fail(name, "empty widget JSON")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise _fail(name, f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    if not isinstance(data, dict):
        raise _fail(name, f"the widget JSON must be an object {{...}}, got {type(data).__name__}")
    if "widgets" in data and "metrics" not in data:
        raise _fail(name, "this is a whole dashboard body; paste the source of one metric widget instead")
    if "properties" in data and "metrics" not in data:
        if data.get("type", "metric") != "metric":
            raise _fail(name, f"only metric widgets can be rendered, not type {data.get('type')!r}")
        props = data["properties"]
        if not isinstance(props, dict):
            raise _fail(name, "'properties' must be an object")
        data = copy.deepcopy(props)
    return data


# ------------------------------------------------------------------------------------- shorthand
def _split(row: list) -> tuple[list, dict | None]:
    if row and isinstance(row[-1], dict):
        return list(row[:-1]), row[-1]
    return list(row), None


def expand_metrics(metrics: Sequence[Any], name: str | None = None) -> list[list]:
    """The metrics array with every ``"."`` and ``"..."`` replaced by what it stands for."""
    out: list[list] = []
    previous: list | None = None  # elements (no options) of the previous metric row
    for i, row in enumerate(metrics):
        if not isinstance(row, list):
            raise _fail(name, f"metrics[{i}] must be an array like [namespace, metric name, dim, value, ...], "
                              f"got {type(row).__name__}")
        if not row:
            raise _fail(name, f"metrics[{i}] is empty")
        elements, options = _split(row)
        if any(isinstance(e, dict) for e in elements):
            raise _fail(name, f"metrics[{i}]: the options object must be the last element")
        if not elements:  # metric math / search expression: [{"expression": ...}]
            if not (options and ("expression" in options)):
                raise _fail(name, f"metrics[{i}]: a row with only an options object needs an 'expression'")
            out.append(copy.deepcopy(row))
            continue
        if elements[0] == "...":
            if previous is None:
                raise _fail(name, f"metrics[{i}] starts with '...' but there is no previous metric to repeat")
            rest = elements[1:]
            if "..." in rest:
                raise _fail(name, f"metrics[{i}]: '...' may only appear once, at the start")
            if len(rest) > len(previous):
                raise _fail(name, f"metrics[{i}]: '...' followed by {len(rest)} elements, but the previous "
                                  f"metric has only {len(previous)}")
            elements = previous[: len(previous) - len(rest)] + rest
        elif "..." in elements:
            raise _fail(name, f"metrics[{i}]: '...' may only appear at the start of a row")
        expanded = []
        for j, e in enumerate(elements):
            if e == ".":
                if previous is None:
                    raise _fail(name, f"metrics[{i}][{j}] is '.' but there is no previous metric")
                if j >= len(previous):
                    raise _fail(name, f"metrics[{i}][{j}] is '.' but the previous metric has no element {j}")
                e = previous[j]
            expanded.append(e)
        previous = expanded
        out.append(expanded + ([copy.deepcopy(options)] if options is not None else []))
    return out


# -------------------------------------------------------------------------------------- validate
def _check_metric_row(row: list, i: int, name: str | None) -> None:
    elements, options = _split(row)
    if not elements:
        return  # expression
    if len(elements) < 2:
        raise _fail(name, f"metrics[{i}] needs at least a namespace and a metric name, got {elements!r}")
    for j, e in enumerate(elements):
        if not isinstance(e, str) or not e:
            raise _fail(name, f"metrics[{i}][{j}] must be a non-empty string, got {e!r}")
    dims = elements[2:]
    if len(dims) % 2:
        raise _fail(name, f"metrics[{i}]: dimension {dims[-1]!r} has no value (dimensions come as name, value pairs)")
    if len(dims) // 2 > 30:
        raise _fail(name, f"metrics[{i}] has {len(dims) // 2} dimensions; CloudWatch allows at most 30")
    if options is not None:
        for key in ("period",):
            if key in options and not _positive_int(options[key]):
                raise _fail(name, f"metrics[{i}]: {key} must be a positive integer of seconds, got {options[key]!r}")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_time(value: Any, key: str, name: str | None) -> None:
    if not isinstance(value, str) or not value:
        raise _fail(name, f"{key} must be a string like -PT3H or 2026-01-01T00:00:00Z, got {value!r}")
    if value.startswith(("-P", "P")):  # relative: "-PT3H"; the console writes "end": "P0D" for now
        if not _DURATION.match(value):
            raise _fail(name, f"{key} {value!r} is not a relative ISO 8601 duration like -PT3H, -P1D or -P1DT12H")
        return
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(name, f"{key} {value!r} is neither a relative duration (-PT3H) nor an ISO 8601 time "
                          f"(2026-01-01T00:00:00Z)") from None


def validate_widget(widget: Mapping[str, Any], name: str | None = None) -> None:
    """Raise :class:`WidgetError` unless ``widget`` (already expanded) is acceptable to the API."""
    if not isinstance(widget, Mapping):
        raise _fail(name, f"must be an object, got {type(widget).__name__}")
    metrics = widget.get("metrics")
    if metrics is None:
        raise _fail(name, "missing required key 'metrics'")
    if not isinstance(metrics, list) or not metrics:
        raise _fail(name, "'metrics' must be a non-empty array of metric arrays")
    if len(metrics) > MAX_METRICS:
        raise _fail(name, f"{len(metrics)} metrics; GetMetricWidgetImage allows at most {MAX_METRICS} per graph")
    for i, row in enumerate(metrics):
        if not isinstance(row, list):
            raise _fail(name, f"metrics[{i}] must be an array")
        if "." in row or "..." in row:
            raise _fail(name, f"metrics[{i}] still holds '.'/'...' shorthand; expand it first")
        _check_metric_row(row, i, name)
    for key in ("width", "height"):
        if key in widget:
            value = widget[key]
            if not (isinstance(value, int) and not isinstance(value, bool) and MIN_PX <= value <= MAX_PX):
                raise _fail(name, f"{key} must be an integer from {MIN_PX} to {MAX_PX} px, got {value!r}")
    for key in _OPTIONAL_STR:
        if key in widget and not isinstance(widget[key], str):
            raise _fail(name, f"{key} must be a string, got {widget[key]!r}")
    if "region" in widget and not _REGION.match(widget["region"]):
        raise _fail(name, f"region {widget['region']!r} is not an AWS region name like us-east-1")
    if "timezone" in widget and not _TIMEZONE.match(widget["timezone"]):
        raise _fail(name, f"timezone {widget['timezone']!r} must be +HHMM or -HHMM, e.g. +0900 or -0530")
    for key in ("start", "end"):
        if key in widget:
            _check_time(widget[key], key, name)
    if "period" in widget and not _positive_int(widget["period"]):
        raise _fail(name, f"period must be a positive integer of seconds, got {widget['period']!r}")
    size = len(json.dumps(widget, separators=(",", ":")).encode())
    if size > MAX_PAYLOAD_BYTES:
        raise _fail(name, f"{size} bytes of JSON; GetMetricWidgetImage allows at most {MAX_PAYLOAD_BYTES}")


def prepare_widget(
    source: str | Mapping[str, Any],
    name: str | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
) -> dict:
    """Parse, expand and validate a pasted widget; ``defaults`` fill keys the widget lacks
    (e.g. ``region``, ``width``/``height``, or the partition's ``start``/``end``)."""
    widget = parse_widget(source, name)
    if "metrics" not in widget:
        raise _fail(name, "missing required key 'metrics'")
    if isinstance(widget["metrics"], list):
        widget["metrics"] = expand_metrics(widget["metrics"], name)
    for key, value in (defaults or {}).items():
        if value is not None and key not in widget:
            widget[key] = value
    validate_widget(widget, name)
    return widget


# ------------------------------------------------------------------------------------- defaults
def day_range(day: dt.date) -> tuple[str, str]:
    """Absolute ``start``/``end`` covering one UTC day, as the widget JSON wants them."""
    start = dt.datetime.combine(day, dt.time(), dt.timezone.utc)
    end = start + dt.timedelta(days=1)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ")


def _widget(title: str, metrics: list[list], *, label: str | None, stat: str = "Average",
            period: int = 300, **extra: Any) -> dict:
    w: dict[str, Any] = {"view": "timeSeries", "stacked": False, "title": title, "metrics": metrics,
                         "stat": stat, "period": period, "width": DEFAULT_WIDTH, "height": DEFAULT_HEIGHT,
                         "legend": {"position": "bottom"}}
    if label:
        w["yAxis"] = {"left": {"label": label, "showUnits": False, "min": 0}}
    w.update({k: v for k, v in extra.items() if v is not None})
    return w


def rds_widgets(instances: Iterable[str], **extra: Any) -> dict[str, dict]:
    """CPU, connections and read/write latency of each RDS / Aurora instance (AWS/RDS)."""
    out: dict[str, dict] = {}
    for inst in instances:
        dim = ["DBInstanceIdentifier", inst]
        out[f"rds-{inst}-cpu"] = _widget(f"{inst} CPUUtilization (%)", [["AWS/RDS", "CPUUtilization", *dim]],
                                         label="%", **extra)
        out[f"rds-{inst}-connections"] = _widget(f"{inst} DatabaseConnections",
                                                 [["AWS/RDS", "DatabaseConnections", *dim]], label="connections", **extra)
        out[f"rds-{inst}-latency"] = _widget(
            f"{inst} Read/Write latency (s)",
            [["AWS/RDS", "ReadLatency", *dim, {"label": "ReadLatency"}],
             ["AWS/RDS", "WriteLatency", *dim, {"label": "WriteLatency"}]],
            label="s", **extra)
    return out


def _cache_widgets(prefix: str, namespace: str, dim_name: str, clusters: Iterable[str], **extra: Any) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for cluster in clusters:
        dim = [dim_name, cluster]
        out[f"{prefix}-{cluster}-engine-cpu"] = _widget(
            f"{cluster} EngineCPUUtilization (%)", [[namespace, "EngineCPUUtilization", *dim]], label="%", **extra)
        out[f"{prefix}-{cluster}-connections"] = _widget(
            f"{cluster} CurrConnections", [[namespace, "CurrConnections", *dim]], label="connections", **extra)
    return out


def memorydb_widgets(clusters: Iterable[str], **extra: Any) -> dict[str, dict]:
    """EngineCPUUtilization and CurrConnections of each MemoryDB cluster (AWS/MemoryDB, ClusterName)."""
    return _cache_widgets("memorydb", "AWS/MemoryDB", "ClusterName", clusters, **extra)


def elasticache_widgets(clusters: Iterable[str], **extra: Any) -> dict[str, dict]:
    """EngineCPUUtilization and CurrConnections of each ElastiCache node (AWS/ElastiCache, CacheClusterId)."""
    return _cache_widgets("elasticache", "AWS/ElastiCache", "CacheClusterId", clusters, **extra)
