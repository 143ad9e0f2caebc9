"""Common types for log sources.

A *log source* lists the raw slow-log files a provider holds for one database instance and downloads
them byte-identically into a local folder. Sources know nothing about parsing or Dagster; the
Dagster resources in ``dagster_project.resources.aws`` wrap them.
"""

from __future__ import annotations

import abc
import datetime as _dt
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
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
    "CountingWriter",
    "count_markers",
    "download_concurrently",
    "DownloadSlots",
    "is_live",
    "is_plain_file_name",
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


# Characters no log file name may hold: they would be written into a file name on disk as they are
# (a trailing newline, a NUL that the OS refuses) or garble a line of the report that names it.
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def is_plain_file_name(name: str) -> bool:
    """A non-empty name without control characters (C0, DEL, C1, line/paragraph separators)."""
    return bool(name) and _CONTROL_CHARS.search(name) is None


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


def count_markers(data: bytes, carry: bytes = b"") -> tuple[int, bytes]:
    """Count TRUNCATION_MARKER in ``carry + data``; return (count, new carry) for streaming use.

    The carry is the tail that could hold the start of a marker split across chunks. (Markers inside
    ``data`` and those across the seam are counted apart: no copy of a 1 MB chunk per call.)
    """
    keep = len(TRUNCATION_MARKER_BYTES) - 1  # shorter than a marker: nothing counted twice
    n = data.count(TRUNCATION_MARKER_BYTES)
    if carry:
        n += (carry + data[:keep]).count(TRUNCATION_MARKER_BYTES)
    tail = data[-keep:] if len(data) >= keep else (carry + data)[-keep:]
    return n, tail


class CountingWriter:
    """A raw file being written: what every source reports of a download (bytes, chunks that
    carried data, RDS truncation markers, SHA-256), counted as the chunks go by."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.reset(truncate=False)

    def reset(self, truncate: bool = True) -> None:
        """Start the file again (a fallback download of the same attempt)."""
        if truncate:
            self._fh.seek(0)
            self._fh.truncate()
        self.bytes = self.chunks = self.markers = 0
        self._carry = b""
        self._hash = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._fh.write(chunk)
        self._hash.update(chunk)
        self.bytes += len(chunk)
        self.chunks += 1
        n, self._carry = count_markers(chunk, self._carry)
        self.markers += n

    def copy(self, chunks: Iterable[bytes]) -> "CountingWriter":
        for chunk in chunks:
            self.write(chunk)
        return self

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def result(self, path: Path, **outcome) -> "DownloadResult":
        """The DownloadResult of this file (``outcome``: retries, restarts, complete, log_file...;
        ``portions`` defaults to the chunks written)."""
        outcome.setdefault("portions", self.chunks)
        return DownloadResult(path=path, bytes=self.bytes, truncated_markers=self.markers, sha256=self.sha256,
                              **outcome)


@contextmanager
def atomic_writer(dest: Path) -> Iterator[CountingWriter]:
    """Write ``dest`` atomically: a temp file in the same folder, fsync, then ``os.replace``; an
    exception inside leaves the previous ``dest`` (if any) as it was. The one atomic file writer
    of the log sources."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield CountingWriter(fh)
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

    def gate_calls(self, slots: "DownloadSlots | None") -> bool:
        """Make every API call of this source hold one of ``slots`` while it is in flight (None:
        stop). True when the source has such calls; a source without (files copied from a folder)
        returns False, and its callers hold a slot per file instead."""
        return False


