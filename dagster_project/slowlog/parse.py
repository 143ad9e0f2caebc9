"""Entry point of the parsing core: open a log (plain, gzip or bzip2), pick the engine, stream batches.

    parsed = parse_log("mysql-slowquery.log", instance="db-1")
    for batch in parsed:            # pyarrow.RecordBatch in events.EVENT_SCHEMA
        ...
    parsed.stats                    # ParseStats, complete once iteration finished
"""
from __future__ import annotations

import io
import os
import zlib
from typing import BinaryIO, Iterator

import pyarrow as pa

from .decompress import DecompressingReader, DecompressionLimit, open_decompressed
from .engines import get_engine
from .engines.base import BATCH_ROWS, MAX_SAMPLES, ParseStats, sink_for, stream

__all__ = ["parse_log", "ParsedLog", "ParseStats", "open_input", "detect_engine"]

GZIP_MAGIC = b"\x1f\x8b\x08"  # magic + deflate, the only method gzip defines: fewer false alarms


class InputError(Exception):
    """A file that cannot be read at all (missing, unreadable, a directory). One line, no traceback."""


def open_input(source, limit: DecompressionLimit | None = None) -> tuple[BinaryIO, str]:
    """Open a path, '-' or a binary file object; transparently decompress gzip / bzip2 (detected by
    magic bytes) within ``limit`` (default: :meth:`DecompressionLimit.resolve`, the environment)."""
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
    decompressed = open_decompressed(buffered, _peek(buffered, 10), limit)
    return (decompressed or buffered), name


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


class ParsedLog:
    """Iterable of record batches; `stats` is complete once iteration has finished."""

    def __init__(self, source, *, instance: str | None = None, engine: str = "auto",
                 source_file: str | None = None, batch_rows: int = BATCH_ROWS, chunk_size: int | None = None,
                 limit: DecompressionLimit | None = None):
        self._source = source
        self.limit = limit
        self.instance = instance
        self.engine = engine
        self.source_file = source_file
        self.batch_rows = batch_rows
        self.chunk_size = chunk_size
        self.stats = ParseStats(source_file=source_file)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        fileobj, name = open_input(self._source, self.limit)
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
            yield from stream(fileobj, parser, sink, self.stats, **kwargs)
            if isinstance(fileobj, DecompressingReader):
                self._count_damage(fileobj)
        finally:
            opened = fileobj.source if isinstance(fileobj, DecompressingReader) else fileobj
            if opened is not self._source and name != "-":
                opened.close()

    def _count_damage(self, reader: DecompressingReader) -> None:
        """Compressed input that could not be decoded: each stretch one rejected piece, its
        compressed bytes in ``lost_bytes`` and one line in ``input_errors`` (what, where)."""
        for damage in reader.damage:
            line = damage.describe(reader.format.name)
            self.stats.rejected += 1
            self.stats.lost_bytes += damage.lost_bytes
            self.stats.input_errors.append(line)
            if len(self.stats.rejected_samples) < MAX_SAMPLES:
                self.stats.rejected_samples.append(f"@{self.stats.bytes_total}: {line}")

    def read_all(self) -> pa.Table:
        from .events import EVENT_SCHEMA

        return pa.Table.from_batches(list(self), schema=EVENT_SCHEMA)


def parse_log(source, *, instance: str | None = None, engine: str = "auto", source_file: str | None = None,
              batch_rows: int = BATCH_ROWS, chunk_size: int | None = None,
              limit: DecompressionLimit | None = None) -> ParsedLog:
    return ParsedLog(source, instance=instance, engine=engine, source_file=source_file,
                     batch_rows=batch_rows, chunk_size=chunk_size, limit=limit)
