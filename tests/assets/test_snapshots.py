"""Snapshots to Slack: query_regressions, metric_snapshots, slack_report materialized with
``dg.materialize``; Slack is a local HTTP server speaking the Web API (tests/support/slack_api_server.py)
and CloudWatch a local GetMetricWidgetImage endpoint (tests/support/cloudwatch_image_server.py)."""
from __future__ import annotations

import datetime as dt
import json
import re

import dagster as dg
import pyarrow as pa
import pytest

from dagster_project import analysis
from dagster_project.assets.digest import query_digest
from dagster_project.assets.ingest import ingest_assets
from dagster_project.assets.snapshots import (
    QueryRegressionsConfig,
    metric_snapshots,
    query_regressions,
    snapshot_assets,
)
from dagster_project.resources.cloudwatch_metrics import CloudWatchMetricsResource
from dagster_project.resources.slack import SlackReportResource, SlackSendError, validate_channel_id
from dagster_project.slowlog.digest import DIGEST_SCHEMA
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.warehouse import Warehouse
from tests.support.cloudwatch_image_server import CloudWatchImageServer
from tests.support.slack_api_server import VALID_TOKEN, SlackApiServer
from tests.support.dagster_results import materializations

DAY = "2026-03-10"
CHANNEL = "C0123456789"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SECRET = "hunter2-credit-4111111111111111"


def md(result, node: str) -> dict:
    return {k: v.value for k, v in materializations(result, node)[0].metadata.items()}


def range_tags(start: str, end: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}


@pytest.fixture
def slack_server():
    with SlackApiServer(channels=(CHANNEL,)) as srv:
        yield srv


