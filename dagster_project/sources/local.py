"""Raw log files already on disk, or in S3, laid out like RDS::

    <root>/<instance>/slowquery/mysql-slowquery.log.YYYY-MM-DD.HH
    <root>/<instance>/slowquery/mysql-slowquery.log              (live file: day from its mtime)
    <root>/<instance>/error/postgresql.log.YYYY-MM-DD-HH
    <root>/<instance>/redis-slowlog.YYYY-MM-DD.jsonl             (any file whose name has a date)

``root`` is a folder or ``s3://bucket/prefix``. Files are copied byte-identically (gzip included:
the parser detects it). Hidden files and ``*.part`` temp files are ignored.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster_project.days import to_date_or_none

from .base import (
    DownloadResult,
    LogFile,
    LogSource,
    LIVE_FILE_NAMES,
    LogSourceError,
    atomic_writer,
    day_from_name,
    day_of_ms,
    engine_of,
)
from .rds import classify_rds_name

__all__ = ["LocalLogSource", "classify_local_name", "guess_engines", "instance_folders", "split_s3_uri"]

_CHUNK = 1 << 20


def instance_folders(root: str) -> list[str]:
    """Every (non-hidden, non-underscore) instance folder under a local root; none for S3 or a
    missing folder (an S3 estate names its instances)."""
    base = Path(root)
    if "://" in root or not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def guess_engines(root: str, instances: list[str]) -> dict[str, str]:
    """Engine per instance from the file names in its local folder (``postgresql.log*`` -> postgres,
    ``*redis*`` -> redis), for the instances whose files agree on one engine other than mysql (the
    default, left out)."""
    engines: dict[str, str] = {}
    for instance in instances:
        folder = Path(root) / instance
        found = {engine_of(p.name) for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else set()
        found.discard(None)
        if len(found) == 1 and found != {"mysql"}:
            engines[instance] = found.pop()
    return engines
_COMPRESSED = re.compile(r"\.(gz|gzip)$")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` -> (``bucket``, ``a/b``)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri!r}")
    return bucket, prefix.strip("/")


def classify_local_name(rel: str, last_written_ms: int) -> _dt.date | None | bool:
    """Day of a raw log file at ``rel`` (path relative to the instance folder).

    Returns a date, ``None`` for a recognised file of unknown day, or ``False`` to skip the file.
    """
    base = rel.rsplit("/", 1)[-1]
    if not base or base.startswith(".") or base.endswith(".part"):
        return False
    plain = _COMPRESSED.sub("", rel)
    cls = classify_rds_name(plain, last_written_ms)
    if cls is not None:
        return cls[1]
    day = day_from_name(_COMPRESSED.sub("", base))
    if day is not None:
        return day
    if _COMPRESSED.sub("", base) in LIVE_FILE_NAMES:
        return day_of_ms(last_written_ms) if last_written_ms else None
    return False


class LocalLogSource(LogSource):
    """Raw slow-log files in a folder or under ``s3://bucket/prefix``."""

    kind = "local"

    def __init__(self, root: str | os.PathLike[str], s3_client: Any | None = None, max_restarts: int = 3) -> None:
        self.root = str(root)
        self.is_s3 = self.root.startswith("s3://")
        self._s3 = s3_client
        self.max_restarts = max_restarts
        if self.is_s3:
            self.bucket, self.prefix = split_s3_uri(self.root)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={self.root!r})"

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            from .aws_client import make_client

            self._s3 = make_client("s3")
        return self._s3

    def _key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p and p.strip("/"))

    # ------------------------------------------------------------------ listing
    def discover_instances(self) -> list[str]:
        """Instance folders under the root."""
        if self.is_s3:
            out: list[str] = []
            pfx = self._key() + "/" if self.prefix else ""
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=pfx, Delimiter="/"
            ):
                for cp in page.get("CommonPrefixes") or []:
                    out.append(cp["Prefix"][len(pfx):].strip("/"))
            return sorted(out)
        return instance_folders(str(self.root))

    def _iter_entries(self, instance: str) -> Iterator[tuple[str, int, int, str]]:
        """(relative name, size, last_written ms, ref) for every object of the instance."""
        if self.is_s3:
            pfx = self._key(instance) + "/"
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=pfx):
                for obj in page.get("Contents") or []:
                    key = obj["Key"]
                    if key.endswith("/"):
                        continue
                    lm = obj.get("LastModified")
                    ms = int(lm.timestamp() * 1000) if lm is not None else 0
                    yield key[len(pfx):], int(obj.get("Size") or 0), ms, key
            return
        base = Path(self.root) / instance
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for fn in sorted(filenames):
                p = Path(dirpath) / fn
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                yield p.relative_to(base).as_posix(), st.st_size, int(st.st_mtime * 1000), str(p)

    def list_files(self, instance: str, day: _dt.date | str | None = None) -> list[LogFile]:
        day = to_date_or_none(day)
        out = []
        for rel, size, ms, ref in self._iter_entries(instance):
            d = classify_local_name(rel, ms)
            if d is False:
                continue
            if day is not None and d != day:
                continue
            out.append(LogFile(instance=instance, name=rel, size=size, last_written=ms, day=d, ref=ref))  # type: ignore[arg-type]
        out.sort(key=lambda f: (f.day or _dt.date.max, f.name))
        return out

    # ------------------------------------------------------------------ download
    def _ref(self, log_file: LogFile) -> str:
        if log_file.ref:
            return log_file.ref
        if self.is_s3:
            return self._key(log_file.instance, log_file.name)
        return str(Path(self.root) / log_file.instance / log_file.name)

    def download(self, log_file: LogFile, dest_dir: str | os.PathLike[str]) -> DownloadResult:
        dest = Path(dest_dir) / log_file.local_name
        ref = self._ref(log_file)
        if not self.is_s3 and Path(ref).resolve() == dest.resolve():
            raise LogSourceError(f"source and destination are the same file: {dest}")
        restarts = 0
        retries = 0
        while True:
            with atomic_writer(dest) as out:
                if self.is_s3:
                    try:
                        obj = self.s3.get_object(Bucket=self.bucket, Key=ref)
                    except Exception as exc:  # noqa: BLE001
                        code = ((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code")
                        if code in ("NoSuchKey", "404"):
                            raise LogSourceError(f"s3://{self.bucket}/{ref} not found") from exc
                        raise
                    retries += int((obj.get("ResponseMetadata") or {}).get("RetryAttempts") or 0)
                    before = (obj.get("ETag"), int(obj.get("ContentLength") or 0))
                    reader = obj["Body"]
                    try:
                        out.copy(iter(lambda: reader.read(_CHUNK), b""))
                    finally:
                        reader.close()
                    # one GET is one consistent object version
                    changed = out.bytes != before[1]
                else:
                    try:
                        st0 = os.stat(ref)
                        with open(ref, "rb") as src:
                            out.copy(iter(lambda: src.read(_CHUNK), b""))
                        st1 = os.stat(ref)
                    except FileNotFoundError as exc:
                        raise LogSourceError(f"local log file not found: {ref}") from exc
                    changed = (st0.st_size, st0.st_mtime_ns) != (st1.st_size, st1.st_mtime_ns) or out.bytes != st1.st_size
            if changed and restarts < self.max_restarts:
                restarts += 1
                continue
            return out.result(dest, retries=retries, restarts=restarts, complete=not changed, log_file=log_file)
