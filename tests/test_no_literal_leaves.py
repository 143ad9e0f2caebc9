"""No literal leaves the warehouse (issue 25): canaries planted in every kind of literal and comment
of a real MySQL slow log and a real PostgreSQL log go through the whole pipeline (parse -> events
-> digest -> OpenSearch documents, digest and raw events -> regressions, charts, Slack -> Dagster
metadata and logs -> the demo report), and *everything sent* is searched: the documents a real
OpenSearch node holds, the Slack fake's received calls, every event a Dagster run recorded, the
report's text. Zero canaries may appear; each one must be in the warehouse's events (else the test
would prove nothing).

Logs: filebeat/mysql-slowlog/mysql-5.7.22.log and filebeat/postgresql-log/
postgresql-10-min-duration-statement.log from the shared corpus (provenance: corpus SOURCES.md),
moved to the test day, with the canary statements below appended in the same formats (one MySQL
statement cut mid-literal with no end, as RDS truncates them; one PostgreSQL statement likewise).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re

import dagster as dg
import pytest

from dagster_project.assets.digest import query_digest
from dagster_project.assets.ingest import ingest_assets
from dagster_project.assets.publish import opensearch_digest
from dagster_project.assets.snapshots import snapshot_assets
from dagster_project.demo import report
from dagster_project.resources.aws import LocalLogSourceResource
from dagster_project.resources.cloudwatch_metrics import CloudWatchMetricsResource
from dagster_project.resources.opensearch import OpenSearchResource
from dagster_project.resources.slack import SlackReportResource
from dagster_project.resources.warehouse import DataRootResource
from dagster_project.snapshots.charts import shorten_fingerprint
from dagster_project.snapshots.slack_message import build_report_text
from dagster_project.warehouse import Warehouse
from tests.support.corpus import FILEBEAT
from tests.support.dagster_results import event_log_text, failure_message, meta
from tests.support.slack_api_server import VALID_TOKEN, SlackApiServer
from tests.support.source_tree import relocate_times

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 11, 24)
BASELINE = DAY - dt.timedelta(days=1)  # the same real logs without canaries: canary classes are "new"
CHANNEL = "C0123456789"
PREFIX, EVENTS_PREFIX = "leaktest-digest-", "leaktest-events-"
MYSQL_LOG = FILEBEAT / "mysql-slowlog" / "mysql-5.7.22.log"
PG_LOG = FILEBEAT / "postgresql-log" / "postgresql-10-min-duration-statement.log"

MYSQL_STATEMENTS = [
    "SELECT * FROM accounts WHERE email = 'canary-sq-1@example.com' AND pin = 'it''s canary-sqdbl-1'"
    " AND note = 'it\\'s canary-sqbs-1'",
    "SELECT * FROM accounts WHERE name = \"canary-dq-1\" AND nick = N'canary-nstr-1' AND tag = _utf8mb4'canary-intro-1'",
    "SELECT * FROM blobs WHERE h = x'CA11AB1E01' AND k = 0xCA11AB1E02 AND bits = b'1100101011110001'"
    " AND n = 987654321001",
    "SELECT * FROM orders WHERE id IN ('canary-in-1', 'canary-in-2', 987654321002)",
    "SELECT /*+ MAX_EXECUTION_TIME(1000) canary-hint-1 */ id FROM orders /* canary-block-1 */ WHERE id = 5"
    " # canary-hash-1 bob@example.com",
    "SELECT id FROM orders -- canary-dash-1\nWHERE id = 6",
    "SELECT $$canary-dollar-1@x.com$$ FROM dual",
    "SELECT id FROM carts WHERE id = 7 /*controller='canary-sqlcommenter-1',route='%2Fcanary-route-1'*/",
    "SELECT 'C:\\\\canary-backslash-1\\\\' FROM dual",
]
# RDS cut this one inside its literal: no closing quote, no semicolon, the next entry follows
MYSQL_CUT = "INSERT INTO notes (id, body) VALUES (1, 'canary-cut-1 secret note that rds cut off here"

PG_STATEMENTS = [
    "SELECT * FROM accounts WHERE email = 'canary-pg-sq-1' AND note = E'it\\'s canary-pg-e-1'"
    " AND u = U&'canary-pg-u-1'",
    "SELECT $$canary-pg-dollar-1$$, $fn$canary-pg-dollartag-1$fn$ FROM t",
    "SELECT B'1011001110001111', X'CA11AB1E03', 987654321003 FROM t WHERE id IN (987654321004, 987654321005)",
    "SELECT /* canary-pg-block-1 /* canary-pg-nested-1 */ canary-pg-outer-1 */ id\n\tFROM t -- canary-pg-dash-1\n\t"
    "WHERE id = 1",
    "/*+ SeqScan(t) canary-pg-hint-1 */ SELECT id FROM t",
    "SELECT 'C:\\', 'canary-pg-bs-1' FROM t",
    "UPDATE t SET note = 'canary-pg-cut-1 secret that rds cut",  # cut: followed by the next entry
]
PG_PARAMETER = "canary-pg-param-1"  # a bind parameter (DETAIL line): kept in the events, never sent
# the file starts inside an entry (a log cut at rotation): rejected, with a sample in the run's metadata
MYSQL_REJECTED = "VALUES (2, 'canary-rejected-1 tail of an entry the previous file held');\n"

# "canary-<kind>" with no digits after it: a fingerprint turns a "-1" into "?", which must not hide a leak
CANARY = re.compile(r"canary(?:-[a-z]+)*|ca11ab1e0\d|1100101011110001|1011001110001111|98765432100\d", re.I)
# literals of the real logs themselves
REAL_LITERALS = ["Scheduler_1", "surveyInvitation_3Prbn85DiBWe8wHa", "TRIGGER_ACCESS"]


def planted() -> set[str]:
    text = "\n".join(MYSQL_STATEMENTS + [MYSQL_CUT] + PG_STATEMENTS + [PG_PARAMETER])  # not MYSQL_REJECTED
    return {m.group(0).lower() for m in CANARY.finditer(text)}


def mysql_log(canaries: bool) -> bytes:
    entries = []
    statements = MYSQL_STATEMENTS + [MYSQL_CUT, "SELECT 1"] if canaries else []
    for i, statement in enumerate(statements):
        end = "" if statement == MYSQL_CUT else ";"
        entries.append(f"# Time: 2018-08-07T16:{30 + i:02d}:00.000000+08:00\n"
                       f"# User@Host: app[app] @ apphost [10.0.0.5]  Id: 42\n"
                       f"# Query_time: {100 + i}.000000  Lock_time: 0.000100 Rows_sent: 1  Rows_examined: 1000\n"
                       f"SET timestamp=1533630467;\n{statement}{end}\n")
    # canaries first: the events preview in the run's metadata shows the first rows
    return (MYSQL_REJECTED if canaries else "").encode() + "".join(entries).encode() + MYSQL_LOG.read_bytes()


def pg_log(day: dt.date, canaries: bool) -> bytes:
    text = PG_LOG.read_text().replace("2019-09-22", day.isoformat())
    if canaries:
        for i, statement in enumerate(PG_STATEMENTS):
            text += f"{day} 06:{30 + i:02d}:00 UTC LOG:  duration: {90000 + i}.000 ms  statement: {statement}\n"
        text += (f"{day} 06:50:00 UTC LOG:  duration: 80000.000 ms  execute S_9: SELECT * FROM t WHERE a = $1\n"
                 f"{day} 06:50:00 UTC DETAIL:  parameters: $1 = '{PG_PARAMETER}'\n")
    return text.encode()


def write_source(root, day: dt.date, canaries: bool) -> None:
    mysql = root / "orders-db" / "slowquery" / f"mysql-slowquery.log.{day}.03"
    pg = root / "reports-pg" / "error" / f"postgresql.log.{day}-06"
    for path, data in ((mysql, relocate_times(mysql_log(canaries), day, 3)), (pg, pg_log(day, canaries))):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def leaks(text: str) -> set[str]:
    found = {m.group(0).lower() for m in CANARY.finditer(text)}
    return found | {lit for lit in REAL_LITERALS if lit.lower() in text.lower()}


@pytest.fixture
def estate(tmp_path, monkeypatch):
    monkeypatch.setenv("SLOWLOG_DATA_ROOT", str(tmp_path / "data"))
    for key in ("SLACK_BOT_TOKEN", "SLACK_CHANNEL_ID"):
        monkeypatch.delenv(key, raising=False)
    write_source(tmp_path / "source", BASELINE, canaries=False)
    write_source(tmp_path / "source", DAY, canaries=True)
    return tmp_path / "source"


def test_no_planted_literal_leaves_the_warehouse(estate, opensearch_url, monkeypatch):
    os_res = OpenSearchResource(hosts=[opensearch_url], index_prefix=PREFIX, events_index_prefix=EVENTS_PREFIX)
    client = os_res.get_client()
    client.indices.delete(index=f"{PREFIX}*,{EVENTS_PREFIX}*", ignore_unavailable=True)
    source = LocalLogSourceResource(root=str(estate), instances=["orders-db", "reports-pg"],
                                    engines={"reports-pg": "postgres"})
    instance = dg.DagsterInstance.ephemeral()
    recorded = []
    with SlackApiServer(channels=(CHANNEL,)) as slack_server:
        resources = {"data_root": DataRootResource(), "log_source": source, "opensearch": os_res,
                     "cloudwatch_metrics": CloudWatchMetricsResource(),
                     "slack": SlackReportResource(token=VALID_TOKEN, channel_id=CHANNEL, base_url=slack_server.base_url)}
        base = dg.materialize([*ingest_assets, query_digest], resources=resources, partition_key=str(BASELINE),
                              instance=instance, raise_on_error=False)
        assert base.success, failure_message(base)
        config = {"ops": {"opensearch_digest": {"config": {"raw_events": True}},
                          "slack_report": {"config": {"top_n": 50, "max_regressions": 50}},
                          "metric_snapshots": {"config": {"top_n": 50}}}}
        result = dg.materialize([*ingest_assets, query_digest, opensearch_digest, *snapshot_assets],
                                resources=resources, partition_key=str(DAY), run_config=config,
                                instance=instance, raise_on_error=False)
        assert result.success, failure_message(result)
        slack_calls = json.dumps([slack_server.calls, slack_server.completed, slack_server.messages], default=str)
        recorded.append(("slack", slack_calls))
        assert slack_server.completed, "nothing reached the Slack fake"

    # the canaries are in the warehouse: the pipeline carried every one of them
    wh = Warehouse()
    events = wh.read_table("slow_query_events", DAY, DAY).to_pandas()
    stored = json.dumps([events["query"].tolist(), [str(x) for x in events["extra_text"]]])
    assert planted() <= leaks(stored), planted() - leaks(stored)
    manifest = wh.read_manifest("slow_query_events", DAY, "orders-db")
    assert manifest["rejected"] == 1  # the leading fragment: its sample is in the metadata, redacted
    events_meta = meta(result, "slow_query_events")
    assert any("VALUES (?, ?" in sample for sample in events_meta["rejected_samples"]), events_meta["rejected_samples"]
    assert "from accounts where" in events_meta["preview"]  # canary classes are in the preview

    # everything sent: every OpenSearch document (what the bulk bodies carried), the Slack calls,
    # every event of both runs (metadata, logs), the demo report's text
    docs = client.search(index=f"{PREFIX}*,{EVENTS_PREFIX}*", body={"query": {"match_all": {}}, "size": 10000})
    hits = docs["hits"]["hits"]
    assert {h["_source"].get("doc_type") for h in hits} >= {"daily", "hourly", "db_load"}
    assert sum(1 for h in hits if h["_index"].startswith(EVENTS_PREFIX)) == len(events)
    recorded.append(("opensearch", json.dumps([h["_source"] for h in hits])))
    recorded.append(("dagster baseline run", event_log_text(base, instance)))
    recorded.append(("dagster run", event_log_text(result, instance)))

    digest = wh.read_table("query_digest", DAY, DAY).to_pandas()
    regressions = wh.read_table("query_regressions", DAY, DAY).to_pandas()
    assert len(regressions) >= len(MYSQL_STATEMENTS)  # the canary classes are new today
    monkeypatch.setattr(report, "TOP_N", len(digest))  # the report lists every class
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        engines = {"orders-db": "mysql", "reports-pg": "postgres"}
        report.print_ingested(report.warehouse_summary([DAY], list(engines), engines), [DAY], list(engines))
        report.print_regressions(DAY)
    recorded.append(("demo report", out.getvalue()))
    assert "orders-db" in out.getvalue() and "reports-pg" in out.getvalue()
    # every class through the Slack text and the chart labels, not only the top ones
    recorded.append(("slack text, every class", build_report_text(DAY, digest, regressions, top_n=len(digest),
                                                                  max_regressions=len(regressions),
                                                                  max_chars=10 ** 7)))
    recorded.append(("chart labels", "\n".join(shorten_fingerprint(f, 10 ** 6, e)
                                               for f, e in zip(digest["fingerprint"], digest["engine"]))))

    found = {where: sorted(leaks(text)) for where, text in recorded if leaks(text)}
    assert not found, f"literals left the warehouse: {found}"
