"""CloudWatchLogSource against moto's CloudWatch Logs."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dagster_project.sources import CloudWatchLogSource, LogSourceError, fetch_cloudwatch  # noqa: E402
from dagster_project.sources.cloudwatch import file_base_for_group, instance_of_group  # noqa: E402
from tests.support import UTF8_ENTRY, mysql_entries, postgres_corpus_files  # noqa: E402

GROUP = "/aws/rds/instance/db-1/slowquery"
PG_GROUP = "/aws/rds/instance/pg-1/postgresql"
# moto (like AWS) only accepts events of the last 14 days: use a recent, fixed-in-the-run day
DAY = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)).date()
DAY0 = int(dt.datetime(DAY.year, DAY.month, DAY.day, tzinfo=dt.timezone.utc).timestamp() * 1000)
MS_DAY = 86_400_000


@pytest.fixture
def aws(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("logs", region_name="us-east-1")


def put(client, group: str, stream: str, events: list[tuple[int, str]]) -> None:
    try:
        client.create_log_group(logGroupName=group)
    except client.exceptions.ResourceAlreadyExistsException:
        pass
    client.create_log_stream(logGroupName=group, logStreamName=stream)
    events = sorted(events, key=lambda e: e[0])
    for i in range(0, len(events), 50):
        client.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": ts, "message": m} for ts, m in events[i:i + 50]],
        )


def mysql_day(client) -> bytes:
    """Two streams of real slow-log entries; ties across streams; window boundary events."""
    entries = mysql_entries(120) + [UTF8_ENTRY.rstrip("\n")]
    a = [(DAY0 + i * 600_000, e) for i, e in enumerate(entries[:60])]
    b = [(DAY0 + i * 900_000, e) for i, e in enumerate(entries[60:])]  # ts ties with stream a at i*1.8M
    a += [(DAY0, "# first ms of the day"), (DAY0 + MS_DAY - 1, "# last ms of the day")]
    b += [(DAY0 - 1, "# previous day"), (DAY0 + MS_DAY, "# next day")]
    put(client, GROUP, "db-1", a)
    put(client, GROUP, "db-1-b", b)
    inday = [(ts, "db-1", i, m) for i, (ts, m) in enumerate(sorted(a, key=lambda e: e[0]))]
    inday += [(ts, "db-1-b", i, m) for i, (ts, m) in enumerate(sorted(b, key=lambda e: e[0]))]
    inday = [e for e in inday if DAY0 <= e[0] < DAY0 + MS_DAY]
    inday.sort()
    return "".join(m + "\n" for _, _, _, m in inday).encode("utf-8")


def test_names():
    assert file_base_for_group(GROUP) == "mysql-slowquery.log"
    assert file_base_for_group(PG_GROUP) == "postgresql.log"
    assert file_base_for_group("/custom/my app/slow") == "slow.log"
    assert instance_of_group("/aws/rds/cluster/aurora-1/slowquery") == "aurora-1"
    assert instance_of_group(GROUP) == "db-1"


def test_list_and_download_day(aws, tmp_path):
    expected = mysql_day(aws)
    src = CloudWatchLogSource(aws, page_limit=7)
    [lf] = src.list_files("db-1", DAY)
    assert lf.name == f"mysql-slowquery.log.{DAY.isoformat()}.cloudwatch" == lf.local_name
    assert lf.instance == "db-1" and lf.day == DAY and lf.ref == GROUP and lf.engine == "mysql"
    res = src.download(lf, tmp_path)
    got = res.path.read_bytes()
    assert got == expected
    assert b"# first ms of the day\n" in got[:20_000] and got.endswith(b"# last ms of the day\n")
    assert b"# previous day" not in got and b"# next day" not in got
    assert "Zürich".encode() in got
    assert res.portions > 5 and res.bytes == len(expected) and res.retries == 0
    # idempotent
    again = src.download(lf, tmp_path)
    assert again.sha256 == res.sha256 and sorted(p.name for p in tmp_path.iterdir()) == [lf.name]
    # all days with events: previous day, the day, next day
    assert [f.day for f in src.list_files("db-1")] == [DAY - dt.timedelta(days=1), DAY, DAY + dt.timedelta(days=1)]
    # a day without events, an instance without groups
    assert src.list_files("db-1", DAY - dt.timedelta(days=5)) == []
    assert src.list_files("db-2", DAY) == []


def test_postgres_group_and_configured_groups(aws, tmp_path):
    lines = b"".join(postgres_corpus_files()).decode("utf-8").splitlines()[:80]
    put(aws, PG_GROUP, "pg-1", [(DAY0 + 3_600_000 + i, line) for i, line in enumerate(lines)])
    put(aws, "/custom/slowlogs", "whatever", [(DAY0 + 5, "# custom entry")])
    src = CloudWatchLogSource(aws, log_groups={"legacy-1": "/custom/slowlogs"})
    [pg] = src.list_files("pg-1", DAY.isoformat())
    assert pg.local_name == f"postgresql.log.{DAY.isoformat()}.cloudwatch" and pg.engine == "postgres"
    assert src.download(pg, tmp_path).path.read_text("utf-8") == "".join(line + "\n" for line in lines)
    [custom] = src.list_files("legacy-1", DAY)
    assert custom.name == f"slowlogs.log.{DAY.isoformat()}.cloudwatch"
    assert src.download(custom, tmp_path).path.read_bytes() == b"# custom entry\n"


def test_missing_group(aws, tmp_path):
    src = CloudWatchLogSource(aws)
    assert src.list_group_files("/aws/rds/instance/none/slowquery", DAY) == []
    lf = src.file_name("/aws/rds/instance/none/slowquery", DAY)
    from dagster_project.sources import LogFile

    with pytest.raises(LogSourceError, match="not found"):
        src.download(LogFile("none", lf, 0, 0, DAY, ref="/aws/rds/instance/none/slowquery"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_fetch_cloudwatch(aws, tmp_path):
    expected = mysql_day(aws)
    results = fetch_cloudwatch(GROUP, DAY, tmp_path / "out", region="us-east-1")
    assert [r.path.name for r in results] == [f"mysql-slowquery.log.{DAY.isoformat()}.cloudwatch"]
    assert results[0].path.read_bytes() == expected


class _FlakyLogs:
    """Stands in for AWS (not for our code): throttles, then repeats its nextToken forever."""

    def __init__(self, throttle: int) -> None:
        self.throttle = throttle
        self.calls = 0

    def filter_log_events(self, **kw):
        self.calls += 1
        if self.calls <= self.throttle:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                 "ResponseMetadata": {"HTTPStatusCode": 400, "RetryAttempts": 2}},
                "FilterLogEvents",
            )
        assert kw["startTime"] == DAY0 and kw["endTime"] == DAY0 + MS_DAY - 1
        return {
            "events": [{"logStreamName": "s", "timestamp": DAY0 + 1, "message": "m", "eventId": "1"}],
            "nextToken": "same-token",
            "ResponseMetadata": {"RetryAttempts": 0},
        }


def test_repeated_token_and_throttling(tmp_path):
    from dagster_project.sources import LogFile

    fake = _FlakyLogs(throttle=2)
    src = CloudWatchLogSource(fake, backoff_base=0.001, backoff_max=0.01)
    res = src.download(LogFile("db-1", "mysql-slowquery.log.x.cloudwatch", 0, 0, DAY, ref=GROUP), tmp_path)
    assert res.path.read_bytes() == b"m\n"  # the repeated page is not written twice
    assert fake.calls == 4  # 2 throttled, then the page, then the same token once more -> stop
    assert res.retries == 2 + 2 * 2  # loop-level retries + botocore's RetryAttempts on the errors
