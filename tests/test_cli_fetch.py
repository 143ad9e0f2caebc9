"""`slowlog fetch rds|cloudwatch` (ARCHITECTURE.md contract) against local AWS endpoints."""
import datetime as dt
import json
import subprocess
import sys

import boto3
from moto.server import ThreadedMotoServer

from tests.support.corpus import PERCONA
from tests.support.rds_api_server import RDSApiServer

DAY = dt.date(2026, 11, 24)
ENV_CREDS = {"AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE", "AWS_SECRET_ACCESS_KEY": "fake-secret-do-not-log",
             "AWS_DEFAULT_REGION": "us-east-1"}


def _slowlog(*args, env=None):
    import os
    return subprocess.run([sys.executable, "-m", "dagster_project.cli", *args], capture_output=True,
                          timeout=120, env={**os.environ, **ENV_CREDS, **(env or {})})


def test_fetch_rds_full_marker_loop_under_throttling(tmp_path):
    logs = {f"slowquery/mysql-slowquery.log.{DAY}.{h:02d}": (PERCONA / "slowlogs" / name).read_bytes() * 40
            for h, name in ((3, "slow002.txt"), (4, "slow006.txt"))}
    logs["slowquery/mysql-slowquery.log.2026-11-23.22"] = b"# other day\n"
    with RDSApiServer({"db-1": logs}, max_portion_bytes=10_000, throttle_every=3) as server:
        r = _slowlog("fetch", "rds", "--instance", "db-1", "--date", str(DAY), "--out", str(tmp_path),
                     "--region", "us-east-1", "--endpoint-url", server.endpoint_url)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)["files"]
    assert len(out) == 2 and all(f["portions"] > 1 for f in out)
    for name, content in logs.items():
        local = tmp_path / name.split("/", 1)[1]
        if "2026-11-23" in name:
            assert not local.exists()
        else:
            assert local.read_bytes() == content  # byte-identical, `slowquery/` dropped
    assert b"fake-secret" not in r.stdout + r.stderr


def test_fetch_cloudwatch_day(tmp_path):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        logs = boto3.client("logs", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                            aws_secret_access_key="y")
        group = "/aws/rds/instance/db-1/slowquery"
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="db-1")
        base = int(dt.datetime(2026, 11, 24, 10, tzinfo=dt.timezone.utc).timestamp() * 1000)
        messages = [f"# Time: 2026-11-24T10:00:0{i}.000000Z\n# User@Host: a[a] @  [10.0.0.1]  Id: 1\n"
                    f"# Query_time: 0.5  Lock_time: 0.0 Rows_sent: 1  Rows_examined: {i}\nSELECT {i};" for i in range(5)]
        logs.put_log_events(logGroupName=group, logStreamName="db-1",
                            logEvents=[{"timestamp": base + i, "message": m} for i, m in enumerate(messages)])
        r = _slowlog("fetch", "cloudwatch", "--log-group", group, "--date", str(DAY), "--out", str(tmp_path),
                     "--region", "us-east-1", "--endpoint-url", url)
        assert r.returncode == 0, r.stderr
        files = json.loads(r.stdout)["files"]
        assert len(files) == 1
        digest = json.loads(_slowlog("digest", files[0]["path"]).stdout)
        assert digest["events"] == 5 and digest["rejected"] == 0
    finally:
        server.stop()


def test_fetch_rds_without_date_takes_every_file_and_a_missing_day_names_the_days_that_exist(tmp_path):
    """No --date: every slow-log file the instance has now (not "today", which just after midnight
    is nothing). A --date no file covers: one line on stderr naming the days that have files."""
    logs = {f"slowquery/mysql-slowquery.log.2026-11-{d}.{h:02d}": (PERCONA / "slowlogs" / "slow002.txt").read_bytes()
            for d, h in ((23, 22), (24, 3), (24, 4))}
    logs["slowquery/mysql-slowquery.log"] = (PERCONA / "slowlogs" / "slow006.txt").read_bytes()  # the live file
    with RDSApiServer({"db-1": logs}, max_portion_bytes=10_000) as server:
        common = ["--region", "us-east-1", "--endpoint-url", server.endpoint_url]
        every = _slowlog("fetch", "rds", "--instance", "db-1", "--out", str(tmp_path / "all"), *common)
        missing = _slowlog("fetch", "rds", "--instance", "db-1", "--date", "2026-11-25", "--out", str(tmp_path / "none"),
                           *common)
    assert every.returncode == 0, every.stderr
    assert len(json.loads(every.stdout)["files"]) == 4
    for name, content in logs.items():
        assert (tmp_path / "all" / name.split("/", 1)[1]).read_bytes() == content
    assert missing.returncode == 0 and json.loads(missing.stdout) == {"files": []}
    err = missing.stderr.decode().strip()
    assert "\n" not in err and "Traceback" not in err
    assert "2026-11-25" in err and "2026-11-23, 2026-11-24" in err
