"""Streaming per-class aggregation (pt-query-digest's profile), in constant memory per class.

Counts, sums, min/max, mean and the sample stddev (n - 1, as pt-query-digest) are exact, over the
events that have a value of the metric (the others are counted in ``<metric>_missing``). Quantiles
come from a log-bucketed histogram (DDSketch-style, bucket ratio 1.02, see :mod:`.sketch`) whose
estimates are within 1% relative error of the exact nearest-rank quantile; ``to_table`` stores it
per class so that days merge (:mod:`dagster_project.rollup`). Work per batch is vectorised (Arrow group-by + numpy), not per event.

Memory is bounded in the number of classes: at most ``max_classes`` are kept (see :mod:`.digest_cap`
for the policy and its error bound); the events of the classes that do not fit are counted in one
*overflow* class, so the classes plus the overflow always add up to every event.
"""
from __future__ import annotations

import math
from datetime import date, datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .class_stats import ATTRS as _ATTRS, METRICS, ClassStats as _ClassStats
from .class_stats import combine as _combine, merge_stats as _merge_stats
from .digest_cap import OVERFLOW_CHECKSUM, OVERFLOW_FINGERPRINT, cap_order, resolve_max_classes
from .redact import redact_query
from .sketch import GAMMA, Sketch as _Sketch, SketchBuffer  # noqa: F401 - GAMMA re-exported

QUANTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
_KEY_SEP = "\x1f"
#: an example (the slowest query of its class) is cut to this many characters: a class's memory
#: must not grow with its queries' length (IN lists of thousands of values)
EXAMPLE_MAX_CHARS = 4096


