"""A local RDS-like source tree made of real slow logs (the ``source_tree`` fixture builds one).

Real MySQL/Percona/MariaDB slow logs from the shared corpus are copied into
``<root>/<instance>/slowquery/mysql-slowquery.log.YYYY-MM-DD.HH``; their ``# Time:`` /
``SET timestamp=`` lines are moved to that day and hour (the rest of each file is byte-for-byte the
corpus file) and each file's mtime is set to the end of its hour (RDS ``LastWritten``).
"""
from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from dagster_project.resources.aws import LocalLogSourceResource
from tests.support.corpus import CORPUS

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


def hourly_log_name(day: dt.date, hour: int) -> str:
    """The RDS name of one hour's slow log: ``mysql-slowquery.log.YYYY-MM-DD.HH``."""
    return f"mysql-slowquery.log.{day.isoformat()}.{hour:02d}"


@dataclass
class SourceTree:
    root: Path
    instances: list[str]
    days: list[dt.date]
    # (day, instance) -> list of written files
    files: dict[tuple[dt.date, str], list[Path]] = field(default_factory=dict)

    def add_file(self, instance: str, day: dt.date, hour: int, content: bytes, mtime: float | None = None) -> Path:
        path = self.root / instance / "slowquery" / hourly_log_name(day, hour)
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


def days_from(start: str, n: int) -> list[dt.date]:
    first = dt.date.fromisoformat(start)
    return [first + dt.timedelta(days=i) for i in range(n)]
