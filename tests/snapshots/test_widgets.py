"""CloudWatch metric widgets: console shorthand, validation, default widgets, GetMetricWidgetImage."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.stub import Stubber

from dagster_project.resources.cloudwatch_metrics import PNG_MAGIC, CloudWatchImageError, CloudWatchMetricsResource
from dagster_project.snapshots import widgets as W
from dagster_project.snapshots.widgets import WidgetError, expand_metrics, prepare_widget
from tests.support.cloudwatch_image_server import CloudWatchImageServer, cbor_dumps, cbor_loads, render_png

# As pasted from the console's Source tab (Metrics explorer, RDS instance graphs), shorthand and all.
CONSOLE_SOURCE = """
{
    "metrics": [
        [ "AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "db-1" ],
        [ "...", "db-2" ],
        [ ".", "DatabaseConnections", ".", ".", { "yAxis": "right" } ],
        [ "...", "db-1", { "yAxis": "right", "stat": "Maximum" } ],
        [ { "expression": "m1 * 2", "label": "double", "id": "e1" } ],
        [ "...", { "stat": "p99" } ]
    ],
    "view": "timeSeries",
    "stacked": false,
    "region": "ap-northeast-1",
    "timezone": "+0900",
    "start": "-PT3H",
    "end": "P0D",
    "period": 300,
    "stat": "Average",
    "width": 800,
    "height": 450,
    "title": "db CPU and connections"
}
"""


@pytest.fixture
def aws_env(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


# ------------------------------------------------------------------------------------ shorthand
def test_dot_repeats_the_value_at_that_position():
    rows = expand_metrics([
        ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "db-1"],
        [".", ".", ".", "db-2"],
        [".", "ReadLatency", ".", "."],
    ])
    assert rows == [
        ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "db-1"],
        ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "db-2"],
        ["AWS/RDS", "ReadLatency", "DBInstanceIdentifier", "db-2"],
    ]


def test_ellipsis_repeats_the_leading_elements_and_options_are_not_inherited():
    rows = expand_metrics([
        ["AWS/ElastiCache", "CurrConnections", "CacheClusterId", "redis-001", "CacheNodeId", "0001", {"stat": "Maximum"}],
        ["...", "0002"],
        ["...", "redis-002", "CacheNodeId", "0001"],
        ["...", {"label": "same metric again"}],
    ])
    assert rows[1] == ["AWS/ElastiCache", "CurrConnections", "CacheClusterId", "redis-001", "CacheNodeId", "0002"]
    assert rows[2] == ["AWS/ElastiCache", "CurrConnections", "CacheClusterId", "redis-002", "CacheNodeId", "0001"]
    assert rows[3] == ["AWS/ElastiCache", "CurrConnections", "CacheClusterId", "redis-002", "CacheNodeId", "0001",
                       {"label": "same metric again"}]
    assert rows[0][-1] == {"stat": "Maximum"}


def test_console_source_is_expanded_and_valid():
    widget = prepare_widget(CONSOLE_SOURCE, "pasted")
    m = widget["metrics"]
    assert m[0] == ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "db-1"]
    assert m[1] == ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "db-2"]
    assert m[2] == ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", "db-2", {"yAxis": "right"}]
    assert m[3] == ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", "db-1", {"yAxis": "right", "stat": "Maximum"}]
    assert m[4] == [{"expression": "m1 * 2", "label": "double", "id": "e1"}]
    # an expression row is not a "previous metric": '...' repeats the last metric row
    assert m[5] == ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", "db-1", {"stat": "p99"}]
    assert widget["timezone"] == "+0900" and widget["start"] == "-PT3H" and widget["region"] == "ap-northeast-1"
    assert not any(e in (".", "...") for row in m for e in row)


def test_dashboard_widget_is_unwrapped_and_its_grid_size_dropped():
    dashboard_widget = {"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6,
                        "properties": {"metrics": [["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "db-1"]],
                                       "region": "us-east-1"}}
    widget = prepare_widget(dashboard_widget, "dash", defaults={"width": 800, "height": 450})
    assert (widget["width"], widget["height"]) == (800, 450)
    assert "properties" not in widget and "type" not in widget


# ----------------------------------------------------------------------------------- validation
def _metric(i: int) -> list:
    return ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", f"db-{i}"]


@pytest.mark.parametrize(
    ("widget", "expected"),
    [
        ({"metrics": []}, "'metrics' must be a non-empty array"),
        ({"view": "timeSeries"}, "missing required key 'metrics'"),
        ({"metrics": [_metric(i) for i in range(101)]}, "101 metrics; GetMetricWidgetImage allows at most 100"),
        ({"metrics": [_metric(1)], "width": 0}, "width must be an integer from 1 to 2000 px, got 0"),
        ({"metrics": [_metric(1)], "height": 2001}, "height must be an integer from 1 to 2000 px, got 2001"),
        ({"metrics": [_metric(1)], "width": "800"}, "width must be an integer from 1 to 2000 px, got '800'"),
        ({"metrics": [_metric(1)], "timezone": "+9"}, "timezone '+9' must be +HHMM or -HHMM"),
        ({"metrics": [_metric(1)], "start": "-3h"}, "start '-3h' is neither a relative duration"),
        ({"metrics": [_metric(1)], "start": "-PT"}, "start '-PT' is not a relative ISO 8601 duration"),
        ({"metrics": [_metric(1)], "region": "Tokyo"}, "region 'Tokyo' is not an AWS region name"),
        ({"metrics": [["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier"]]},
         "metrics[0]: dimension 'DBInstanceIdentifier' has no value"),
        ({"metrics": [["AWS/RDS"]]}, "metrics[0] needs at least a namespace and a metric name"),
        ({"metrics": [[".", "CPUUtilization"]]}, "metrics[0][0] is '.' but there is no previous metric"),
        ({"metrics": [["...", "db-2"]]}, "metrics[0] starts with '...' but there is no previous metric"),
        ({"metrics": [_metric(1), ["...", "a", "b", "c", "d", "e"]]}, "'...' followed by 5 elements"),
        ({"metrics": [_metric(1), [{"stat": "p99"}]]}, "a row with only an options object needs an 'expression'"),
        ({"metrics": "AWS/RDS CPUUtilization"}, "'metrics' must be a non-empty array"),
        ({"widgets": [{"type": "metric"}]}, "whole dashboard body"),
    ],
)
def test_validation_errors_are_one_line_and_name_the_widget(widget, expected):
    with pytest.raises(WidgetError) as err:
        prepare_widget(widget, "my-widget")
    message = str(err.value)
    assert expected in message
    assert message.startswith("widget 'my-widget': ")
    assert "\n" not in message


def test_invalid_json_is_one_line_with_position():
    with pytest.raises(WidgetError, match=r"^widget 'w': not valid JSON: .* at line 2 column \d+$"):
        prepare_widget('{"metrics": [\n  ["AWS/RDS", "CPUUtilization",]]}', "w")


def test_payload_limit():
    big = {"metrics": [["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "x" * 2000] for _ in range(60)]}
    with pytest.raises(WidgetError, match="GetMetricWidgetImage allows at most 102400"):
        prepare_widget(big, "big")


def test_accepted_times_and_sizes():
    for start in ("-PT3H", "-P1D", "-P1DT12H", "-PT30M", "-P2W", "2026-01-01T00:00:00Z", "2026-01-01T09:00:00+09:00"):
        prepare_widget({"metrics": [_metric(1)], "start": start, "end": "-PT0H", "width": 1, "height": 2000,
                        "timezone": "-0530", "region": "ap-northeast-1"})


# ------------------------------------------------------------------------------------- defaults
def test_default_widgets_for_rds_memorydb_elasticache():
    rds = W.rds_widgets(["db-1"])
    assert set(rds) == {"rds-db-1-cpu", "rds-db-1-connections", "rds-db-1-latency"}
    assert rds["rds-db-1-cpu"]["metrics"] == [["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "db-1"]]
    lat = [m[:2] for m in rds["rds-db-1-latency"]["metrics"]]
    assert lat == [["AWS/RDS", "ReadLatency"], ["AWS/RDS", "WriteLatency"]]
    assert rds["rds-db-1-latency"]["yAxis"]["left"]["label"] == "s"
    mem = W.memorydb_widgets(["cache-a"])
    assert mem["memorydb-cache-a-engine-cpu"]["metrics"] == [["AWS/MemoryDB", "EngineCPUUtilization", "ClusterName", "cache-a"]]
    assert mem["memorydb-cache-a-connections"]["metrics"] == [["AWS/MemoryDB", "CurrConnections", "ClusterName", "cache-a"]]
    ec = W.elasticache_widgets(["redis-001"])
    assert ec["elasticache-redis-001-engine-cpu"]["metrics"][0][:3] == ["AWS/ElastiCache", "EngineCPUUtilization", "CacheClusterId"]
    for name, widget in {**rds, **mem, **ec}.items():
        W.validate_widget(widget, name)


def test_resource_widgets_for_a_day():
    res = CloudWatchMetricsResource(
        region_name="ap-northeast-1", rds_instances=["db-1"], memorydb_clusters=["cache-a"],
        elasticache_clusters=["redis-001"], timezone="+0900",
        widgets={"pasted": CONSOLE_SOURCE, "no-range": json.dumps({"metrics": [_metric(7)]})},
    )
    assert res.enabled and not CloudWatchMetricsResource().enabled
    ws = res.widgets_for_day(dt.date(2026, 3, 10))
    assert len(ws) == 3 + 2 + 2 + 2
    cpu = ws["rds-db-1-cpu"]
    assert (cpu["start"], cpu["end"]) == ("2026-03-10T00:00:00Z", "2026-03-11T00:00:00Z")
    assert cpu["timezone"] == "+0900" and cpu["region"] == "ap-northeast-1" and (cpu["width"], cpu["height"]) == (800, 450)
    assert ws["pasted"]["start"] == "-PT3H"  # a pasted widget keeps its own range
    assert ws["no-range"]["start"] == "2026-03-10T00:00:00Z"  # ... or gets the day's
    pinned = res.model_copy(update={"pin_to_day": True}).widgets_for_day(dt.date(2026, 3, 10))
    assert pinned["pasted"]["start"] == "2026-03-10T00:00:00Z" and pinned["pasted"]["end"] == "2026-03-11T00:00:00Z"


def test_resource_refuses_a_bad_pasted_widget_by_name():
    res = CloudWatchMetricsResource(widgets={"broken": '{"metrics": [["...", "db-2"]]}'})
    with pytest.raises(WidgetError, match="^widget 'broken': metrics\\[0\\] starts with '...'"):
        res.widgets_for_day(dt.date(2026, 3, 10))


# -------------------------------------------------------------------------- GetMetricWidgetImage
def test_get_widget_image_with_stubber(aws_env):
    res = CloudWatchMetricsResource(region_name="us-east-1")
    png = render_png("stub")
    expected_widget = {"metrics": [_metric(1), _metric(2)], "width": 600, "height": 300, "region": "us-east-1"}
    with Stubber(res.client) as stub:
        stub.add_response(
            "get_metric_widget_image",
            {"MetricWidgetImage": png},
            {"MetricWidget": json.dumps(expected_widget, separators=(",", ":")), "OutputFormat": "png"},
        )
        image = res.get_widget_image({"metrics": [_metric(1), ["...", "db-2"]], "width": 600, "height": 300})
        stub.assert_no_pending_responses()
    assert image == png and image.startswith(PNG_MAGIC)


def test_validation_happens_before_any_call(aws_env):
    res = CloudWatchMetricsResource(region_name="us-east-1")
    with Stubber(res.client) as stub:  # no response queued: any call would fail differently
        with pytest.raises(WidgetError, match="width must be an integer"):
            res.get_widget_image({"metrics": [_metric(1)], "width": 5000})
        stub.assert_no_pending_responses()


def test_get_widget_image_over_http(aws_env):
    with CloudWatchImageServer() as srv:
        res = CloudWatchMetricsResource(region_name="us-east-1", endpoint_url=srv.url, max_attempts=2)
        image = res.get_widget_image(CONSOLE_SOURCE, name="pasted")
        assert image.startswith(PNG_MAGIC)
        sent = json.loads(srv.requests[0]["MetricWidget"])
        assert sent["metrics"][1] == _metric(2) and sent["timezone"] == "+0900"
        assert srv.requests[0]["OutputFormat"] == "png"

        srv.fail_next("Throttling", 400, "Rate exceeded")  # botocore retries it
        assert res.get_widget_image({"metrics": [_metric(1)]}).startswith(PNG_MAGIC)

        srv.fail_next("AccessDenied", 403, "User: arn:aws:iam::1:user/x is not authorized\nto perform")
        with pytest.raises(CloudWatchImageError) as err:
            res.get_widget_image({"metrics": [_metric(1)]}, name="cpu")
        assert str(err.value) == ("GetMetricWidgetImage for widget 'cpu' failed: AccessDenied: "
                                  "User: arn:aws:iam::1:user/x is not authorized to perform")
        assert "testing" not in str(err.value)


def test_cbor_codec_round_trip():
    value = {"MetricWidget": "{}", "n": [1, -2, 300, 70000, 2**40], "b": b"\x89PNG", "f": 1.5, "t": True, "z": None}
    assert cbor_loads(cbor_dumps(value)) == value
