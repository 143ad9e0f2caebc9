"""Use every core on a big plain-text log: split it at entry boundaries, digest the pieces in
worker processes, merge the (small) digests. Same result as the serial path: byte ranges cover
the file exactly, and each worker first reads the tail of the previous range (discarding it)
so that ts/db inheritance across the cut is the same as in one pass.
"""
from __future__ import annotations

import io
import multiprocessing as mp
import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from .digest import Digest
from .engines import get_engine
from .engines.base import ParseStats, sink_for, stream
from .parse import GZIP_MAGIC, detect_engine

MIN_PARALLEL_BYTES = 32 << 20
_SEED_BYTES = 256 << 10
WORKER_BATCH_ROWS = 8192
WORKER_CHUNK = 2 << 20


def start_method() -> str:
    """How parse workers start: forked (in milliseconds) only from a plain process, the CLI:
    one Python thread and SIGTERM/SIGINT handlers nobody replaced; spawned otherwise.

    A child forked from a process with threads (a Dagster step's log capture and heartbeats, a
    test runner's servers) can hang for ever on a lock one of them held at the fork. And once
    Dagster has run in a process, its SIGTERM raises KeyboardInterrupt (dagster's
    ``setup_interrupt_handlers``): a forked worker that Pool.terminate hits before it reaches its
    own exit path unwinds into the parent's stack instead (under pytest: the session teardown,
    which then waits for ever on server threads that did not survive the fork - CI hung so)."""
    plain = (signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
             and signal.getsignal(signal.SIGINT) in (signal.default_int_handler, signal.SIG_DFL))
    return "fork" if plain and threading.active_count() == 1 else "spawn"


class ParseWorkerDied(RuntimeError):
    """A parse worker process died mid-task (killed by a signal: most often the out-of-memory killer)."""


def death_text(exit_code: int | None, knob: str = "SLOWLOG_PARSE_WORKERS") -> str:
    """How a process ended, from its exit code (negative: the signal), and what to do about it:
    SIGKILL is the out-of-memory killer's signal, so fewer processes at once (``knob``) or more memory."""
    if exit_code is None:
        return "died (exit code unknown)"
    if exit_code >= 0:
        return f"exited with code {exit_code}"
    try:
        name = signal.Signals(-exit_code).name
    except ValueError:
        name = f"signal {-exit_code}"
    text = f"killed by {name} (exit {exit_code})"
    if exit_code == -signal.SIGKILL:
        text += f": most often the out-of-memory killer; lower {knob} or give the worker more memory"
    return text


class WorkerPool:
    """Parse worker processes (see :func:`start_method`) as a ``ProcessPoolExecutor``, whose futures
    fail (``BrokenProcessPool``) when a worker dies instead of waiting for ever as ``mp.Pool``'s do.
    The workers are the process's children that appear once tasks are submitted
    (``multiprocessing.active_children()``), so that a death can name its signal."""

    def __init__(self, processes: int) -> None:
        self._before = {p.pid for p in mp.active_children()}
        self._workers: dict[int, mp.process.BaseProcess] = {}
        self.executor = ProcessPoolExecutor(processes, mp_context=mp.get_context(start_method()))

    def submit(self, fn, *args, what: str) -> Future:
        """``fn(*args)`` in a worker; ``what`` it works on names it if the pool is found broken."""
        try:
            future = self.executor.submit(fn, *args)
        except BrokenProcessPool as exc:
            raise self._died(what) from exc
        for p in mp.active_children():
            if p.pid not in self._before:
                self._workers.setdefault(p.pid, p)
        return future

    def result(self, future: Future, what: str):
        """``future``'s result; a dead worker raises :class:`ParseWorkerDied` naming its signal."""
        try:
            return future.result()
        except BrokenProcessPool as exc:
            raise self._died(what) from exc

    def _died(self, what: str) -> ParseWorkerDied:
        for p in self._workers.values():
            p.join(5)  # the pool ends the survivors once one died: their exit codes come in
        dead = [(pid, p.exitcode) for pid, p in self._workers.items() if p.exitcode not in (None, 0)]
        dead.sort(key=lambda d: d[1] == -signal.SIGTERM)  # SIGTERM is the pool's: the other signal is the cause
        pid, code = dead[0] if dead else (None, None)
        return ParseWorkerDied(f"parse worker{f' (pid {pid})' if pid else ''} of {what} {death_text(code)}")

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


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
            safe = getattr(parser, "resync_start", None)  # starts that need no lines above the window
            starts = [s for s in parser.starts(window, 0, len(window)) if s > nl and (safe is None or safe(window, s, nl))]
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


def _range_batches(path: str, engine: str, start: int, end: int, instance: str | None,
                   source_file: str | None, stats: ParseStats):
    """The event batches of bytes [start, end) of a plain-text log, exactly as one serial pass over
    the whole file gives them for that range (``stats`` is filled as they are consumed)."""
    parser = get_engine(engine)()
    if start > 0:  # seed ts/db inheritance from the previous entries, discarding them
        seed_from = _first_start_after(parser, path, max(0, start - _SEED_BYTES), start)
        if seed_from < start:
            throwaway = sink_for(parser, instance=instance, source_file=source_file)
            for _ in stream(_RangeReader(path, seed_from, start), parser, throwaway, ParseStats()):
                pass
    # Smaller batches and reads than the serial path: N workers share the memory budget.
    sink = sink_for(parser, instance=instance, source_file=source_file, batch_rows=WORKER_BATCH_ROWS)
    reader = io.BufferedReader(_RangeReader(path, start, end), buffer_size=1 << 20)
    try:
        yield from stream(reader, parser, sink, stats, chunk_size=WORKER_CHUNK, start_offset=start)
    finally:
        reader.close()