@pytest.fixture
def no_slack_env(monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_CHANNEL_ID", raising=False)


def slack(srv: SlackApiServer, **kwargs) -> SlackReportResource:
    args = {"token": VALID_TOKEN, "channel_id": CHANNEL, "base_url": srv.base_url, "backoff_seconds": 0.05}
    args.update(kwargs)
    return SlackReportResource(**args)


def resources(srv: SlackApiServer | None = None, **kwargs) -> dict:
    return {
        "data_root": DataRootResource(),
        "cloudwatch_metrics": kwargs.pop("cloudwatch_metrics", CloudWatchMetricsResource()),
        "slack": slack(srv, **kwargs) if srv else SlackReportResource(),
    }


# ---------------------------------------------------------------------- constructed digests
def digest_rows(day: dt.date, classes: list[tuple]) -> pa.Table:
    """classes: (instance, checksum, count, p95, total, fingerprint, example)."""
    rows = []
    for inst, checksum, count, p95, total, fingerprint, example in classes:
        rows.append({
            "date": day, "instance": inst, "engine": "mysql", "checksum": checksum, "fingerprint": fingerprint,
            "count": count, "query_time_sum": total, "query_time_p95": p95, "query_time_avg": total / count,
            "query_time_max": p95 * 1.2, "example": example, "example_redacted": example.split("=")[0] + "= ?",
            "hourly": [{"hour": h, "count": max(1, count // 4), "query_time_sum": total / 4, "query_time_p95": p95}
                       for h in (2, 8, 14, 20)],
        })
    return pa.Table.from_pylist(rows, schema=DIGEST_SCHEMA)


STABLE = ("db-1", "A" * 32, 100, 0.5, 50.0, "select * from orders where id = ?", "select * from orders where id = 77")
SLOW = ("db-1", "B" * 32, 20, 1.0, 20.0, "update stock set n = n - ? where sku = ?",
        "update stock set n = n - 1 where sku = 'X-1'")
REPORTS = ("db-2", "C" * 32, 5, 2.0, 10.0, "select sum(total) from invoices where customer = ?",
           "select sum(total) from invoices where customer = 'ACME'")


def write_history(data_root, day: str = DAY, days: int = 7) -> None:
    """7 stable baseline days, then a day where SLOW's p95 tripled and a class appeared whose
    fingerprint wrongly kept a literal (the report must redact it)."""
    d0 = dt.date.fromisoformat(day)
    for i in range(days, 0, -1):
        Warehouse().write_partition("query_digest", d0 - dt.timedelta(days=i), digest_rows(d0 - dt.timedelta(days=i), [STABLE, SLOW, REPORTS]))
    slow_today = SLOW[:3] + (3.5, 30.0) + SLOW[5:]  # p95 x3.5, total x1.5
    leaky = ("db-2", "D" * 32, 7, 4.0, 300.0, f"select * from cards where number = '{SECRET}'",
             f"select * from cards where number = '{SECRET}'")
    Warehouse().write_partition("query_digest", d0, digest_rows(d0, [STABLE, slow_today, REPORTS, leaky]))


# --------------------------------------------------------------------------------- end to end
def test_real_logs_end_to_end_to_slack(source_tree, days, data_root, slack_server):
    """Real slow logs -> events -> digest -> regressions, charts, Slack upload."""
    tree = source_tree(days("2026-03-09", 2), ["db-1", "db-2"], files_per_day=3, seed=5)
    assets = [*ingest_assets, query_digest, *snapshot_assets]
    res = {"log_source": tree.resource(), **resources(slack_server)}
    # the day before, without Slack, to have a baseline
    assert dg.materialize([*ingest_assets, query_digest], resources={"data_root": DataRootResource(), "log_source": tree.resource()},
                          partition_key="2026-03-09").success
    result = dg.materialize(assets, resources=res, partition_key=DAY)
    assert result.success

    snap_dir = data_root / "snapshots" / f"date={DAY}"
    pngs = sorted(p.name for p in snap_dir.glob("*.png"))
    assert pngs == ["db_load.png", "events_by_hour.png", "p95_by_hour.png", "top_classes.png"]
    assert (data_root / "warehouse" / "query_regressions" / f"date={DAY}" / "part-0.parquet").exists()

    snaps = md(result, "metric_snapshots")
    assert snaps["file_count"] == 4 and all(p.endswith(".png") for p in snaps["files"])
    assert snaps["cloudwatch"].startswith("off:")

    report = md(result, "slack_report")
    assert report["slack_status"] == "sent" and CHANNEL in report["slack_reason"]
    assert "Slow query report · 2026-03-10" in report["message_preview"]

    # one upload, to the channel ID, with the three PNGs byte for byte
    assert len(slack_server.completed) == 1
    done = slack_server.completed[0]
    assert done["channel_id"] == CHANNEL
    by_name = {f["name"]: f["data"] for f in done["files"]}
    assert set(by_name) == set(pngs)
    for name, data in by_name.items():
        assert data.startswith(PNG_MAGIC) and data == (snap_dir / name).read_bytes()
    assert slack_server.tokens_seen == {VALID_TOKEN}

    # the comment: totals, the top classes' redacted fingerprints, no literal of the raw queries
    comment = done["initial_comment"]
    digest = analysis.load_digest(DAY, DAY)
    events = analysis.load_events(DAY, DAY, by="partition", columns=["query"])
    assert f"{int(digest['count'].sum()):,} events" in comment and f"{len(digest):,} query classes" in comment
    top = digest.nlargest(5, "query_time_sum")
    from dagster_project.snapshots.slack_message import code_span
    for fp in top["fingerprint"]:
        assert code_span(fp) in comment
    literals = {m for q in events["query"].dropna() for m in re.findall(r"'([^']{4,})'", q)}
    literals |= {m for q in events["query"].dropna() for m in re.findall(r"\b\d{4,}\b", q)}
    assert literals, "the corpus queries should hold literals"
    leaked = [lit for lit in literals if lit in comment and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", lit)]
    assert not [lit for lit in leaked if lit not in ("2026",)], leaked
    assert "Regressions vs the previous 7 days" in comment


def test_no_token_skips_and_still_writes_pngs(data_root, no_slack_env):
    write_history(data_root)
    result = dg.materialize(snapshot_assets, resources=resources(), partition_key=DAY)
    assert result.success
    report = md(result, "slack_report")
    assert report["slack_status"] == "skipped"
    assert report["slack_reason"] == "SLACK_BOT_TOKEN not set"
    assert "SLACK_BOT_TOKEN not set: nothing sent; PNGs are in" in report["per_day"]
    assert len(report["files"]) == 4 and all(f.endswith(".png") for f in report["files"])
    assert all((data_root / "snapshots" / f"date={DAY}" / n).read_bytes().startswith(PNG_MAGIC)
               for n in ("db_load.png", "top_classes.png", "p95_by_hour.png", "events_by_hour.png"))
    # the preview still shows what would have been sent, redacted
    assert "update stock set n = n - ? where sku = ?" in report["message_preview"]
    assert SECRET not in report["message_preview"]


def test_token_from_environment(data_root, slack_server, monkeypatch):
    write_history(data_root)
    monkeypatch.setenv("SLACK_BOT_TOKEN", VALID_TOKEN)
    monkeypatch.setenv("SLACK_CHANNEL_ID", CHANNEL)
    res = {"data_root": DataRootResource(), "cloudwatch_metrics": CloudWatchMetricsResource(),
           "slack": SlackReportResource(base_url=slack_server.base_url)}
    result = dg.materialize(snapshot_assets, resources=res, partition_key=DAY)
    assert result.success and md(result, "slack_report")["slack_status"] == "sent"
    assert slack_server.completed[0]["channel_id"] == CHANNEL


# ---------------------------------------------------------------------------------- regressions
def test_query_regressions_asset(data_root, no_slack_env):
    write_history(data_root)
    result = dg.materialize([query_regressions], resources={"data_root": DataRootResource()}, partition_key=DAY)
    assert result.success
    meta = md(result, "query_regressions")
    assert meta["regressions"] == 2 and meta["factor"] == 2.0
    table = meta["regressions_table"]
    assert "| date | instance | kind |" in table and "| p95 |" in table and "| new |" in table
    assert SECRET not in table
    stored = Warehouse().read_table("query_regressions", DAY, DAY).to_pandas()
    assert sorted(stored["kind"]) == ["new", "p95"]
    assert (data_root / "warehouse" / "query_regressions" / f"date={DAY}" / "part-0.parquet").exists()
    assert Warehouse().read_manifest("query_regressions", DAY)["baseline_days_with_digest"] == 7

    # configurable factor: SLOW's p95 grew x3.5; with factor 4 only the new class remains
    config = dg.RunConfig({"query_regressions": QueryRegressionsConfig(factor=4.0)})
    again = dg.materialize([query_regressions], resources={"data_root": DataRootResource()}, partition_key=DAY, run_config=config)
    assert md(again, "query_regressions")["regressions"] == 1
    assert list(Warehouse().read_table("query_regressions", DAY, DAY).to_pandas()["kind"]) == ["new"]


def test_first_day_has_no_new_classes(data_root):
    Warehouse().write_partition("query_digest", DAY, digest_rows(dt.date.fromisoformat(DAY), [STABLE]))
    result = dg.materialize([query_regressions], resources={"data_root": DataRootResource()}, partition_key=DAY)
    assert md(result, "query_regressions")["regressions"] == 0


# ----------------------------------------------------------------------------------------- slack
def test_slack_message_content(data_root, slack_server):
    write_history(data_root)
    assert dg.materialize(snapshot_assets, resources=resources(slack_server), partition_key=DAY).success
    comment = slack_server.completed[0]["initial_comment"]
    assert "*Slow query report · 2026-03-10 (UTC)*" in comment
    assert "132 events · 4 query classes" in comment
    assert "*Top 4 classes by total time*" in comment
    assert "`select * from cards where number = ?`" in comment  # redacted though the digest kept the literal
    assert SECRET not in comment
    assert "*Regressions vs the previous 7 days (×2):* 1 new, 1 p95" in comment
    assert "p95 ×3.5 (1 s → 3.5 s)" in comment
    assert "Charts: db_load.png, top_classes.png, p95_by_hour.png, events_by_hour.png" in comment
    titles = [f["title"] for f in slack_server.completed[0]["files"]]
    assert titles[:2] == ["DB load by top query classes · 2026-03-10", "Top query classes by total time · 2026-03-10"]


def test_slack_retries_429_and_5xx(data_root, slack_server):
    write_history(data_root)
    slack_server.fail("files.getUploadURLExternal", status=500)
    slack_server.fail("upload", status=503)
    slack_server.fail("files.completeUploadExternal", status=429, retry_after=1)
    result = dg.materialize(snapshot_assets, resources=resources(slack_server), partition_key=DAY)
    assert result.success
    assert slack_server.statuses("files.getUploadURLExternal")[0] == 500
    assert slack_server.statuses("upload")[0] == 503
    assert slack_server.statuses("files.completeUploadExternal") == [429, 200]
    assert len(slack_server.completed) == 1 and len(slack_server.completed[0]["files"]) == 4
    meta = md(result, "slack_report")
    assert "| sent |" in meta["per_day"]
    assert meta["slack_retries"] == [
        "2026-03-10: files.getUploadURLExternal: 500",  # slack_sdk's handler
        "2026-03-10: attempt 1: Slack file upload failed: HTTP 503 Service Unavailable",  # the bounded loop
        "2026-03-10: files.completeUploadExternal: 429",  # slack_sdk's handler, after Retry-After
    ]


def test_slack_gives_up_after_bounded_retries(data_root, slack_server):
    write_history(data_root)
    slack_server.fail("upload", status=500, times=10)
    result = dg.materialize(snapshot_assets, resources=resources(slack_server, max_attempts=2), partition_key=DAY,
                            raise_on_error=False)
    assert not result.success
    assert slack_server.statuses("upload") == [500, 500]
    failure = _failure_message(result)
    assert "HTTP 500" in failure and "gave up after 2 attempts" in failure


def _failure_message(result) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures
    data = failures[0].step_failure_data
    return (data.user_failure_data.description if data.user_failure_data else "") + " " + data.error.message


def test_invalid_auth_fails_clearly_without_the_token(data_root, slack_server):
    write_history(data_root)
    secret_token = "xoxb-1111-2222-verysecret"
    result = dg.materialize(snapshot_assets, resources=resources(slack_server, token=secret_token), partition_key=DAY,
                            raise_on_error=False)
    assert not result.success
    message = _failure_message(result)
    assert "Slack files.getUploadURLExternal failed: invalid_auth (the token is invalid; check SLACK_BOT_TOKEN)" in message
    everything = "\n".join(str(e) for e in result.all_events)
    assert secret_token not in everything and "verysecret" not in everything
    assert slack_server.completed == [] and slack_server.statuses("files.getUploadURLExternal") == [200]


@pytest.mark.parametrize(("error", "hint"), [("channel_not_found", "the bot cannot see channel C0123456789"),
                                             ("not_in_channel", "the bot is not a member of C0123456789; invite it with /invite")])
def test_permanent_channel_errors_are_not_retried(data_root, slack_server, error, hint):
    write_history(data_root)
    slack_server.fail("files.completeUploadExternal", error=error)
    result = dg.materialize(snapshot_assets, resources=resources(slack_server), partition_key=DAY, raise_on_error=False)
    assert not result.success
    message = _failure_message(result)
    assert f"Slack files.completeUploadExternal failed: {error} ({hint}" in message
    assert slack_server.statuses("files.completeUploadExternal") == [200]  # one try


def test_channel_name_is_refused_with_a_clear_error(data_root, slack_server):
    write_history(data_root)
    result = dg.materialize(snapshot_assets, resources=resources(slack_server, channel_id="#db-alerts"),
                            partition_key=DAY, raise_on_error=False)
    assert not result.success
    assert "Slack channel '#db-alerts' is a channel name; files_upload_v2 needs the channel ID" in _failure_message(result)
    assert slack_server.calls == []


def test_channel_id_validation():
    assert validate_channel_id(" C0123456789 ") == "C0123456789"
    for ok in ("G01ABCDEF23", "D0ABCDEF12"):
        assert validate_channel_id(ok) == ok
    for bad in ("#general", "general", "c0123456789", "U0123456789", ""):
        with pytest.raises(ValueError, match="channel"):
            validate_channel_id(bad)


def test_text_only_day_uses_chat_post_message(slack_server):
    res = slack(slack_server)
    out = res.send_report("nothing to chart")
    assert out["method"] == "chat.postMessage" and slack_server.messages == [{"channel": CHANNEL, "text": "nothing to chart"}]


def test_resource_repr_hides_the_token(slack_server, no_slack_env):
    res = slack(slack_server)
    assert VALID_TOKEN not in repr(res) and "token='***'" in repr(res)
    empty = SlackReportResource()
    assert empty.skip_reason() == "SLACK_BOT_TOKEN not set"
    with pytest.raises(SlackSendError, match="SLACK_BOT_TOKEN not set"):
        empty.get_client()


# --------------------------------------------------------------------------------- cloudwatch
def test_cloudwatch_widgets_in_snapshots(data_root, no_slack_env, monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    write_history(data_root)
    pasted = json.dumps({"metrics": [["AWS/RDS", "ReadIOPS", "DBInstanceIdentifier", "db-1"], ["...", "db-2"]],
                         "view": "timeSeries", "region": "us-east-1", "start": "-PT3H", "end": "P0D",
                         "title": "IOPS"})
    with CloudWatchImageServer() as cw:
        cw_res = CloudWatchMetricsResource(region_name="us-east-1", endpoint_url=cw.url, max_attempts=2,
                                           rds_instances=["db-1"], memorydb_clusters=["sessions"],
                                           widgets={"iops": pasted})
        result = dg.materialize([metric_snapshots], resources=resources(cloudwatch_metrics=cw_res), partition_key=DAY)
        assert result.success
        sent = [json.loads(r["MetricWidget"]) for r in cw.requests]
    names = sorted(p.name for p in (data_root / "snapshots" / f"date={DAY}").glob("cloudwatch-*.png"))
    assert names == ["cloudwatch-iops.png", "cloudwatch-memorydb-sessions-connections.png",
                     "cloudwatch-memorydb-sessions-engine-cpu.png", "cloudwatch-rds-db-1-connections.png",
                     "cloudwatch-rds-db-1-cpu.png", "cloudwatch-rds-db-1-latency.png"]
    by_title = {w.get("title"): w for w in sent}
    assert by_title["IOPS"]["metrics"][1] == ["AWS/RDS", "ReadIOPS", "DBInstanceIdentifier", "db-2"]
    assert by_title["IOPS"]["start"] == "-PT3H"
    cpu = by_title["db-1 CPUUtilization (%)"]
    assert (cpu["start"], cpu["end"]) == ("2026-03-10T00:00:00Z", "2026-03-11T00:00:00Z")
    assert md(result, "metric_snapshots")["cloudwatch"] == "on: 6 widget images requested, 0 failed"


def test_cloudwatch_api_error_is_reported_not_fatal(data_root, slack_server, monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    write_history(data_root)
    with CloudWatchImageServer() as cw:
        cw.fail_next("AccessDenied", 403, "not authorized to perform cloudwatch:GetMetricWidgetImage")
        cw_res = CloudWatchMetricsResource(region_name="us-east-1", endpoint_url=cw.url, max_attempts=1,
                                           elasticache_clusters=["redis-001"])
        result = dg.materialize(snapshot_assets, resources=resources(slack_server, cloudwatch_metrics=cw_res),
                                partition_key=DAY)
    assert result.success
    meta = md(result, "metric_snapshots")
    assert meta["cloudwatch"] == "on: 2 widget images requested, 1 failed"
    assert "AccessDenied" in meta["cloudwatch_errors"]
    assert "_CloudWatch: GetMetricWidgetImage for widget 'elasticache-redis-001-engine-cpu' failed: AccessDenied" \
        in slack_server.completed[0]["initial_comment"]
    assert len(slack_server.completed[0]["files"]) == 5  # 4 charts (db_load included) + 1 CloudWatch


def test_bad_widget_fails_before_any_call(data_root, no_slack_env):
    write_history(data_root)
    with CloudWatchImageServer() as cw:
        cw_res = CloudWatchMetricsResource(region_name="us-east-1", endpoint_url=cw.url,
                                           widgets={"too-wide": '{"metrics": [["AWS/RDS", "CPUUtilization"]], "width": 4000}'})
        result = dg.materialize([metric_snapshots], resources=resources(cloudwatch_metrics=cw_res), partition_key=DAY,
                                raise_on_error=False)
        assert cw.requests == []
    assert not result.success
    assert "cloudwatch_metrics: widget 'too-wide': width must be an integer from 1 to 2000 px, got 4000" \
        in _failure_message(result)


# ------------------------------------------------------------------------------------- ranges
def test_range_run_renders_every_day_and_sends_the_last(data_root, slack_server):
    write_history(data_root, "2026-03-11", days=8)  # 2026-03-03 .. 2026-03-11
    result = dg.materialize(snapshot_assets, resources=resources(slack_server), tags=range_tags("2026-03-10", "2026-03-11"))
    assert result.success
    for day in ("2026-03-10", "2026-03-11"):
        assert (data_root / "snapshots" / f"date={day}" / "top_classes.png").exists()
        assert (data_root / "warehouse" / "query_regressions" / f"date={day}" / "part-0.parquet").exists()
    assert len(slack_server.completed) == 1
    assert "2026-03-11" in slack_server.completed[0]["initial_comment"]
    per_day = md(result, "slack_report")["per_day"]
    assert "range run: only the last 1 day(s) are sent" in per_day


def test_rerun_replaces_the_day_folder(data_root, no_slack_env, monkeypatch):
    write_history(data_root)
    folder = data_root / "snapshots" / f"date={DAY}"
    folder.mkdir(parents=True)
    (folder / "cloudwatch-removed-widget.png").write_bytes(PNG_MAGIC)
    assert dg.materialize([metric_snapshots], resources=resources(), partition_key=DAY).success
    assert sorted(p.name for p in folder.glob("*.png")) == ["db_load.png", "events_by_hour.png", "p95_by_hour.png",
                                                             "top_classes.png"]
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert manifest["hourly_source"] == "digest" and manifest["cloudwatch"] == "off"


def test_s3_data_root(s3_data_root, no_slack_env):
    """PNGs and the regressions table go to s3://bucket/prefix like the rest of the warehouse."""
    import boto3

    write_history(s3_data_root, days=2)
    result = dg.materialize(snapshot_assets, resources=resources(), partition_key=DAY)
    assert result.success
    bucket, prefix = s3_data_root[len("s3://"):].split("/", 1)
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]}
    for name in ("db_load.png", "top_classes.png", "p95_by_hour.png", "events_by_hour.png", "_manifest.json"):
        assert f"{prefix}/snapshots/date={DAY}/{name}" in keys
    assert f"{prefix}/warehouse/query_regressions/date={DAY}/part-0.parquet" in keys
    body = boto3.client("s3").get_object(Bucket=bucket, Key=f"{prefix}/snapshots/date={DAY}/top_classes.png")["Body"].read()
    assert body.startswith(PNG_MAGIC)
    assert md(result, "slack_report")["slack_status"] == "skipped"
