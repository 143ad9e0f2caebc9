"""Common types for log sources.

A *log source* lists the raw slow-log files a provider holds for one database instance and downloads
them byte-identically into a local folder. Sources know nothing about parsing or Dagster; the
Dagster resources in ``dagster_project.resources.aws`` wrap them.
"""

from __future__ import annotations

import abc
import datetime as _dt
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "LogFile",
    "DownloadResult",
    "LogSource",
    "LogSourceError",
    "TRUNCATION_MARKER",
    "engine_of",
    "day_from_name",
    "day_of_ms",
    "atomic_writer",
    "count_markers",
    "download_concurrently",
    "is_live",
    "LIVE_FILE_NAMES",
    "DEFAULT_MAX_CONCURRENT_DOWNLOADS",
]

#: Download calls in flight per run. RDS answers ~1 MB per call and throttles per account: 16
#: overlaps well without provoking a throttling storm.
DEFAULT_MAX_CONCURRENT_DOWNLOADS = 16

#: Text RDS appends to a log line it cut short. Kept in the downloaded file, counted in the result.
TRUNCATION_MARKER = "[Your log message was truncated]"
TRUNCATION_MARKER_BYTES = TRUNCATION_MARKER.encode("utf-8")

_PREFIXES = ("slowquery/", "error/")

# Rotated RDS names: mysql-slowquery.log.2026-11-24.03 ; postgresql.log.2026-11-24-03 / -0300
_DAY_IN_NAME = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


# Live (not yet rotated) logs: RDS renames ``slowquery/mysql-slowquery.log`` to
# ``mysql-slowquery.log.YYYY-MM-DD.HH`` at the end of the hour. Ingesting the live file as well
# would store that hour twice once it is rotated, so it is left for the run after the rotation.
# (Dated files that still grow, like PostgreSQL's current hour, are fine: same name, replaced.)
LIVE_FILE_NAMES = frozenset({"mysql-slowquery.log", "postgresql.log", "slow.log", "mysql-slow.log"})


def is_live(log_file: "LogFile") -> bool:
    """The file is a live log that will be rotated under another name (not ingested before then)."""
    name = log_file.local_name
    for suffix in (".gz", ".gzip"):
        name = name.removesuffix(suffix)
    return name in LIVE_FILE_NAMES


class LogSourceError(RuntimeError):
    """A download could not be completed (after the bounded retries / restarts)."""


@dataclass(frozen=True)
class LogFile:
    """One raw log file as the provider names it.

    ``name`` is the provider's name (RDS: ``slowquery/mysql-slowquery.log.2026-11-24.03``);
    ``size`` in bytes (0 when unknown); ``last_written`` epoch milliseconds; ``day`` the UTC day the
    file covers (from the rotated name, else from ``last_written``). ``ref`` is an optional
    provider-specific locator (CloudWatch log group, S3 key, local path) that ``download`` uses;
    it never holds credentials.
    """

    instance: str
    name: str
    size: int
    last_written: int
    day: _dt.date | None
    ref: str = field(default="", compare=False)

    @property
    def local_name(self) -> str:
        """File name on disk: the RDS name with its ``slowquery/`` or ``error/`` prefix dropped."""
        name = self.name
        for prefix in _PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix):]
                break
        # any remaining folder part (local layouts) is flattened to the base name
        return name.rsplit("/", 1)[-1]

    @property
    def engine(self) -> str | None:
        return engine_of(self.name)


@dataclass
class DownloadResult:
    """Outcome of one ``LogSource.download``.

    ``bytes`` written, ``portions`` API calls/pages/chunks that carried data, ``retries`` retried calls
    (botocore's own retries included where the API reports them), ``truncated_markers`` occurrences of
    :data:`TRUNCATION_MARKER`. ``restarts`` counts downloads started again from the beginning because
    the file changed underneath; ``complete`` is False when the file kept changing through every
    allowed attempt (the last snapshot is kept).
    """

    path: Path
    bytes: int
    portions: int
    retries: int
    truncated_markers: int
    restarts: int = 0
    complete: bool = True
    log_file: LogFile | None = None
    sha256: str = ""


def engine_of(name: str) -> str | None:
    """Engine of a raw log file from its name: mysql, postgres, redis, or None."""
    base = name.rsplit("/", 1)[-1].lower()
    if base.startswith("mysql-slowquery") or "slowquery" in base or "slow-query" in base:
        return "mysql"
    if base.startswith("postgresql.log") or base.startswith("postgres"):
        return "postgres"
    if "redis" in base:
        return "redis"
    return None


