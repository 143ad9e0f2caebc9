"""Dagster resources over the log sources: RDS (local RDS API server), CloudWatch (moto), local folder."""


import datetime as dt
import hashlib
import sys
from pathlib import Path

import boto3
import dagster as dg
import pytest
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dagster_project.resources.aws import (  # noqa: E402
    CloudWatchLogSourceResource,
    LocalLogSourceResource,
    LogSourceResource,
    RDSLogSourceResource,
)
from tests.support import mysql_entries, mysql_log_bytes  # noqa: E402
from tests.support.rds_api_server import RDSApiServer  # noqa: E402
from tests.support.dagster_results import materializations  # noqa: E402

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
KEY_ID = "AKIAEXAMPLEKEYID0001"
ROTATED = "slowquery/mysql-slowquery.log.2026-11-24.03"
OUT: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _out_dir(tmp_path):
    OUT["dir"] = str(tmp_path / "data")


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch):
    for k in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(k, raising=False)


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2026-11-01"))
def raw_logs(context: dg.AssetExecutionContext, log_source: LogSourceResource) -> dg.MaterializeResult:
    """What the ingest asset will do: list and download each configured instance's files."""
    out = Path(OUT["dir"]) / "raw" / f"date={context.partition_key}"
    rows = []
    for instance in log_source.list_instances():
        for lf in log_source.list_files(instance, context.partition_key):
            res = log_source.download(lf, out / f"instance={instance}")
            context.log.info(f"downloaded {lf.name} ({res.bytes} bytes, {res.retries} retries)")
            rows.append((instance, log_source.engine_for(instance), lf.local_name, res.bytes, res.sha256, res.retries))
    return dg.MaterializeResult(
        metadata={
            "files": len(rows),
            "bytes": sum(r[3] for r in rows),
            "retries": sum(r[5] for r in rows),
            "sha256": dg.MetadataValue.json({r[2]: r[4] for r in rows}),
            "engines": dg.MetadataValue.json({r[0]: r[1] for r in rows}),
        }
    )


def run(resource: LogSourceResource, day: str = "2026-11-24") -> dg.ExecuteInProcessResult:
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [raw_logs], resources={"log_source": resource}, partition_key=day, instance=instance, raise_on_error=False
    )
    # every event record of the run, as stored
    records = instance.all_logs(result.run_id)
    result._test_event_text = "\n".join(str(r) for r in records)  # type: ignore[attr-defined]
    result._test_run_config = str(instance.get_run_by_id(result.run_id))  # type: ignore[attr-defined]
    return result


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    [mat] = materializations(result, "raw_logs")
    return {k: v.value for k, v in mat.metadata.items()}


def test_rds_resource_materialize_and_no_secrets(tmp_path):
    text = mysql_log_bytes(800_000, max_line=60_000)
    binary = mysql_log_bytes(300_000, max_line=60_000) + b"SELECT '\x07';\n"
    pg = "2026-11-24 03:00:01 UTC::@:[1]:LOG:  duration: 1200.5 ms  statement: SELECT 'é'\n" * 100
    files = {
        "db-1": {ROTATED: text, "slowquery/mysql-slowquery.log.2026-11-24.04": binary, "error/mysql-error.log": "x\n"},
        "pg-1": {"error/postgresql.log.2026-11-24-03": pg},
    }
    with RDSApiServer(files, max_portion_bytes=64 * 1024, throttle_every=6) as srv:
        resource = RDSLogSourceResource(
            instances=["db-1", "pg-1"],
            engines={"pg-1": "postgres"},
            region_name="us-east-1",
            endpoint_url=srv.endpoint_url,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            max_attempts=0,
            backoff_base=0.001,
        )
        for shown in (repr(resource), str(resource)):
            assert SECRET not in shown and KEY_ID not in shown and "***" in shown
        assert resource.engine_for("pg-1") == "postgres" and resource.engine_for("db-1") == "mysql"
        result = run(resource)
        assert result.success
        md = metadata(result)
        assert md["files"] == 3 and md["retries"] >= 1
        assert md["sha256"]["mysql-slowquery.log.2026-11-24.03"] == hashlib.sha256(text).hexdigest()
        assert md["sha256"]["mysql-slowquery.log.2026-11-24.04"] == hashlib.sha256(binary).hexdigest()
        assert md["sha256"]["postgresql.log.2026-11-24-03"] == hashlib.sha256(pg.encode()).hexdigest()
        assert md["engines"] == {"db-1": "mysql", "pg-1": "postgres"}
        # requests were signed with the configured key (credentials reached botocore)...
        assert any(c["Action"] == "DownloadCompleteDBLogFile" and c["_signed"] for c in srv.calls)
        # ...yet appear nowhere in the run's event log or stored run
        for blob in (result._test_event_text, result._test_run_config):
            assert SECRET not in blob and KEY_ID not in blob

        # a failing run: the error shown to users carries no credentials either
        bad = RDSLogSourceResource(
            instances=["missing-db"], region_name="us-east-1", endpoint_url=srv.endpoint_url,
            aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, max_attempts=0, backoff_base=0.001,
        )
        failed = run(bad)
        assert not failed.success
        assert "DBInstanceNotFound" in failed._test_event_text
        assert SECRET not in failed._test_event_text and KEY_ID not in failed._test_event_text


