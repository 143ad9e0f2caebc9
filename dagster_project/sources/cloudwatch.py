"""RDS logs published to CloudWatch Logs (``/aws/rds/instance/<id>/slowquery`` and ``.../postgresql``).

One raw file per (log group, UTC day): every event of every stream in the day window, read with
FilterLogEvents (``nextToken`` pagination, a repeated token ends the loop), sorted by
(timestamp, stream name) keeping the returned order for ties, each message written followed by
``"\\n"`` (RDS publishes one whole slow-log entry per event). File name:
``mysql-slowquery.log.YYYY-MM-DD.cloudwatch`` / ``postgresql.log.YYYY-MM-DD.cloudwatch``.

The day's events are sorted in memory (one day of one instance's slow log).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dagster_project.days import to_date_or_none

from .base import (
    DownloadResult,
    LogFile,
    LogSource,
    LogSourceError,
    atomic_writer,
    day_of_ms,
    day_window_ms,
)
from .aws_retry import BotocoreSource, CallCounters, DEFAULT_LOOP_RETRIES, RetryingCaller

__all__ = [
    "CloudWatchLogSource",
    "DEFAULT_GROUP_TEMPLATES",
    "file_base_for_group",
    "instance_of_group",
]

DEFAULT_GROUP_TEMPLATES: tuple[str, ...] = (
    "/aws/rds/instance/{instance}/slowquery",
    "/aws/rds/instance/{instance}/postgresql",
)

_GROUP_RE = re.compile(r"^/aws/rds/(?:instance|cluster)/([^/]+)/([^/]+)$")
_FILE_BASES = {
    "slowquery": "mysql-slowquery.log",
    "postgresql": "postgresql.log",
    "error": "mysql-error.log",
    "general": "mysql-general.log",
    "audit": "mysql-audit.log",
}
_MAX_DAYS = 400


def file_base_for_group(log_group: str) -> str:
    """``/aws/rds/instance/db-1/slowquery`` -> ``mysql-slowquery.log``; others: last segment + .log."""
    last = log_group.rstrip("/").rsplit("/", 1)[-1] or "cloudwatch"
    if last in _FILE_BASES:
        return _FILE_BASES[last]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", last).strip("._") or "cloudwatch"
    return safe if safe.endswith(".log") else f"{safe}.log"


def instance_of_group(log_group: str) -> str:
    """The RDS instance (or cluster) id in an RDS log group name; else the sanitized group name."""
    m = _GROUP_RE.match(log_group.rstrip("/"))
    if m:
        return m.group(1)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", log_group.strip("/")) or "cloudwatch"


def _not_found(exc: BaseException) -> bool:
    resp = getattr(exc, "response", None) or {}
    return (resp.get("Error") or {}).get("Code") == "ResourceNotFoundException"


class CloudWatchLogSource(BotocoreSource, LogSource):
    """Slow-log files rebuilt from CloudWatch Logs.

    ``client``: a boto3 ``logs`` client. ``log_groups``: optional ``{instance: [group, ...]}``
    (explicit groups win over ``group_templates``, whose ``{instance}`` is filled in).
    ``file_bases``: optional ``{group: base file name}`` for groups whose last segment says nothing.
    """

    kind = "cloudwatch"

    def __init__(
        self,
        client: Any,
        *,
        log_groups: Mapping[str, Sequence[str] | str] | None = None,
        group_templates: Sequence[str] = DEFAULT_GROUP_TEMPLATES,
        file_bases: Mapping[str, str] | None = None,
        page_limit: int | None = None,
        max_pages: int = 1_000_000,
        max_loop_retries: int = DEFAULT_LOOP_RETRIES,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.log_groups = {
            k: ([v] if isinstance(v, str) else list(v)) for k, v in (log_groups or {}).items()
        }
        self.group_templates = tuple(group_templates)
        self.file_bases = dict(file_bases or {})
        self.page_limit = page_limit
        self.max_pages = max_pages
        self._call = RetryingCaller(max_loop_retries, backoff_base, backoff_max, sleep)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(group_templates={self.group_templates!r})"

    def groups_for(self, instance: str) -> list[str]:
        if instance in self.log_groups:
            return list(self.log_groups[instance])
        return [t.format(instance=instance) for t in self.group_templates]

    def file_name(self, log_group: str, day: _dt.date) -> str:
        base = self.file_bases.get(log_group) or file_base_for_group(log_group)
        return f"{base}.{day.isoformat()}.cloudwatch"

    # ------------------------------------------------------------------ listing
    def _streams(self, log_group: str, counters: CallCounters) -> list[dict] | None:
        kwargs: dict[str, Any] = {"logGroupName": log_group}
        out: list[dict] = []
        seen: set[str] = set()
        while True:
            try:
                resp = self._call(self.client.describe_log_streams, counters, **kwargs)
            except Exception as exc:  # noqa: BLE001
                if _not_found(exc):
                    return None
                raise
            out.extend(resp.get("logStreams") or [])
            token = resp.get("nextToken")
            if not token or token in seen:
                return out
            seen.add(token)
            kwargs["nextToken"] = token

    def list_group_files(
        self, log_group: str, day: _dt.date | str | None = None, instance: str | None = None
    ) -> list[LogFile]:
        """One LogFile per UTC day with events in ``log_group`` (only ``day`` when given)."""
        day = to_date_or_none(day)
        instance = instance or instance_of_group(log_group)
        streams = self._streams(log_group, CallCounters())
        if not streams:
            return []
        # (first event, last event or ingestion: lastEventTimestamp lags up to an hour) per stream
        spans: list[tuple[int | None, int | None]] = []
        for s in streams:
            first = s.get("firstEventTimestamp")
            last_candidates = [v for v in (s.get("lastEventTimestamp"), s.get("lastIngestionTime")) if v]
            spans.append((first, max(last_candidates) if last_candidates else None))
        days: dict[_dt.date, int] = {}
        if day is not None:
            lo, hi = day_window_ms(day)
            last_written = 0
            hit = False
            for first, last in spans:
                if first is None and last is None:
                    # no timestamps yet (eventual consistency): cannot rule the day out
                    hit = True
                    continue
                if (first is None or first <= hi) and (last is None or last >= lo):
                    hit = True
                    last_written = max(last_written, last or 0)
            if hit:
                days[day] = last_written
        else:
            # every day from first to last *event* (ingestion time would add empty days for
            # back-filled streams); a stream with no lastEventTimestamp yet falls back to ingestion
            for s in streams:
                first = s.get("firstEventTimestamp")
                last = s.get("lastEventTimestamp") or s.get("lastIngestionTime")
                if first is None or last is None:
                    continue
                d0, d1 = day_of_ms(first), day_of_ms(last)
                if (d1 - d0).days > _MAX_DAYS:
                    d0 = d1 - _dt.timedelta(days=_MAX_DAYS)
                d = d0
                while d <= d1:
                    days[d] = max(days.get(d, 0), last)
                    d += _dt.timedelta(days=1)
        return [
            LogFile(
                instance=instance,
                name=self.file_name(log_group, d),
                size=0,
                last_written=int(lw),
                day=d,
                ref=log_group,
            )
            for d, lw in sorted(days.items())
        ]

    def list_files(self, instance: str, day: _dt.date | str | None = None) -> list[LogFile]:
        out: list[LogFile] = []
        for group in self.groups_for(instance):
            out.extend(self.list_group_files(group, day, instance=instance))
        return out

    # ------------------------------------------------------------------ download
    def iter_events(self, log_group: str, day: _dt.date, counters: CallCounters | None = None) -> Iterable[dict]:
        """Events of the day window, page by page, as FilterLogEvents returns them (one dict per page)."""
        counters = counters if counters is not None else CallCounters()
        start, end = day_window_ms(day)
        kwargs: dict[str, Any] = {"logGroupName": log_group, "startTime": start, "endTime": end}
        if self.page_limit:
            kwargs["limit"] = self.page_limit
        seen_tokens: set[str] = set()
        pages = 0
        while True:
            resp = self._call(self.client.filter_log_events, counters, **kwargs)
            pages += 1
            yield resp
            token = resp.get("nextToken")
            if not token or token in seen_tokens or pages >= self.max_pages:
                return
            seen_tokens.add(token)
            kwargs["nextToken"] = token

    def download(self, log_file: LogFile, dest_dir: str | os.PathLike[str]) -> DownloadResult:
        log_group = log_file.ref or (self.groups_for(log_file.instance)[0] if log_file.instance else "")
        if not log_group:
            raise LogSourceError(f"no CloudWatch log group for {log_file.name!r}")
        if log_file.day is None:
            raise LogSourceError(f"CloudWatch file {log_file.name!r} has no day")
        counters = CallCounters()
        events: list[tuple[int, str, int, bytes]] = []
        seen_ids: set[str] = set()
        portions = 0
        order = 0
        try:
            for page in self.iter_events(log_group, log_file.day, counters):
                page_events = page.get("events") or []
                if page_events:
                    portions += 1
                for ev in page_events:
                    eid = ev.get("eventId")
                    if eid:
                        if eid in seen_ids:
                            continue
                        seen_ids.add(eid)
                    events.append(
                        (
                            int(ev.get("timestamp") or 0),
                            ev.get("logStreamName") or "",
                            order,
                            (ev.get("message") or "").encode("utf-8") + b"\n",
                        )
                    )
                    order += 1
        except Exception as exc:  # noqa: BLE001
            if _not_found(exc):
                raise LogSourceError(f"CloudWatch log group {log_group!r} not found") from exc
            raise
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        dest = Path(dest_dir) / log_file.local_name
        with atomic_writer(dest) as out:
            out.copy(data for _, _, _, data in events)
        return out.result(dest, portions=portions, retries=counters.retries, log_file=log_file)
