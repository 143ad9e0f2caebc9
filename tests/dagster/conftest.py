"""Fixtures for the Dagster tests: a local RDS-like source tree made of real slow logs.

``source_tree(days, instances, files_per_day)`` copies real MySQL/Percona/MariaDB slow logs from the
shared corpus into ``<tmp>/source/<instance>/slowquery/mysql-slowquery.log.YYYY-MM-DD.HH``; their
``# Time:`` / ``SET timestamp=`` lines are moved to that day and hour (the rest of each file is
byte-for-byte the corpus file) and each file's mtime is set to the end of its hour (RDS
``LastWritten``). The data root is a tmp folder (``SLOWLOG_DATA_ROOT``).
"""
from __future__ import annotations

import datetime as dt
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dagster_project.resources.aws import LocalLogSourceResource

from tests.conftest import CORPUS  # noqa: E402  (../shared/corpus beside the repo)
# Real logs that parse without rejects, with timestamps, of several server versions and formats.
GOOD_LOGS = [
    CORPUS / "percona/slowlogs/slow002.txt",
    CORPUS / "percona/slowlogs/slow006.txt",
    CORPUS / "percona/slowlogs/slow033.txt",
    CORPUS / "percona/slowlogs/slow034.txt",
    CORPUS / "percona/slowlogs/slow049.txt",
    CORPUS / "percona/slowlogs/slow053.txt",
    CORPUS / "percona/slowlogs/mysql5.7.log",
    CORPUS / "filebeat/mysql-slowlog/mysql-5.7.22.log",
    CORPUS / "filebeat/mysql-slowlog/mysql-ubuntu-5.5.53.log",
    CORPUS / "filebeat/mysql-slowlog/percona-ubuntu-8.0.15.log",
    CORPUS / "filebeat/mysql-slowlog/mariadb-10.3.13.log",
]

_SHORT_TIME = re.compile(rb"^# Time: \d{6} +\d{1,2}:(\d{2}):(\d{2})", re.M)
_ISO_TIME = re.compile(rb"^# Time: \d{4}-\d{2}-\d{2}T\d{2}:(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?", re.M)
_SET_TS = re.compile(rb"^(SET [^\n]*?\btimestamp=)\d+", re.M)


def relocate_times(data: bytes, day: dt.date, hour: int) -> bytes:
    """Move every timestamp of a slow log into ``day`` ``hour`` (minutes and seconds kept)."""
    start = dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.timezone.utc)
    short = start.strftime("%y%m%d %H").encode()
    iso = start.strftime("%Y-%m-%dT%H").encode()
    data = _SHORT_TIME.sub(lambda m: b"# Time: " + short + b":" + m.group(1) + b":" + m.group(2), data)
    data = _ISO_TIME.sub(
        lambda m: b"# Time: " + iso + b":" + m.group(1) + b":" + m.group(2) + (m.group(3) or b"") + b"Z", data
    )
    return _SET_TS.sub(lambda m: m.group(1) + b"%d" % int(start.timestamp()), data)


def rds_name(day: dt.date, hour: int) -> str:
    return f"mysql-slowquery.log.{day.isoformat()}.{hour:02d}"


@dataclass
class SourceTree:
    root: Path
    instances: list[str]
    days: list[dt.date]
    # (day, instance) -> list of written files
    files: dict[tuple[dt.date, str], list[Path]] = field(default_factory=dict)

    def add_file(self, instance: str, day: dt.date, hour: int, content: bytes, mtime: float | None = None) -> Path:
        path = self.root / instance / "slowquery" / rds_name(day, hour)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        if mtime is None:
            end_of_hour = dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=59)
            mtime = end_of_hour.timestamp()
        os.utime(path, (mtime, mtime))
        self.files.setdefault((day, instance), []).append(path)
        if instance not in self.instances:
            self.instances.append(instance)
        return path

    def paths(self, day: dt.date | None = None, instance: str | None = None) -> list[Path]:
        return [
            p
            for (d, i), ps in sorted(self.files.items())
            for p in ps
            if (day is None or d == day) and (instance is None or i == instance)
        ]

    def bytes(self, day: dt.date | None = None, instance: str | None = None) -> int:
        return sum(p.stat().st_size for p in self.paths(day, instance))

    def resource(self, **kwargs) -> LocalLogSourceResource:
        return LocalLogSourceResource(root=str(self.root), instances=list(self.instances), **kwargs)


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "data"
    monkeypatch.setenv("SLOWLOG_DATA_ROOT", str(root))
    monkeypatch.delenv("SLOWLOG_MAX_REJECTED_RATIO", raising=False)
    return root


@pytest.fixture
def source_tree(tmp_path):
    """Factory: ``source_tree(days, instances, files_per_day=2, seed=0) -> SourceTree``."""

    def build(days, instances, files_per_day: int = 2, seed: int = 0, logs=None) -> SourceTree:
        rng = random.Random(seed)
        logs = list(logs or GOOD_LOGS)
        tree = SourceTree(root=tmp_path / "source", instances=[], days=[dt.date.fromisoformat(str(d)) for d in days])
        for day in tree.days:
            for instance in instances:
                hours = sorted(rng.sample(range(24), files_per_day))
                for hour in hours:
                    log = rng.choice(logs)
                    tree.add_file(instance, day, hour, relocate_times(log.read_bytes(), day, hour))
        for instance in instances:
            if instance not in tree.instances:
                tree.instances.append(instance)
        return tree

    return build


def days_from(start: str, n: int) -> list[dt.date]:
    first = dt.date.fromisoformat(start)
    return [first + dt.timedelta(days=i) for i in range(n)]


@pytest.fixture
def days():
    return days_from


@pytest.fixture
def relocate():
    """``relocate(data, day, hour)``: :func:`relocate_times` for tests that build files by hand."""
    return relocate_times


@pytest.fixture
def s3_data_root(moto_endpoint, monkeypatch) -> str:
    """``SLOWLOG_DATA_ROOT=s3://<fresh bucket>/data`` on the moto server."""
    import uuid

    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint, "SLOWLOG_S3_ENDPOINT_URL": moto_endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("SLOWLOG_MAX_REJECTED_RATIO", raising=False)
    bucket = f"slowlog-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    root = f"s3://{bucket}/data"
    monkeypatch.setenv("SLOWLOG_DATA_ROOT", root)
    return root
