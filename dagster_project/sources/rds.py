"""RDS / Aurora log files through the RDS API (DescribeDBLogFiles + DownloadDBLogFilePortion).

Download loop (what the AWS docs prescribe for whole files): first call with ``Marker="0"`` and no
``NumberOfLines``, then repeat with the returned ``Marker`` while ``AdditionalDataPending`` is true.
``LogFileData`` arrives as text and is written back as UTF-8 exactly as received (no newline added
or stripped), so the local file is byte-identical to what RDS serves.

Robustness:
- throttling / 5xx: botocore's own retries (``Config(retries={"mode": "standard"|"adaptive",
  "max_attempts": N})``, counted through ``ResponseMetadata.RetryAttempts``) plus a bounded,
  jittered loop-level retry on top of them, also counted;
- a file that changes while it is downloaded (size or LastWritten differ before vs after, or the
  marker sequence breaks) is downloaded again from ``Marker="0"`` into a fresh temp file, a bounded
  number of times; the data is never appended twice. If it keeps changing, the last snapshot is kept
  and the result says ``complete=False`` (the live ``mysql-slowquery.log`` is such a file);
- a file RDS refuses to serve as text (``InvalidParameterValue``: "This file contains binary data and
  should be downloaded instead of viewed", e.g. control characters in a logged statement) is fetched
  whole, as raw bytes, through DownloadCompleteDBLogFile (``GET /v13/downloadCompleteLogFile/...``,
  SigV4-signed with the client's credentials), same retry and restart rules.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dagster_project.days import to_date_or_none

from .aws_client import make_boto_config  # noqa: F401 - part of this module's API
from .aws_retry import BotocoreSource, CallCounters, DEFAULT_LOOP_RETRIES, RetryingCaller, _HTTPRetryable, error_code, is_retryable_error
from .base import (
    DownloadResult,
    LogFile,
    LogSource,
    LogSourceError,
    CountingWriter,
    atomic_writer,
    day_of_ms,
    is_plain_file_name,
)

__all__ = ["RDSLogSource", "classify_rds_name", "is_retryable_error", "make_boto_config"]

log = logging.getLogger(__name__)

# The documented names, exactly: ASCII digits only (re.ASCII), the whole name (\A..\Z, not ^..$,
# which would let a trailing newline through into the file name on disk).
# slowquery/mysql-slowquery.log  |  slowquery/mysql-slowquery.log.2026-11-24.03
_MYSQL_RE = re.compile(r"\Aslowquery/mysql-slowquery\.log(?:\.(\d{4}-\d{2}-\d{2})\.([01]\d|2[0-3]))?\Z", re.ASCII)
# older RDS MySQL engines: slowquery/mysql-slowquery.log.<hour 0-23> (day from LastWritten)
_MYSQL_HOURLY_RE = re.compile(r"\Aslowquery/mysql-slowquery\.log\.([0-9]|1[0-9]|2[0-3])\Z", re.ASCII)
# error/postgresql.log.2026-11-24-03  |  error/postgresql.log.2026-11-24-0300
_PG_RE = re.compile(r"\Aerror/postgresql\.log\.(\d{4}-\d{2}-\d{2})-([01]\d|2[0-3])([0-5]\d)?\Z", re.ASCII)
# names of the slow-query logs above, valid or not: one that fails its pattern is reported, not ignored
_SLOW_LOG_STEMS = ("slowquery/mysql-slowquery.log", "error/postgresql.log")
# the day part of rotated names, shared by the files of one day (see _Listings)
_DAY_FILTER_RE = re.compile(r"(?P<stem>[^/]+?\.log)\.(?P<day>\d{4}-\d{2}-\d{2})[.-]", re.ASCII)
# RDS markers look like "<n>:<offset>"; when they do, the offset must not go backwards
_MARKER_RE = re.compile(r"^(\d+):(\d+)$")

def classify_rds_name(name: str, last_written_ms: int | None = None) -> tuple[str, _dt.date | None] | None:
    """(engine, day) for an RDS slow-query log file name, None for any other file.

    Rotated names carry the UTC day; the live ``mysql-slowquery.log`` (and the hour-numbered
    ``mysql-slowquery.log.N`` of older engines) take their day from LastWritten.
    """
    if not is_plain_file_name(name):
        return None
    m = _MYSQL_RE.match(name)
    if m:
        if m.group(1):
            try:
                return "mysql", _dt.date.fromisoformat(m.group(1))
            except ValueError:
                return None
        return "mysql", (day_of_ms(last_written_ms) if last_written_ms else None)
    if _MYSQL_HOURLY_RE.match(name):
        return "mysql", (day_of_ms(last_written_ms) if last_written_ms else None)
    m = _PG_RE.match(name)
    if m:
        try:
            return "postgres", _dt.date.fromisoformat(m.group(1))
        except ValueError:
            return None
    return None


class _MarkerBreak(Exception):
    """The marker sequence stopped making sense (file rewritten/rotated underneath)."""


class _Restart(Exception):
    """The file changed while it was downloaded: drop the temp file and download it again."""


class _Listings:
    """The "after" checks of the concurrent downloads of one instance, served by shared listings.

    A download is checked against a DescribeDBLogFiles listing that *started after it finished*
    (so a change during the download is seen). Downloads that finish while a listing is in flight
    wait for the next one, which answers for all of them: a day of 24 hourly files finishing close
    together costs a few listings instead of 24 calls (on the fleet benchmark, a third of all calls
    were these checks). Listings are filtered to the file's day (``FilenameContains``), so an
    instance with a long retention is not listed whole each time.
    """

    def __init__(self, describe: Callable[..., list[dict]]) -> None:
        import threading

        self._describe = describe
        self._cond = threading.Condition()
        self._running: dict[tuple[str, str], float] = {}  # (instance, filter) -> start of the listing in flight
        self._done: dict[tuple[str, str], tuple[float, dict[str, dict]]] = {}  # -> (start, entries by name)

    @staticmethod
    def _filter(name: str) -> str:
        """The part of a rotated name every file of its day shares ('mysql-slowquery.log.2026-11-24')."""
        m = _DAY_FILTER_RE.search(name)
        return name[m.start("stem") : m.end("day")] if m else name

    def state_after(self, instance: str, name: str, counters: CallCounters) -> LogFile | None:
        key = (instance, self._filter(name))
        since = time.monotonic()
        with self._cond:
            while True:
                done = self._done.get(key)
                if done is not None and done[0] >= since:
                    entry = done[1].get(name)
                    return RDSLogSource._to_log_file(instance, entry) if entry else None
                running = self._running.get(key)
                if running is None:
                    break  # nobody is listing: this thread does, for everyone waiting
                self._cond.wait()  # the listing in flight, or the one after it, answers
            started = self._running[key] = time.monotonic()
        entries: dict[str, dict] | None = None
        try:
            entries = {e.get("LogFileName") or "": e for e in self._describe(instance, counters, name_contains=key[1])}
        finally:
            with self._cond:
                del self._running[key]
                if entries is not None:  # a failed listing answers nobody: the next waiter lists again
                    self._done[key] = (started, entries)
                self._cond.notify_all()
        entry = entries.get(name)
        return RDSLogSource._to_log_file(instance, entry) if entry else None


class _BinaryFile(Exception):
    """RDS refuses to serve the file as text ("This file contains binary data ...")."""


def _is_binary_refusal(exc: BaseException) -> bool:
    code, _ = error_code(exc)
    msg = str(((getattr(exc, "response", None) or {}).get("Error") or {}).get("Message") or "")
    return code == "InvalidParameterValue" and "binary data" in msg


class RDSLogSource(BotocoreSource, LogSource):
    """Slow-query log files of RDS / Aurora instances through the RDS API.

    ``client`` is a boto3 ``rds`` client (build it with :func:`make_boto_config` for retries).
    """

    kind = "rds"

    def __init__(
        self,
        client: Any,
        *,
        max_loop_retries: int = DEFAULT_LOOP_RETRIES,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        max_restarts: int = 3,
        max_portions: int = 1_000_000,
        page_size: int | None = None,
        complete_fallback: bool = True,
        credentials: Any | None = None,
        http_timeout: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.complete_fallback = complete_fallback
        self._credentials = credentials
        self.http_timeout = http_timeout
        self.max_restarts = max_restarts
        self.max_portions = max_portions
        self.page_size = page_size
        self._call = RetryingCaller(max_loop_retries, backoff_base, backoff_max, sleep)
        self._listings = _Listings(self._describe)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_restarts={self.max_restarts})"

    # ------------------------------------------------------------------ listing
    def _describe(self, instance: str, counters: CallCounters, name_contains: str | None = None) -> list[dict]:
        """All DescribeDBLogFiles entries (every page). A throttled page restarts nothing:
        the page call itself is retried (botocore + loop level)."""
        kwargs: dict[str, Any] = {"DBInstanceIdentifier": instance}
        if name_contains:
            kwargs["FilenameContains"] = name_contains
        if self.page_size:
            kwargs["MaxRecords"] = self.page_size
        out: list[dict] = []
        seen_markers: set[str] = set()
        while True:
            resp = self._call(self.client.describe_db_log_files, counters, **kwargs)
            out.extend(resp.get("DescribeDBLogFiles") or [])
            marker = resp.get("Marker")
            if not marker or marker in seen_markers:
                break
            seen_markers.add(marker)
            kwargs["Marker"] = marker
        return out

    @staticmethod
    def _to_log_file(instance: str, entry: dict) -> LogFile | None:
        name = entry.get("LogFileName") or ""
        last_written = int(entry.get("LastWritten") or 0)
        cls = classify_rds_name(name, last_written)
        if cls is None:
            if name.startswith(_SLOW_LOG_STEMS) or not is_plain_file_name(name):
                # one odd name costs its own file, never the instance's listing
                log.warning("%s: skipped log file %s: not a documented RDS log file name", instance, ascii(name))
            return None
        return LogFile(
            instance=instance,
            name=name,
            size=int(entry.get("Size") or 0),
            last_written=last_written,
            day=cls[1],
        )

    def list_files(self, instance: str, day: _dt.date | str | None = None) -> list[LogFile]:
        day = to_date_or_none(day)
        files = []
        for entry in self._describe(instance, CallCounters()):
            lf = self._to_log_file(instance, entry)
            if lf is None:
                continue
            if day is not None and lf.day != day:
                continue
            files.append(lf)
        # rotated files in time order, the live file last
        files.sort(key=lambda f: (f.day or _dt.date.max, f.name == "slowquery/mysql-slowquery.log", f.name))
        return files

    def _describe_one(self, instance: str, name: str, counters: CallCounters) -> LogFile | None:
        for entry in self._describe(instance, counters, name_contains=name):
            if entry.get("LogFileName") == name:
                last_written = int(entry.get("LastWritten") or 0)
                cls = classify_rds_name(name, last_written)
                return LogFile(
                    instance=instance,
                    name=name,
                    size=int(entry.get("Size") or 0),
                    last_written=last_written,
                    day=cls[1] if cls else None,
                )
        return None

    # ------------------------------------------------------------------ download
    def _download_into(self, out: CountingWriter, instance: str, name: str, counters: CallCounters) -> None:
        """One pass from Marker "0" into ``out``."""
        marker = "0"
        seen: set[str] = {marker}
        last_position = (-1, -1)
        while True:
            try:
                resp = self._call(
                    self.client.download_db_log_file_portion,
                    counters,
                    DBInstanceIdentifier=instance,
                    LogFileName=name,
                    Marker=marker,
                )
            except Exception as exc:  # noqa: BLE001
                if self.complete_fallback and _is_binary_refusal(exc):
                    raise _BinaryFile() from None
                if error_code(exc)[0] in ("DBLogFileNotFoundFault", "DBLogFileNotFound"):
                    # listed, then rotated away or deleted before its download started
                    raise LogSourceError(f"RDS log file {name!r} of instance {instance!r} not found") from None
                raise
            out.write((resp.get("LogFileData") or "").encode("utf-8"))
            if not resp.get("AdditionalDataPending"):
                return
            new_marker = resp.get("Marker")
            if not new_marker or new_marker in seen:
                raise _MarkerBreak(f"marker did not advance after {marker!r}")
            m = _MARKER_RE.match(new_marker)
            if m:
                position = (int(m.group(1)), int(m.group(2)))
                if position < last_position:
                    raise _MarkerBreak(f"marker went backwards: {new_marker!r}")
                last_position = position
            seen.add(new_marker)
            if len(seen) > self.max_portions:
                raise _MarkerBreak("too many portions")
            marker = new_marker

    def _download_complete(self, out: CountingWriter, instance: str, name: str, counters: CallCounters) -> None:
        """DownloadCompleteDBLogFile: ``GET /v13/downloadCompleteLogFile/<instance>/<name>`` signed with
        SigV4 (service ``rds``); the raw bytes of the file, used when RDS refuses to serve it as text."""
        import urllib.error
        import urllib.request
        from urllib.parse import quote

        import urllib3.exceptions as urllib3_errors
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        creds = self._credentials or getattr(getattr(self.client, "_request_signer", None), "_credentials", None)
        if creds is None:
            raise LogSourceError("no AWS credentials available for DownloadCompleteDBLogFile")
        frozen = creds.get_frozen_credentials() if hasattr(creds, "get_frozen_credentials") else creds
        endpoint = self.client.meta.endpoint_url.rstrip("/")
        region = self.client.meta.region_name
        url = f"{endpoint}/v13/downloadCompleteLogFile/{quote(instance, safe='')}/{quote(name, safe='/')}"

        http_session = getattr(getattr(self.client, "_endpoint", None), "http_session", None)

        def write_stream(chunks) -> None:
            out.reset()  # a retried GET starts the file again
            out.copy(chunks)

        def failed(status: int, body: bytes) -> Exception:
            if status == 429 or status >= 500 or b"Throttl" in body:
                return _HTTPRetryable()
            return LogSourceError(f"DownloadCompleteDBLogFile of {name!r} on {instance!r} failed: HTTP {status}")

        def fetch() -> None:
            req = AWSRequest(method="GET", url=url, headers={"Content-Type": "application/json"})
            SigV4Auth(frozen, "rds", region).add_auth(req)
            prepared = req.prepare()
            if http_session is not None:
                # the client's own HTTP session: its proxies, CA bundle and verify setting apply
                prepared.stream_output = True
                try:
                    resp = http_session.send(prepared)
                except Exception as exc:  # noqa: BLE001 - connection level
                    if is_retryable_error(exc):
                        raise _HTTPRetryable() from None
                    raise
                try:
                    if resp.status_code != 200:
                        raise failed(resp.status_code, resp.raw.read(4096) or b"")
                    try:
                        return write_stream(resp.raw.stream(1 << 20, decode_content=False))
                    except (urllib3_errors.HTTPError, ConnectionError, TimeoutError):
                        raise _HTTPRetryable() from None  # cut mid-stream: fetched again whole
                finally:
                    resp.raw.release_conn()
            http_req = urllib.request.Request(prepared.url, headers=dict(prepared.headers.items()), method="GET")
            try:
                with urllib.request.urlopen(http_req, timeout=self.http_timeout) as resp:  # noqa: S310
                    return write_stream(iter(lambda: resp.read(1 << 20), b""))
            except urllib.error.HTTPError as exc:
                try:
                    body = exc.read(4096)
                except Exception:  # noqa: BLE001
                    body = b""
                raise failed(exc.code, body) from None
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                raise _HTTPRetryable() from None

        def gated_fetch() -> None:  # a plain HTTP GET: the slot is held here, not by botocore's events
            if self._slots is None:
                return fetch()
            with self._slots.hold():
                return fetch()

        self._call(gated_fetch, counters)

    def download(self, log_file: LogFile, dest_dir: str | os.PathLike[str]) -> DownloadResult:
        dest = Path(dest_dir) / log_file.local_name
        counters = CallCounters()
        restarts = 0
        binary = False
        instance, name = log_file.instance, log_file.name
        while True:
            # The listing the file came from is seconds old: its size and LastWritten serve as the
            # "before" state of the first attempt (one DescribeDBLogFiles call less per file). A
            # change since then shows in the "after" state and restarts the download, as any change
            # during it does.
            if restarts == 0 and log_file.last_written:
                before = log_file
            else:
                before = self._describe_one(instance, name, counters)
            if before is None:
                raise LogSourceError(f"RDS log file {name!r} of instance {instance!r} not found")
            try:
                with atomic_writer(dest) as out:
                    broken = False
                    try:
                        if binary:
                            self._download_complete(out, instance, name, counters)
                        else:
                            self._download_into(out, instance, name, counters)
                    except _MarkerBreak:
                        broken = True
                    except _BinaryFile:
                        # served as raw bytes instead: start again (same attempt) into a clean file
                        binary = True
                        out.reset()
                        self._download_complete(out, instance, name, counters)
                    after = None if broken else self._listings.state_after(instance, name, counters)
                    changed = broken or after is None or (after.size, after.last_written) != (
                        before.size,
                        before.last_written,
                    )
                    if changed and restarts < self.max_restarts:
                        raise _Restart()  # the temp file is dropped, the old copy (if any) stays
                    if broken:
                        raise LogSourceError(
                            f"RDS log file {name!r} of instance {instance!r}: marker sequence kept breaking "
                            f"after {restarts} restarts"
                        )
            except _Restart:
                restarts += 1
                continue
            return out.result(dest, retries=counters.retries, restarts=restarts, complete=not changed,
                              log_file=after or before)