class DownloadSlots:
    """At most ``n`` calls (or downloads) in flight across every process that names the same
    ``key`` on this machine (a run's download steps under the multiprocess executor): one lock file
    per slot, held with ``flock`` while a call is in flight, released by the kernel if the process
    dies.

    Why not an equal share per step: steps start and end at different times (a process each), so a
    fixed share leaves most of the budget idle at the start and end of a run; with shared slots the
    first step to start uses the whole budget and hands slots over as the others arrive.
    """

    def __init__(self, key: str, n: int, folder: str | os.PathLike[str] | None = None) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:120] or "default"
        self.n = max(1, int(n))
        base = Path(folder or Path(tempfile.gettempdir()) / "slowlog-download-slots")
        self.folder = base / safe
        if not self.folder.is_dir():
            self.folder.mkdir(parents=True, exist_ok=True)
            self._remove_stale(base, keep=self.folder)

    @staticmethod
    def _remove_stale(base: Path, keep: Path, max_age_s: float = 2 * 86400) -> None:
        """Slot folders of runs long over (a few empty files each) go when a new run makes its own."""
        import shutil
        import time

        now = time.time()
        for old in base.iterdir():
            try:
                if old != keep and old.is_dir() and now - old.stat().st_mtime > max_age_s:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:
                pass

    def _try_any(self) -> int | None:
        """A free slot's locked descriptor, trying every slot once in random order, or None."""
        import fcntl
        import random

        order = list(range(self.n))
        random.shuffle(order)  # spread the holders over the slots
        for k in order:
            fd = os.open(self.folder / f"slot-{k:03d}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            return fd
        return None

    def acquire(self) -> int:
        """A free slot's locked file descriptor, waiting for the first slot freed when none is.

        The waiters queue on one more lock file (``flock`` blocks in the kernel); only the one at
        the head watches the slots, trying them every few milliseconds, and takes the first that
        frees up. (Waiting on one slot chosen at random instead would leave a waiter queued behind
        a busy slot while others stood idle: on the fleet benchmark, waits of up to a second with
        a quarter of the budget unused.)"""
        import fcntl
        import time

        fd = self._try_any()
        if fd is not None:
            return fd
        queue = os.open(self.folder / "queue", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(queue, fcntl.LOCK_EX)
            delay = 0.0005
            while (fd := self._try_any()) is None:
                time.sleep(delay)
                delay = min(0.004, delay * 2)
            return fd
        finally:
            os.close(queue)  # closing the descriptor releases its lock

    @staticmethod
    def release(fd: int) -> None:
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold a slot for the length of the ``with`` block."""
        fd = self.acquire()
        try:
            yield
        finally:
            self.release(fd)

    def attach(self, client) -> Callable[[], None]:
        """Gate every HTTP attempt of a botocore client: a slot is taken just before a request is
        sent and given back as soon as its answer (or error) is in, before botocore decides on a
        retry and sleeps its back-off, so a throttled call waiting to retry holds no slot. Returns
        the function that detaches the gate."""
        import threading

        held = threading.local()

        def before_send(**_):
            if getattr(held, "fd", None) is None:
                held.fd = self.acquire()

        def after_attempt(**_):  # botocore emits needs-retry after every attempt, success included
            fd = getattr(held, "fd", None)
            if fd is not None:
                held.fd = None
                self.release(fd)

        events = client.meta.events
        ids = (f"slowlog-slot-take-{id(self)}", f"slowlog-slot-give-{id(self)}")
        events.register("before-send", before_send, unique_id=ids[0])
        events.register("needs-retry", after_attempt, unique_id=ids[1])

        def detach() -> None:
            events.unregister("before-send", unique_id=ids[0])
            events.unregister("needs-retry", unique_id=ids[1])

        return detach


def download_concurrently(
    download: Callable[[LogFile], DownloadResult],
    files: list[LogFile],
    max_concurrent: int = DEFAULT_MAX_CONCURRENT_DOWNLOADS,
    on_done: Callable[[LogFile, DownloadResult | None, BaseException | None], None] | None = None,
    slots: DownloadSlots | None = None,
) -> list[tuple[LogFile, DownloadResult | None, BaseException | None]]:
    """Run ``download(log_file)`` for every file with at most ``max_concurrent`` in flight (threads:
    the work is waiting on the network). One file failing does not stop the others: each outcome is
    ``(log_file, result, None)`` or ``(log_file, None, error)``, in the order of ``files``.
    ``on_done`` is called as each one finishes (from the calling thread). With ``slots``, each
    download also holds one of them (a budget shared with other processes)."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    outcomes: dict[int, tuple[LogFile, DownloadResult | None, BaseException | None]] = {}
    if not files:
        return []
    workers = max(1, min(int(max_concurrent or 1), len(files)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slowlog-download") as pool:
        if slots is not None:
            inner = download

            def download(log_file: LogFile) -> DownloadResult:
                with slots.hold():
                    return inner(log_file)

        futures = {pool.submit(download, lf): i for i, lf in enumerate(files)}
        for future in as_completed(futures):
            i = futures[future]
            error = future.exception()
            outcome = (files[i], None if error else future.result(), error)
            outcomes[i] = outcome
            if on_done is not None:
                on_done(*outcome)
    return [outcomes[i] for i in range(len(files))]