def _digest_range(args):
    path, engine, start, end, group_by, instance, source_file, max_classes = args
    stats = ParseStats(source_file=source_file, engine=engine)
    digest = Digest(group_by=group_by, max_classes=max_classes)
    for batch in _range_batches(path, engine, start, end, instance, source_file, stats):
        digest.add(batch)
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
                         instance: str | None = None, source_file: str | None = None,
                         max_classes: int | None = None) -> tuple[Digest, ParseStats]:
    if engine == "auto":
        with open(path, "rb") as f:
            engine = detect_engine(f.read(65536))
    source_file = source_file or os.path.basename(path)
    points = split_points(path, engine, workers)
    jobs = [(path, engine, a, b, tuple(group_by), instance, source_file, max_classes)
            for a, b in zip(points, points[1:])]
    with WorkerPool(len(jobs)) as processes:
        futures = [processes.submit(_digest_range, job, what=source_file) for job in jobs]
        results = [processes.result(f, source_file) for f in futures]
    digest = Digest(group_by=group_by, max_classes=max_classes)
    stats = ParseStats(source_file=source_file, engine=engine)
    for d, s in results:
        digest.merge(d)
        stats.merge(s)
    return digest, stats


# ---------------------------------------------------------------------------- events of many files
#: Big plain MySQL-family files are cut into pieces of about this size (the unit a worker parses
#: and spools; it bounds the memory of a worker and of the reader).
PIECE_BYTES = 16 << 20


def _can_split(path: str, engine: str, piece_bytes: int) -> bool:
    if engine not in ("mysql", "auto") or os.path.getsize(path) < 2 * piece_bytes:
        return False
    with open(path, "rb") as f:
        head = f.read(65536)
    return head[:3] not in (GZIP_MAGIC, b"BZh") and detect_engine(head) == "mysql"


def _events_piece(args):
    """Worker: parse one piece (a whole file, or a byte range of a big plain one) and spool its
    batches to an Arrow IPC stream file; returns (file index, spool path, stats)."""
    import pyarrow as pa

    from .events import EVENT_SCHEMA
    from .parse import parse_log

    index, path, engine, start, end, instance, source_file, spool = args
    if start is None:
        parsed = parse_log(path, instance=instance, engine=engine, source_file=source_file)
        batches, stats = parsed, None
    else:
        stats = ParseStats(source_file=source_file, engine=engine)
        batches = _range_batches(path, engine, start, end, instance, source_file, stats)
    with pa.OSFile(spool, "wb") as sink, pa.ipc.new_stream(sink, EVENT_SCHEMA) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return index, spool, stats if stats is not None else parsed.stats


class ParallelParse:
    """The events of several local log files, parsed by ``workers`` processes, yielded in file
    order (and, within a file, in offset order): the same batches' rows as parsing the files one
    after another with :func:`~dagster_project.slowlog.parse.parse_log`.

    Each file is one piece; a big plain MySQL-family file is cut at entry boundaries into
    ~``PIECE_BYTES`` pieces (with the CLI's range reader and inheritance seeding). Workers spool
    their batches to Arrow IPC files under ``spool_dir``; at most ``2 * workers`` pieces are
    parsed ahead of the reader, so memory and spool space stay bounded whatever the input size.
    ``stats`` holds one :class:`ParseStats` per file once iteration has finished.
    """

    def __init__(self, files: list[tuple[str, str]], *, instance: str | None, engine: str = "auto",
                 workers: int, spool_dir: str, piece_bytes: int = PIECE_BYTES) -> None:
        self.files = files  # (path, source_file name)
        self.piece_bytes = piece_bytes
        self.instance = instance
        self.engine = engine
        self.workers = max(1, int(workers))
        self.spool_dir = spool_dir
        self.stats: list[ParseStats] = [ParseStats(source_file=name) for _, name in files]

    def _pieces(self):
        n = 0
        for index, (path, name) in enumerate(self.files):
            if _can_split(path, self.engine, self.piece_bytes):
                size = os.path.getsize(path)
                points = split_points(path, "mysql", max(2, -(-size // self.piece_bytes)))
                ranges = list(zip(points, points[1:]))
                engine = "mysql"
            else:
                ranges, engine = [(None, None)], self.engine
            for start, end in ranges:
                n += 1
                spool = os.path.join(self.spool_dir, f"piece-{n:06d}.arrow")
                yield (index, path, engine, start, end, self.instance, name, spool)

    def __iter__(self):
        import collections

        import pyarrow as pa

        pending: collections.deque = collections.deque()
        pieces = iter(self._pieces())
        what = self.instance or "the input"
        with WorkerPool(self.workers) as workers:
            def submit() -> None:
                piece = next(pieces, None)
                if piece is not None:
                    piece_of = f"{what} {piece[6]}"  # instance and source file
                    pending.append((piece_of, workers.submit(_events_piece, piece, what=piece_of)))

            for _ in range(2 * self.workers):
                submit()
            while pending:
                piece_of, future = pending.popleft()
                index, spool, stats = workers.result(future, piece_of)
                submit()
                merged = self.stats[index]
                merged.engine = merged.engine or stats.engine
                merged.merge(stats)
                try:
                    with pa.OSFile(spool, "rb") as source, pa.ipc.open_stream(source) as reader:
                        for batch in reader:
                            yield batch
                finally:
                    os.unlink(spool)