def test_cloudwatch_resource(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    day = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)).date()
    day0 = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000)
    entries = mysql_entries(30)
    with mock_aws():
        logs = boto3.client("logs", region_name="us-east-1")
        group = "/aws/rds/instance/db-1/slowquery"
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="db-1")
        logs.put_log_events(
            logGroupName=group,
            logStreamName="db-1",
            logEvents=[{"timestamp": day0 + i * 1000, "message": m} for i, m in enumerate(entries)],
        )
        resource = CloudWatchLogSourceResource(instances=["db-1"], region_name="us-east-1")
        [lf] = resource.list_files("db-1", day)
        assert lf.local_name == f"mysql-slowquery.log.{day.isoformat()}.cloudwatch"
        result = run(resource, day.isoformat())
        assert result.success
        md = metadata(result)
        expected = "".join(m + "\n" for m in entries).encode()
        assert md["sha256"] == {lf.local_name: hashlib.sha256(expected).hexdigest()}


def test_local_resource_discovers_instances(tmp_path):
    data = mysql_log_bytes(100_000)
    (tmp_path / "raw" / "db-1" / "slowquery").mkdir(parents=True)
    (tmp_path / "raw" / "db-1" / "slowquery" / "mysql-slowquery.log.2026-11-24.03").write_bytes(data)
    (tmp_path / "raw" / "cache-1").mkdir()
    (tmp_path / "raw" / "cache-1" / "redis-slowlog.2026-11-24.jsonl").write_bytes(b"{}\n")
    resource = LocalLogSourceResource(root=str(tmp_path / "raw"), engines={"cache-1": "redis"})
    assert resource.list_instances() == ["cache-1", "db-1"]
    assert resource.engine_for("cache-1") == "redis"
    result = run(resource)
    assert result.success
    md = metadata(result)
    assert md["files"] == 2 and md["engines"] == {"cache-1": "redis", "db-1": "mysql"}
    assert md["sha256"]["mysql-slowquery.log.2026-11-24.03"] == hashlib.sha256(data).hexdigest()
    with pytest.raises(ValueError, match="engine"):
        LocalLogSourceResource(root=str(tmp_path), engines={"x": "oracle"}).engine_for("x")


def test_definitions_with_env_var_credentials(monkeypatch):
    monkeypatch.setenv("SLOWLOG_TEST_SECRET", SECRET)
    defs = dg.Definitions(
        assets=[raw_logs],
        resources={
            "log_source": RDSLogSourceResource(
                instances=["db-1"],
                region_name="eu-west-1",
                aws_secret_access_key=dg.EnvVar("SLOWLOG_TEST_SECRET"),
                retry_mode="adaptive",
            )
        },
    )
    dg.Definitions.validate_loadable(defs)
    shown = repr(defs.resources["log_source"])
    assert SECRET not in shown
