"""DB load per minute from slow-query events: Performance Insights' "average active sessions".

An event's ``ts`` is when the server wrote the entry, i.e. when the statement *ended* (MySQL /
MariaDB ``# Time:``, PostgreSQL's ``duration:`` line, Redis' slow-log entry are all written on
completion); it ran over ``[ts - query_time, ts]``. Each event's query time is spread over the
minutes that interval overlaps (a 150 s query adds 60 s to each of two minutes and 30 s to a third),
and a minute's load is the query time falling in it / 60 s: the average number of sessions busy
with a (logged) query during that minute. Only logged (slow) statements count, so this is a lower
bound of the load Performance Insights would show.

:class:`LoadSeries` streams EVENT_SCHEMA batches (vectorised, no per-event Python work) and returns
the per-minute series of each instance's top classes by load, the rest summed as "other"
(``checksum`` null), as a :data:`DB_LOAD_SCHEMA` table (only minutes with some load).
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["DB_LOAD_SCHEMA", "LoadSeries", "TOP_N"]

TOP_N = 10  # classes per instance kept in the series; the others are summed as "other"
MAX_SPAN_S = 2 * 86400  # a longer query is counted over its last two days only
_SEP = "\x1f"

DB_LOAD_SCHEMA = pa.schema([
    pa.field("date", pa.date32()),
    pa.field("minute", pa.timestamp("us", tz="UTC")),  # start of the minute
    pa.field("instance", pa.string()),
    pa.field("rank", pa.int32()),  # 1 = the class with the most load on the instance that day; 0 = other
    pa.field("checksum", pa.string()),  # null for "other"
    pa.field("fingerprint", pa.string()),  # null for "other"
    pa.field("query_time_s", pa.float64()),  # seconds of query time falling in the minute
    pa.field("aas", pa.float64()),  # query_time_s / 60: average active sessions over the minute
])


def split_by_minute(end_us: np.ndarray, query_time: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each event ending at ``end_us`` (epoch µs) after ``query_time`` seconds: the (event index,
    epoch minute, seconds in that minute) pieces of its run."""
    if len(end_us) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    origin = int(end_us.min()) // 60_000_000  # epoch minute; times relative to it keep µs precision
    end = (end_us - origin * 60_000_000).astype(np.float64) / 1e6
    start = end - np.minimum(query_time, MAX_SPAN_S)
    m0 = np.floor(start / 60.0).astype(np.int64)
    m1 = np.maximum(np.ceil(end / 60.0).astype(np.int64) - 1, m0)
    k = m1 - m0 + 1
    idx = np.repeat(np.arange(len(end)), k)
    offsets = np.repeat(np.cumsum(k) - k, k)
    rel = m0[idx] + (np.arange(len(idx)) - offsets)
    seconds = np.minimum(end[idx], (rel + 1) * 60.0) - np.maximum(start[idx], rel * 60.0)
    minute = rel + origin
    return idx, minute, np.maximum(seconds, 0.0)


