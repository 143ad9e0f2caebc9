"""Entry point of the parsing core: open a log (plain or gzip), pick the engine, stream batches.

    parsed = parse_log("mysql-slowquery.log", instance="db-1")
    for batch in parsed:            # pyarrow.RecordBatch in events.EVENT_SCHEMA
        ...
    parsed.stats                    # ParseStats, complete once iteration finished
"""
from __future__ import annotations

import gzip
import io
import zlib
import os
from typing import BinaryIO, Iterator

import pyarrow as pa

from .engines import get_engine
from .engines.base import BATCH_ROWS, ParseStats, sink_for, stream

__all__ = ["parse_log", "ParsedLog", "ParseStats", "open_input", "detect_engine"]

GZIP_MAGIC = b"\x1f\x8b\x08"  # magic + deflate, the only method gzip defines: fewer false alarms


class InputError(Exception):
    """A file that cannot be read at all (missing, unreadable, a directory). One line, no traceback."""


def open_input(source) -> tuple[BinaryIO, str]:
    """Open a path, '-' or a binary file object; transparently gunzip (detected by magic bytes)."""
    if hasattr(source, "read"):
        raw = source
        name = getattr(source, "name", "<stream>")
    elif str(source) == "-":
        import sys

        raw = sys.stdin.buffer
        name = "-"
    else:
        name = str(source)
        try:
            raw = open(source, "rb")
        except IsADirectoryError:
            raise InputError(f"{name}: is a directory") from None
        except FileNotFoundError:
            raise InputError(f"{name}: no such file") from None
        except PermissionError:
            raise InputError(f"{name}: permission denied") from None
        except OSError as exc:
            raise InputError(f"{name}: {exc.strerror or exc}") from None
    # A buffered reader lets us peek at the magic bytes without consuming them.
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
    head = _peek(buffered, 10)
    if head[:3] == GZIP_MAGIC and _decodes(lambda: zlib.decompressobj(16 + zlib.MAX_WBITS), buffered):
        return gzip.GzipFile(fileobj=buffered, mode="rb"), name
    if head[:3] == b"BZh" and head[4:10] == b"1AY&SY":  # bzip2 (pgBadger users keep .bz2 logs)
        import bz2

        if _decodes(bz2.BZ2Decompressor, buffered):
            return bz2.BZ2File(buffered, mode="rb"), name
    return buffered, name


def _decodes(make_decompressor, buffered) -> bool:
    """False when the magic bytes were a false alarm: the data fails to decompress before
    yielding a single byte (then it is read as plain text, every byte accounted). A stream that
    decodes at first and is damaged later stays compressed: what precedes the damage is kept."""
    decompressor = make_decompressor()
    head = _peek(buffered, 1 << 16)
    for i in range(0, len(head), 512):
        try:
            if decompressor.decompress(head[i : i + 512]):
                return True
        except (zlib.error, OSError, EOFError, ValueError):
            return False
    return True  # nothing decoded yet and nothing wrong yet: believe the magic


def _peek(f, n: int) -> bytes:
    if hasattr(f, "peek"):
        try:
            return f.peek(n)[:n]
        except (OSError, ValueError, EOFError, zlib.error):
            return b""
    return b""


def detect_engine(head: bytes) -> str:
    """Guess the engine from the first bytes of a log."""
    if b"# Query_time:" in head or b"# User@Host:" in head or b"# Time:" in head or b"mysqld, Version" in head:
        return "mysql"
    # PostgreSQL / Redis sniffing lives beside their parsers: Redis JSON records (also after a
    # CloudWatch export timestamp) and the ElastiCache TEXT format; prefixed PostgreSQL log lines.
    from .engines.postgres import looks_like_postgres
    from .engines.redis import looks_like_redis

    if looks_like_redis(head):
        return "redis"
    if looks_like_postgres(head):
        return "postgres"
    if b"duration: " in head and (b"LOG:" in head or b"statement:" in head):
        return "postgres"
    stripped = head.lstrip()
    if stripped.startswith((b"{", b"[")) and (b'"Command"' in head or b'"command"' in head or b'"Duration"' in head):
        return "redis"
    if b"LOG:  " in head or b"ERROR:  " in head:
        return "postgres"
    return "mysql"


class _TolerantReader:
    """A decompressing reader whose damage ends the stream (recorded in .error) instead of
    raising: a log cut in the middle of a .gz keeps every entry before the cut."""

    def __init__(self, f) -> None:
        self._f = f
        self.error: str | None = None

    STEP = 8 << 10  # decompress in small steps: a failing read loses its whole output

    def read(self, n: int = -1) -> bytes:
        if self.error:
            return b""
        parts: list[bytes] = []
        want = n if n >= 0 else 1 << 62
        while want > 0:
            try:
                piece = self._f.read(min(self.STEP, want))
            except (EOFError, zlib.error, OSError) as exc:  # gzip.BadGzipFile and bz2 errors are OSErrors
                self.error = str(exc) or type(exc).__name__
                break
            if not piece:
                break
            parts.append(piece)
            want -= len(piece)
        return b"".join(parts)


class ParsedLog:
    """Iterable of record batches; `stats` is complete once iteration has finished."""

    def __init__(self, source, *, instance: str | None = None, engine: str = "auto",
                 source_file: str | None = None, batch_rows: int = BATCH_ROWS, chunk_size: int | None = None):
        self._source = source
        self.instance = instance
        self.engine = engine
        self.source_file = source_file
        self.batch_rows = batch_rows
        self.chunk_size = chunk_size
        self.stats = ParseStats(source_file=source_file)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        fileobj, name = open_input(self._source)
        source_file = self.source_file or (os.path.basename(name) if name not in ("-", "<stream>") else name)
        self.stats.source_file = source_file
        try:
            engine = self.engine
            if engine == "auto":
                engine = detect_engine(_peek(fileobj, 65536) if hasattr(fileobj, "peek") else b"")
            self.stats.engine = engine
            parser = get_engine(engine)()
            sink = sink_for(parser, instance=self.instance, source_file=source_file, batch_rows=self.batch_rows)
            kwargs = {"chunk_size": self.chunk_size} if self.chunk_size else {}
            reader = _TolerantReader(fileobj) if fileobj.__class__ is not io.BufferedReader else fileobj
            yield from stream(reader, parser, sink, self.stats, **kwargs)
            if getattr(reader, "error", None):
                # A truncated or corrupt compressed stream: everything decoded before the damage
                # is kept; the damage itself is one rejected piece, visible in the samples.
                self.stats.rejected += 1
                if len(self.stats.rejected_samples) < 5:
                    self.stats.rejected_samples.append(
                        f"@{self.stats.bytes_total}: compressed data damaged or cut: {reader.error}")
        finally:
            if fileobj is not self._source and name != "-":
                fileobj.close()

    def read_all(self) -> pa.Table:
        from .events import EVENT_SCHEMA

        return pa.Table.from_batches(list(self), schema=EVENT_SCHEMA)


def parse_log(source, *, instance: str | None = None, engine: str = "auto", source_file: str | None = None,
              batch_rows: int = BATCH_ROWS, chunk_size: int | None = None) -> ParsedLog:
    return ParsedLog(source, instance=instance, engine=engine, source_file=source_file,
                     batch_rows=batch_rows, chunk_size=chunk_size)