class Digest:
    """Aggregate EVENT_SCHEMA batches per class (by default per checksum), keeping at most
    ``max_classes`` classes (``None``: ``$SLOWLOG_MAX_CLASSES`` or the default; 0: no cap)."""

    def __init__(self, group_by: tuple[str, ...] = ("checksum",), hourly: bool = False,
                 max_classes: int | None = None) -> None:
        if "checksum" not in group_by:
            raise ValueError("group_by must include 'checksum'")
        self.group_by = tuple(group_by)
        self.hourly = hourly
        self._classes: dict[tuple, _ClassStats] = {}
        self._by_index: list[_ClassStats] = []
        # Sketch updates of the four metric families (slot = class index) and "hourly" (slot =
        # class index * 24 + hour), applied to the per-class sketches only when results are asked
        # for or classes are evicted: no Python work per class and batch.
        self._pending = SketchBuffer()
        self.max_classes = resolve_max_classes(max_classes)
        self.overflow: _ClassStats | None = None  # the evicted classes' events, merged
        self.evicted = 0  # classes moved into the overflow (a class evicted twice counts twice)
        self.decrements = 0.0  # the cap's error bound, seconds of query time (digest_cap)
        self._waiting: list[pa.Table] = []  # added, not yet aggregated (see _MIN_ROWS)
        self._waiting_rows = 0
        self.events = 0

    # -- ingest ---------------------------------------------------------------------------------
    _MIN_ROWS = 32768  # batches are aggregated in groups at least this big: per-group work is fixed

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        n = batch.num_rows
        if n == 0:
            return
        self.events += n
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        if self._waiting and table.schema != self._waiting[0].schema:
            self._aggregate_waiting()
        self._waiting.append(table)
        self._waiting_rows += n
        if self._waiting_rows >= self._MIN_ROWS:
            self._aggregate_waiting()

    def _aggregate_waiting(self) -> None:
        if self._waiting:
            tables, self._waiting, self._waiting_rows = self._waiting, [], 0
            self._aggregate(tables[0] if len(tables) == 1 else pa.concat_tables(tables))
            if self.max_classes and len(self._by_index) > 2 * self.max_classes:
                self._evict(self.max_classes)  # amortised: a round every max_classes new classes

    def _aggregate(self, table: pa.Table) -> None:
        n = table.num_rows
        key_cols = [table.column(k).combine_chunks() for k in self.group_by]
        # One integer class id per row (vectorised), then a dict lookup per *distinct* class only.
        if len(key_cols) == 1:
            joined = key_cols[0].cast(pa.string()).fill_null("")
        else:
            parts = [c.cast(pa.string()).fill_null("") for c in key_cols]
            joined = pc.binary_join_element_wise(*parts, _KEY_SEP)
        encoded = pc.dictionary_encode(joined)
        uniques = [dict(zip(self.group_by, u.split(_KEY_SEP))) for u in encoded.dictionary.to_pylist()]
        local_ids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        fps = table.column("fingerprint").combine_chunks()
        engines = table.column("engine").combine_chunks()
        first_row = np.full(len(uniques), -1, dtype=np.int64)
        order = np.arange(n)
        # first occurrence of each class in this batch
        first_row[local_ids[::-1]] = order[::-1]
        stats: list[_ClassStats] = []
        for j, key in enumerate(uniques):
            k = tuple(key.values())
            cs = self._classes.get(k)
            if cs is None:
                r = int(first_row[j])
                cs = _ClassStats(dict(key), fps[r].as_py(), engines[r].as_py(), self.hourly, len(self._by_index))
                self._classes[k] = cs
                self._by_index.append(cs)
            stats.append(cs)
        global_ids = np.array([cs.index for cs in stats], dtype=np.int64)[local_ids]
        n_local = len(uniques)
        counts = np.bincount(local_ids, minlength=n_local)
        for j, cs in enumerate(stats):
            cs.count += int(counts[j])

        for m in METRICS:
            vals = table.column(m).combine_chunks()
            valid = ~np.asarray(vals.is_null().to_numpy(zero_copy_only=False))
            x = vals.to_numpy(zero_copy_only=False).astype(np.float64)
            x = np.where(valid, x, 0.0)
            ids = local_ids
            ns = np.bincount(ids[valid], minlength=n_local)
            sums = np.bincount(ids, weights=x, minlength=n_local)
            with np.errstate(invalid="ignore", divide="ignore"):
                means = np.where(ns > 0, sums / np.maximum(ns, 1), 0.0)
            dev = np.where(valid, x - means[ids], 0.0)
            m2s = np.bincount(ids, weights=dev * dev, minlength=n_local)
            mins = np.full(n_local, np.inf)
            maxs = np.full(n_local, -np.inf)
            if valid.all():
                np.minimum.at(mins, ids, x)
                np.maximum.at(maxs, ids, x)
                self._pending.add(m, global_ids, x)
            else:
                vids, vx = ids[valid], x[valid]
                np.minimum.at(mins, vids, vx)
                np.maximum.at(maxs, vids, vx)
                self._pending.add(m, global_ids[valid], vx)
            for j, cs in enumerate(stats):
                if ns[j]:
                    _combine(cs, m, int(ns[j]), float(sums[j]), float(m2s[j]))
                if mins[j] < cs.mins[m]:
                    cs.mins[m] = float(mins[j])
                if maxs[j] > cs.maxs[m]:
                    cs.maxs[m] = float(maxs[j])
            if m == "query_time":
                qt = x
                qt_valid = valid
                for j, cs in enumerate(stats):
                    cs.weight += float(sums[j])

        # Example: the event with the largest Query_time (what pt shows); among equal ones in a
        # batch, the last.
        score = np.where(qt_valid, qt, -1.0)
        top = np.full(n_local, -np.inf)
        np.maximum.at(top, local_ids, score)
        cand = np.flatnonzero(score == top[local_ids])
        best = np.full(n_local, -1, dtype=np.int64)
        best[local_ids[cand]] = cand  # repeated indices: the last assignment stays
        queries = table.column("query")
        for j, cs in enumerate(stats):
            r = int(best[j])
            if r >= 0 and (cs.example is None or score[r] > cs.example_qt):
                cs.example_qt = float(score[r])
                cs.example = _short(queries[r].as_py())

        # First/last seen.
        ts = table.column("ts").combine_chunks()
        if ts.null_count < n:
            t_int = ts.cast(pa.int64()).to_numpy(zero_copy_only=False)
            t_valid = ~np.asarray(ts.is_null().to_numpy(zero_copy_only=False))
            tmin = np.full(n_local, np.iinfo(np.int64).max)
            tmax = np.full(n_local, np.iinfo(np.int64).min)
            np.minimum.at(tmin, local_ids[t_valid], t_int[t_valid])
            np.maximum.at(tmax, local_ids[t_valid], t_int[t_valid])
            for j, cs in enumerate(stats):
                if tmin[j] != np.iinfo(np.int64).max:
                    lo, hi = int(tmin[j]), int(tmax[j])
                    cs.first = lo if cs.first is None else min(cs.first, lo)
                    cs.last = hi if cs.last is None else max(cs.last, hi)
            if self.hourly:
                hours = (t_int[t_valid] // 3_600_000_000) % 24
                self._add_hourly(global_ids[t_valid] * 24 + hours, qt[t_valid], qt_valid[t_valid])

        # Most frequent db / user / host per class: (class, value) pairs counted with one bincount.
        for a in _ATTRS:
            col = table.column(a).combine_chunks()
            if col.null_count == n:
                continue
            encoded = pc.dictionary_encode(col)
            values = encoded.dictionary.to_pylist()
            width = len(values) + 1  # the last code stands for null
            codes = encoded.indices.fill_null(len(values)).to_numpy(zero_copy_only=False).astype(np.int64)
            pair_counts = np.bincount(local_ids * width + codes, minlength=n_local * width)
            for pair in np.flatnonzero(pair_counts).tolist():
                c, v = divmod(pair, width)
                if v < len(values):
                    stats[c].attrs[a][values[v]] += int(pair_counts[pair])

    def _fold(self) -> None:
        """Aggregate what is waiting, and apply the buffered sketch updates to the per-class sketches."""
        self._aggregate_waiting()
        for family, slot, bucket, count in self._pending.drain():
            if family == "hourly":
                sketch = self._by_index[slot // 24].hourly[slot % 24][2]
            else:
                sketch = self._by_index[slot].sketches[family]
            if bucket is None:
                sketch.zeros += count
            else:
                sketch.buckets[bucket] += count

    def _finish(self) -> None:
        """Fold, then cap to ``max_classes`` (results, merges and pickles hold no more)."""
        self._fold()
        if self.max_classes and len(self._by_index) > self.max_classes:
            self._evict(self.max_classes)

    def _evict(self, keep: int) -> None:
        """Keep the ``keep`` classes first in :func:`~.digest_cap.cap_order` (their counters less
        the next one's, the decrement); merge the others into the overflow."""
        self._fold()
        order, decrement = cap_order([cs.weight for cs in self._by_index], [cs.count for cs in self._by_index], keep)
        self.decrements += decrement
        kept = [self._by_index[i] for i in order[:keep]]
        for i in order[keep:]:
            self._to_overflow(self._by_index[i])
        self._by_index = kept
        self._classes = {}
        for index, cs in enumerate(kept):
            cs.index = index
            cs.weight = max(0.0, cs.weight - decrement)
            self._classes[tuple(cs.keys.values())] = cs

    def _to_overflow(self, cs: _ClassStats) -> None:
        self.evicted += 1
        if self.overflow is None:
            keys = {**cs.keys, "checksum": OVERFLOW_CHECKSUM}
            self.overflow = _ClassStats(keys, OVERFLOW_FINGERPRINT, cs.engine, self.hourly, -1)
        _merge_stats(self.overflow, cs)

    def _add_hourly(self, slots: np.ndarray, qt: np.ndarray, qt_valid: np.ndarray) -> None:
        uniq, inverse, counts = np.unique(slots, return_inverse=True, return_counts=True)
        sums = np.bincount(inverse, weights=np.where(qt_valid, qt, 0.0))
        for slot, count, total in zip(uniq.tolist(), counts.tolist(), sums.tolist()):
            cs, hour = self._by_index[slot // 24], slot % 24
            entry = cs.hourly.get(hour)
            if entry is None:
                entry = cs.hourly[hour] = [0, 0.0, _Sketch()]
            entry[0] += count
            entry[1] += total
        self._pending.add("hourly", slots[qt_valid], qt[qt_valid])

    def __getstate__(self):
        self._finish()  # workers send folded, capped digests
        return self.__dict__

    def merge(self, other: "Digest") -> None:
        """Fold another digest (e.g. from a worker process) into this one."""
        if other.group_by != self.group_by:
            raise ValueError("cannot merge digests with different group_by")
        self._fold()
        other._finish()
        self.events += other.events
        self.evicted += other.evicted
        self.decrements += other.decrements
        if other.overflow is not None:
            if self.overflow is None:
                self.overflow = other.overflow
            else:
                _merge_stats(self.overflow, other.overflow)
        for key, o in other._classes.items():
            cs = self._classes.get(key)
            if cs is None:
                o.index = len(self._by_index)
                self._classes[key] = o
                self._by_index.append(o)
            else:
                cs.weight += o.weight
                _merge_stats(cs, o)
        if self.max_classes and len(self._by_index) > 2 * self.max_classes:
            self._evict(self.max_classes)

    # -- results --------------------------------------------------------------------------------
    def _metric(self, cs: _ClassStats, m: str) -> dict:
        """Figures over the events that have a value of ``m`` (see the README's "Statistics")."""
        n = cs.ns[m]
        lo, hi = cs.mins[m], cs.maxs[m]
        if n == 0 or lo == math.inf:
            return {"sum": 0.0, "min": 0.0, "max": 0.0, "avg": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "stddev": 0.0}
        s = cs.sums[m]
        out = {"sum": s, "min": lo, "max": hi, "avg": min(max(s / n, lo), hi)}
        sk = cs.sketches[m]
        for name, q in QUANTILES:
            out[name] = sk.quantile(q, n, lo, hi)
        # sample standard deviation (n - 1), as pt-query-digest reports it
        out["stddev"] = math.sqrt(max(0.0, cs.m2[m]) / (n - 1)) if n > 1 else 0.0
        return out

    @staticmethod
    def _iso(us: int | None) -> str | None:
        if us is None:
            return None
        return datetime.fromtimestamp(us / 1e6, timezone.utc).isoformat().replace("+00:00", "Z")

    def _entry(self, cs: _ClassStats) -> dict:
        entry = dict(cs.keys)
        entry.update(fingerprint=cs.fingerprint, count=cs.count, engine=cs.engine)
        for m in METRICS:
            entry[m] = self._metric(cs, m)
        for m in METRICS:  # events of the class without a value of m (in count, not in m's figures)
            entry[f"{m}_missing"] = cs.count - cs.ns[m]
        entry["first_seen"] = self._iso(cs.first)
        entry["last_seen"] = self._iso(cs.last)
        entry["example"] = cs.example
        for a in _ATTRS:
            common = cs.attrs[a].most_common(1)
            entry[a] = common[0][0] if common else None
        return entry

    def classes(self) -> list[dict]:
        """The listed classes (at most ``max_classes``), most total query time first."""
        self._finish()
        out = [self._entry(cs) for cs in self._classes.values()]
        out.sort(key=lambda e: class_order(e["query_time"]["sum"], e["count"], e["checksum"]))
        return out

    def overflow_entry(self) -> dict | None:
        """The events of the classes not listed, as one class (``None`` when nothing was evicted),
        with ``evicted`` (classes moved into it) and ``query_time_bound`` (seconds: any class with
        more total query time is listed, and a listed class misses at most that much of it)."""
        self._finish()
        if self.overflow is None:
            return None
        entry = self._entry(self.overflow)
        entry.update(evicted=self.evicted, query_time_bound=self.decrements, max_classes=self.max_classes)
        return entry

    def to_table(self, day: date | str | None = None) -> pa.Table:
        """Flat table for the `query_digest` warehouse table (one row per class)."""
        rows = self.classes()
        overflow = self.overflow_entry()
        if overflow is not None:
            rows.append(overflow)  # last, checksum OVERFLOW_CHECKSUM: sums over the rows stay whole
        day_value = date.fromisoformat(day) if isinstance(day, str) else day
        cols: dict[str, list] = {k: [] for k in DIGEST_SCHEMA.names}
        for e in rows:
            cols["date"].append(day_value)
            cols["instance"].append(e.get("instance"))
            cols["engine"].append(e.get("engine"))
            cols["checksum"].append(e["checksum"])
            cols["fingerprint"].append(e["fingerprint"])
            cols["count"].append(e["count"])
            cs = self.overflow if e is overflow else self._classes[tuple(e[g] for g in self.group_by)]
            for m in METRICS:
                for stat in _STATS:
                    cols[f"{m}_{stat}"].append(e[m][stat])
                cols[f"{m}_missing"].append(e[f"{m}_missing"])
                buckets, counts = cs.sketches[m].to_lists()
                cols[f"{m}_sketch_bucket"].append(buckets)
                cols[f"{m}_sketch_count"].append(counts)
            cols["first_seen"].append(_parse_iso(e["first_seen"]))
            cols["last_seen"].append(_parse_iso(e["last_seen"]))
            cols["example"].append(e["example"])
            cols["example_redacted"].append(redact_query(e["example"], e.get("engine")) if e["example"] is not None else None)
            for a in _ATTRS:
                cols[a].append(e[a])
            hourly = []
            if cs.hourly:
                for hour in sorted(cs.hourly):
                    cnt, s, sk = cs.hourly[hour]
                    hourly.append({"hour": hour, "count": cnt, "query_time_sum": s,
                                   "query_time_p95": sk.quantile(0.95, sk.n, 0.0, math.inf)})
            cols["hourly"].append(hourly)
        return pa.table(cols, schema=DIGEST_SCHEMA)


def class_order(query_time_sum: float | None, count: int | None, checksum: str | None) -> tuple:
    """Sort key of the classes: most total time first, then most executions, then checksum. The sum
    is rounded to the ns: float sums differ in the last bit with batch boundaries (serial vs
    parallel, a unit's part vs its events read back), which must not reorder classes of equal time."""
    return -round(query_time_sum or 0.0, 9), -(count or 0), checksum or ""


def _short(query: str | None) -> str | None:
    return query if query is None or len(query) <= EXAMPLE_MAX_CHARS else query[:EXAMPLE_MAX_CHARS]


def _parse_iso(text: str | None):
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


_STATS = ("sum", "min", "max", "avg", "p50", "p95", "p99", "stddev")
DIGEST_SCHEMA = pa.schema(
    [pa.field("date", pa.date32()), pa.field("instance", pa.string()), pa.field("engine", pa.string()),
     pa.field("checksum", pa.string()), pa.field("fingerprint", pa.string()), pa.field("count", pa.int64())]
    + [pa.field(f"{m}_{s}", pa.float64()) for m in METRICS for s in _STATS]
    + [pa.field("first_seen", pa.timestamp("us", tz="UTC")), pa.field("last_seen", pa.timestamp("us", tz="UTC")),
       pa.field("example", pa.string()), pa.field("example_redacted", pa.string()),
       pa.field("db", pa.string()), pa.field("user", pa.string()), pa.field("host", pa.string()),
       pa.field("hourly", pa.list_(pa.struct([pa.field("hour", pa.int8()), pa.field("count", pa.int64()),
                                              pa.field("query_time_sum", pa.float64()),
                                              pa.field("query_time_p95", pa.float64())])))]
    # events without a value of the metric, and the mergeable sketch (see sketch.py)
    + [pa.field(f"{m}_missing", pa.int64()) for m in METRICS]
    + [f for m in METRICS for f in (pa.field(f"{m}_sketch_bucket", pa.list_(pa.int32())),
                                    pa.field(f"{m}_sketch_count", pa.list_(pa.int64())))]
)
SKETCH_COLUMNS = tuple(c for m in METRICS for c in (f"{m}_sketch_bucket", f"{m}_sketch_count"))
