"""Use every core on a big plain-text log: split it at entry boundaries, digest the pieces in
worker processes, merge the (small) digests. Same result as the serial path: byte ranges cover
the file exactly, and each worker first reads the tail of the previous range (discarding it)
so that ts/db inheritance across the cut is the same as in one pass.
"""
from __future__ import annotations

import io
import multiprocessing as mp
import os

from .digest import Digest
from .engines import get_engine
from .engines.base import ParseStats, sink_for, stream
from .parse import GZIP_MAGIC, detect_engine

MIN_PARALLEL_BYTES = 32 << 20
_SEED_BYTES = 256 << 10
WORKER_BATCH_ROWS = 8192
WORKER_CHUNK = 2 << 20


class _RangeReader(io.RawIOBase):
    """Read-only view of bytes [start, end) of a file."""

    def __init__(self, path: str, start: int, end: int) -> None:
        self._f = open(path, "rb", buffering=0)
        self._f.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(b)[: self._left]
        n = self._f.readinto(view)
        self._left -= n
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


def _first_start_after(parser, path: str, offset: int, size: int) -> int:
    """File offset of the first entry start at or after `offset` (size if none)."""
    step = 4 << 20
    pos = offset
    with open(path, "rb") as f:
        while pos < size:
            f.seek(pos)
            window = f.read(step + 1)
            nl = window.find(b"\n")
            if nl < 0:
                pos += step
                continue
            starts = [s for s in parser.starts(window, 0, len(window)) if s > nl]
            if starts:
                return pos + starts[0]
            pos += step
    return size


def split_points(path: str, engine: str, parts: int) -> list[int]:
    size = os.path.getsize(path)
    parser = get_engine(engine)()
    points = [0]
    for k in range(1, parts):
        p = _first_start_after(parser, path, size * k // parts, size)
        if p > points[-1] and p < size:
            points.append(p)
    points.append(size)
    return points


def _digest_range(args):
    path, engine, start, end, group_by, instance, source_file = args
    parser = get_engine(engine)()
    if start > 0:  # seed ts/db inheritance from the previous entries, discarding them
        seed_from = _first_start_after(parser, path, max(0, start - _SEED_BYTES), start)
        if seed_from < start:
            throwaway = sink_for(parser, instance=instance, source_file=source_file)
            for _ in stream(_RangeReader(path, seed_from, start), parser, throwaway, ParseStats()):
                pass
    stats = ParseStats(source_file=source_file, engine=engine)
    # Smaller batches and reads than the serial path: N workers share the memory budget.
    sink = sink_for(parser, instance=instance, source_file=source_file, batch_rows=WORKER_BATCH_ROWS)
    digest = Digest(group_by=group_by)
    reader = io.BufferedReader(_RangeReader(path, start, end), buffer_size=1 << 20)
    for batch in stream(reader, parser, sink, stats, chunk_size=WORKER_CHUNK, start_offset=start):
        digest.add(batch)
    reader.close()
    return digest, stats


def parallel_ok(path: str, workers: int) -> bool:
    if workers <= 1 or path == "-" or not os.path.isfile(path):
        return False
    if os.path.getsize(path) < MIN_PARALLEL_BYTES:
        return False
    with open(path, "rb") as f:
        head = f.read(65536)
    if head[:3] == GZIP_MAGIC or head[:3] == b"BZh":
        return False
    # Only the MySQL family: its entries are self-contained. A PostgreSQL cut could separate an
    # `execute` from its DETAIL line or a statement from its duration.
    return detect_engine(head) == "mysql"


def digest_file_parallel(path: str, *, workers: int, engine: str = "auto", group_by=("checksum",),
                         instance: str | None = None, source_file: str | None = None) -> tuple[Digest, ParseStats]:
    if engine == "auto":
        with open(path, "rb") as f:
            engine = detect_engine(f.read(65536))
    source_file = source_file or os.path.basename(path)
    points = split_points(path, engine, workers)
    jobs = [(path, engine, a, b, tuple(group_by), instance, source_file) for a, b in zip(points, points[1:])]
    ctx = mp.get_context("fork")
    with ctx.Pool(len(jobs)) as pool:
        results = pool.map(_digest_range, jobs)
    digest = Digest(group_by=group_by)
    stats = ParseStats(source_file=source_file, engine=engine)
    for d, s in results:
        digest.merge(d)
        stats.merge(s)
    return digest, stats