def day_from_name(name: str) -> _dt.date | None:
    """The last ``YYYY-MM-DD`` in a file name, as a date (None when absent or invalid)."""
    base = name.rsplit("/", 1)[-1]
    found = _DAY_IN_NAME.findall(base)
    if not found:
        return None
    y, m, d = found[-1]
    try:
        return _dt.date(int(y), int(m), int(d))
    except ValueError:
        return None


def day_of_ms(epoch_ms: int) -> _dt.date:
    return _dt.datetime.fromtimestamp(epoch_ms / 1000.0, tz=_dt.timezone.utc).date()


def day_window_ms(day: _dt.date) -> tuple[int, int]:
    """[start, end] epoch-ms bounds (both inclusive) of a UTC day."""
    start = _dt.datetime(day.year, day.month, day.day, tzinfo=_dt.timezone.utc)
    start_ms = int(start.timestamp() * 1000)
    return start_ms, start_ms + 86_400_000 - 1


def coerce_day(day: _dt.date | str | None) -> _dt.date | None:
    if day is None or isinstance(day, _dt.date) and not isinstance(day, _dt.datetime):
        return day  # type: ignore[return-value]
    if isinstance(day, _dt.datetime):
        return day.date()
    return _dt.date.fromisoformat(str(day))


def count_markers(data: bytes, carry: bytes = b"") -> tuple[int, bytes]:
    """Count TRUNCATION_MARKER in ``carry + data``; return (count, new carry) for streaming use.

    The carry is the tail that could hold the start of a marker split across chunks.
    """
    buf = carry + data
    n = buf.count(TRUNCATION_MARKER_BYTES)
    keep = len(TRUNCATION_MARKER_BYTES) - 1  # shorter than a marker: nothing counted twice
    tail = buf[-keep:] if len(buf) > keep else buf
    return n, tail


@contextmanager
def atomic_writer(dest: Path) -> Iterator[BinaryIO]:
    """Write ``dest`` atomically: a temp file in the same folder, fsync, then ``os.replace``."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class LogSource(abc.ABC):
    """Lists and downloads raw slow-log files of database instances."""

    #: short name of the provider (rds, cloudwatch, local)
    kind: str = "abstract"

    @abc.abstractmethod
    def list_files(self, instance: str, day: _dt.date | str | None = None) -> list[LogFile]:
        """Slow-log files of ``instance`` (covering UTC ``day`` when given). Listing only: cheap."""

    @abc.abstractmethod
    def download(self, log_file: LogFile, dest_dir: str | os.PathLike[str]) -> DownloadResult:
        """Download ``log_file`` to ``dest_dir / log_file.local_name``, atomically and idempotently."""

    def download_all(
        self,
        instance: str,
        day: _dt.date | str | None,
        dest_dir: str | os.PathLike[str],
        on_result: Callable[[DownloadResult], None] | None = None,
    ) -> list[DownloadResult]:
        results = []
        for lf in self.list_files(instance, day):
            res = self.download(lf, dest_dir)
            if on_result is not None:
                on_result(res)
            results.append(res)
        return results


def download_concurrently(
    download: Callable[[LogFile], DownloadResult],
    files: list[LogFile],
    max_concurrent: int = DEFAULT_MAX_CONCURRENT_DOWNLOADS,
    on_done: Callable[[LogFile, DownloadResult | None, BaseException | None], None] | None = None,
) -> list[tuple[LogFile, DownloadResult | None, BaseException | None]]:
    """Run ``download(log_file)`` for every file with at most ``max_concurrent`` in flight (threads:
    the work is waiting on the network). One file failing does not stop the others: each outcome is
    ``(log_file, result, None)`` or ``(log_file, None, error)``, in the order of ``files``.
    ``on_done`` is called as each one finishes (from the calling thread)."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    outcomes: dict[int, tuple[LogFile, DownloadResult | None, BaseException | None]] = {}
    if not files:
        return []
    workers = max(1, min(int(max_concurrent or 1), len(files)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slowlog-download") as pool:
        futures = {pool.submit(download, lf): i for i, lf in enumerate(files)}
        for future in as_completed(futures):
            i = futures[future]
            error = future.exception()
            outcome = (files[i], None if error else future.result(), error)
            outcomes[i] = outcome
            if on_done is not None:
                on_done(*outcome)
    return [outcomes[i] for i in range(len(files))]