class LoadSeries:
    """Accumulates per (instance, class, minute) query seconds over batches of events."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._keys: list[tuple[str | None, str | None, str | None]] = []  # instance, checksum, fingerprint
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []  # (class id << 32 | minute offset, seconds)
        self._rows = 0
        self._base: int | None = None  # epoch minute the offsets count from

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        ts, qt = batch.column("ts"), batch.column("query_time")
        valid = pc.and_(pc.is_valid(ts), pc.and_(pc.is_valid(qt), pc.greater(pc.fill_null(qt, 0.0), 0.0)))
        if not pc.any(valid).as_py():
            return
        table = (pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch).filter(valid)
        end_us = table.column("ts").combine_chunks().cast(pa.int64()).to_numpy(zero_copy_only=False)
        seconds_total = table.column("query_time").combine_chunks().to_numpy(zero_copy_only=False)
        inst = table.column("instance").combine_chunks().cast(pa.string()).fill_null("")
        csum = table.column("checksum").combine_chunks().cast(pa.string()).fill_null("")
        encoded = pc.dictionary_encode(pc.binary_join_element_wise(inst, csum, _SEP))
        fps = table.column("fingerprint").combine_chunks()
        local = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        first_row = np.full(len(encoded.dictionary), -1, dtype=np.int64)
        first_row[local[::-1]] = np.arange(len(local))[::-1]
        gids = []
        for j, key in enumerate(encoded.dictionary.to_pylist()):
            gid = self._ids.get(key)
            if gid is None:
                gid = self._ids[key] = len(self._keys)
                i, c = key.split(_SEP)
                self._keys.append((i or None, c or None, fps[int(first_row[j])].as_py()))
            gids.append(gid)
        idx, minute, seconds = split_by_minute(end_us, seconds_total)
        if self._base is None:
            self._base = int(minute.min()) - MAX_SPAN_S // 60
        offset = minute - self._base
        keep = offset >= 0  # pieces over two days before the first event seen: dropped
        key = (np.asarray(gids, dtype=np.int64)[local[idx[keep]]] << 32) | offset[keep]
        seconds = seconds[keep]
        uniq, inverse = np.unique(key, return_inverse=True)
        self._parts.append((uniq, np.bincount(inverse, weights=seconds)))
        self._rows += len(uniq)
        if len(self._parts) > 1 and self._rows > 1 << 20:
            self._compact()

    def _compact(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        if len(self._parts) > 1:
            keys = np.concatenate([k for k, _ in self._parts])
            uniq, inverse = np.unique(keys, return_inverse=True)
            self._parts = [(uniq, np.bincount(inverse, weights=np.concatenate([s for _, s in self._parts])))]
        self._rows = len(self._parts[0][0])
        return self._parts[0]

    def to_table(self, day: dt.date | str | None = None, top_n: int = TOP_N) -> pa.Table:
        """The series: each instance's ``top_n`` classes by total load, the rest as "other"."""
        keys, seconds = self._compact()
        if len(keys) == 0:
            return DB_LOAD_SCHEMA.empty_table()
        gid = keys >> 32
        minute = (keys & 0xFFFFFFFF) + self._base
        per_class = np.bincount(gid, weights=seconds, minlength=len(self._keys))
        rank_of = np.zeros(len(self._keys), dtype=np.int32)
        by_instance: dict[str | None, list[int]] = {}
        for g, (inst, _, _) in enumerate(self._keys):
            by_instance.setdefault(inst, []).append(g)
        for members in by_instance.values():
            members.sort(key=lambda g: (-per_class[g], self._keys[g][1] or ""))
            for r, g in enumerate(members[:top_n], 1):
                rank_of[g] = r
        inst_id = {inst: i for i, inst in enumerate(by_instance)}
        inst_of = np.array([inst_id[k[0]] for k in self._keys], dtype=np.int64)
        # "other": classes past top_n, summed per instance and minute (class slot -1 - instance)
        rank = rank_of[gid]
        slot = np.where(rank > 0, gid, -1 - inst_of[gid])
        uniq, inverse = np.unique(np.stack([slot, minute]), axis=1, return_inverse=True)
        total = np.bincount(inverse.ravel(), weights=seconds)
        slots, minutes = uniq[0], uniq[1]
        instances = list(by_instance)
        rows_inst, rows_rank, rows_cs, rows_fp = [], [], [], []
        for s in slots.tolist():
            if s >= 0:
                inst, cs, fp = self._keys[s]
                rows_inst.append(inst), rows_rank.append(int(rank_of[s])), rows_cs.append(cs), rows_fp.append(fp)
            else:
                rows_inst.append(instances[-1 - s]), rows_rank.append(0), rows_cs.append(None), rows_fp.append(None)
        day_value = dt.date.fromisoformat(day) if isinstance(day, str) else day
        return pa.table({
            "date": pa.array([day_value] * len(slots), pa.date32()),
            "minute": pa.array(minutes * 60_000_000, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "instance": pa.array(rows_inst, pa.string()),
            "rank": pa.array(rows_rank, pa.int32()),
            "checksum": pa.array(rows_cs, pa.string()),
            "fingerprint": pa.array(rows_fp, pa.string()),
            "query_time_s": pa.array(total, pa.float64()),
            "aas": pa.array(total / 60.0, pa.float64()),
        }, schema=DB_LOAD_SCHEMA).sort_by([("instance", "ascending"), ("minute", "ascending"), ("rank", "ascending")])
