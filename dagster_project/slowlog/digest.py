"""Streaming per-class aggregation (pt-query-digest's profile), in constant memory per class.

Counts, sums, min/max, mean and stddev are exact. Quantiles come from a log-bucketed histogram
(DDSketch-style, bucket ratio 1.02) whose estimates are within 1% relative error of the exact
nearest-rank quantile. Work per batch is vectorised (Arrow group-by + numpy), not per event.
"""
from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .redact import redact_query

METRICS = ("query_time", "lock_time", "rows_sent", "rows_examined")
QUANTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
GAMMA = 1.02
_LOG_GAMMA = math.log(GAMMA)
_ATTRS = ("db", "user", "host")
_KEY_SEP = "\x1f"


def _bucket_value(index: int) -> float:
    # Midpoint (in relative terms) of the bucket (gamma^(i-1), gamma^i]: error <= (g-1)/(g+1) < 1%.
    return 2.0 * GAMMA**index / (GAMMA + 1.0)


class _Sketch:
    """Histogram of positive values by log bucket, plus a count of zeros (and of negatives)."""

    __slots__ = ("zeros", "buckets")

    def __init__(self) -> None:
        self.zeros = 0
        self.buckets: Counter = Counter()

    def add_many(self, bucket_ids: np.ndarray, counts: np.ndarray, zeros: int) -> None:
        self.zeros += zeros
        b = self.buckets
        for k, c in zip(bucket_ids.tolist(), counts.tolist()):
            b[k] += c

    def quantile(self, q: float, n: int, lo: float, hi: float) -> float:
        if n == 0:
            return 0.0
        rank = max(1, math.ceil(q * n))  # nearest-rank definition
        if rank <= self.zeros:
            return 0.0 if lo <= 0.0 else lo
        seen = self.zeros
        for k in sorted(self.buckets):
            seen += self.buckets[k]
            if seen >= rank:
                return min(max(_bucket_value(k), lo), hi)
        return hi


class _ClassStats:
    __slots__ = ("count", "sums", "sumsq", "mins", "maxs", "sketches", "first", "last",
                 "example", "example_qt", "fingerprint", "engine", "attrs", "hourly", "keys")

    def __init__(self, keys: dict, fingerprint: str, engine: str | None, hourly: bool) -> None:
        self.keys = keys
        self.count = 0
        self.sums = dict.fromkeys(METRICS, 0.0)
        self.sumsq = dict.fromkeys(METRICS, 0.0)
        self.mins = dict.fromkeys(METRICS, math.inf)
        self.maxs = dict.fromkeys(METRICS, -math.inf)
        self.sketches = {m: _Sketch() for m in METRICS}
        self.first = None
        self.last = None
        self.example = None
        self.example_qt = -math.inf
        self.fingerprint = fingerprint
        self.engine = engine
        self.attrs = {a: Counter() for a in _ATTRS}
        self.hourly: dict[int, list] | None = {} if hourly else None  # hour -> [count, sum, _Sketch]


class Digest:
    """Aggregate EVENT_SCHEMA batches per class (by default per checksum)."""

    def __init__(self, group_by: tuple[str, ...] = ("checksum",), hourly: bool = False) -> None:
        if "checksum" not in group_by:
            raise ValueError("group_by must include 'checksum'")
        self.group_by = tuple(group_by)
        self.hourly = hourly
        self._classes: dict[tuple, _ClassStats] = {}
        self.events = 0

    # -- ingest ---------------------------------------------------------------------------------
    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        n = batch.num_rows
        if n == 0:
            return
        self.events += n
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
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
                cs = _ClassStats(dict(key), fps[r].as_py(), engines[r].as_py(), self.hourly)
                self._classes[k] = cs
            stats.append(cs)
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
            sums = np.bincount(ids, weights=x, minlength=n_local)
            sumsq = np.bincount(ids, weights=x * x, minlength=n_local)
            mins = np.full(n_local, np.inf)
            maxs = np.full(n_local, -np.inf)
            if valid.all():
                np.minimum.at(mins, ids, x)
                np.maximum.at(maxs, ids, x)
                vids, vx = ids, x
            else:
                vids, vx = ids[valid], x[valid]
                np.minimum.at(mins, vids, vx)
                np.maximum.at(maxs, vids, vx)
            self._add_sketch(m, stats, vids, vx, n_local)
            for j, cs in enumerate(stats):
                cs.sums[m] += float(sums[j])
                cs.sumsq[m] += float(sumsq[j])
                if mins[j] < cs.mins[m]:
                    cs.mins[m] = float(mins[j])
                if maxs[j] > cs.maxs[m]:
                    cs.maxs[m] = float(maxs[j])
            if m == "query_time":
                qt = x
                qt_valid = valid

        # Example: the event with the largest Query_time (what pt shows).
        best = np.full(n_local, -1, dtype=np.int64)
        score = np.where(qt_valid, qt, -1.0)
        sort_idx = np.lexsort((score, local_ids))  # by class, then by score ascending
        last_of_class = np.r_[local_ids[sort_idx][1:] != local_ids[sort_idx][:-1], True]
        best[local_ids[sort_idx][last_of_class]] = sort_idx[last_of_class]
        queries = table.column("query")
        for j, cs in enumerate(stats):
            r = int(best[j])
            if r >= 0 and (cs.example is None or score[r] > cs.example_qt):
                cs.example_qt = float(score[r])
                cs.example = queries[r].as_py()

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
                hours = (t_int // 3_600_000_000) % 24
                self._add_hourly(stats, local_ids[t_valid], hours[t_valid], qt[t_valid], qt_valid[t_valid])

        # Most frequent db / user / host per class.
        ids_arr = pa.array(local_ids)
        for a in _ATTRS:
            col = table.column(a).combine_chunks()
            if col.null_count == n:
                continue
            g = pa.table({"c": ids_arr, "v": col}).group_by(["c", "v"]).aggregate([([], "count_all")])
            for c, v, k in zip(g.column("c").to_pylist(), g.column("v").to_pylist(), g.column("count_all").to_pylist()):
                if v is not None:
                    stats[c].attrs[a][v] += k

    def _add_sketch(self, metric, stats, ids, x, n_local) -> None:
        pos = x > 0
        zeros = np.bincount(ids[~pos], minlength=n_local)
        b = np.ceil(np.log(x[pos]) / _LOG_GAMMA).astype(np.int64)
        pid = ids[pos]
        if len(b):
            off = b.min()
            span = int(b.max() - off + 1)
            combo = pid * span + (b - off)
            uniq, cnt = np.unique(combo, return_counts=True)
            cls = uniq // span
            bucket = uniq % span + off
            # split by class
            bounds = np.flatnonzero(np.r_[True, cls[1:] != cls[:-1], True])
            for s, e in zip(bounds[:-1], bounds[1:]):
                stats[int(cls[s])].sketches[metric].add_many(bucket[s:e], cnt[s:e], 0)
        for j in np.flatnonzero(zeros):
            stats[int(j)].sketches[metric].zeros += int(zeros[j])

    def _add_hourly(self, stats, ids, hours, qt, qt_valid) -> None:
        for j_cls, hour, v, ok in zip(ids.tolist(), hours.tolist(), qt.tolist(), qt_valid.tolist()):
            slot = stats[j_cls].hourly.get(hour)
            if slot is None:
                slot = stats[j_cls].hourly[hour] = [0, 0.0, _Sketch()]
            slot[0] += 1
            if ok:
                slot[1] += v
                sk = slot[2]
                if v > 0:
                    sk.buckets[math.ceil(math.log(v) / _LOG_GAMMA)] += 1
                else:
                    sk.zeros += 1

    def merge(self, other: "Digest") -> None:
        """Fold another digest (e.g. from a worker process) into this one."""
        if other.group_by != self.group_by:
            raise ValueError("cannot merge digests with different group_by")
        self.events += other.events
        for key, o in other._classes.items():
            cs = self._classes.get(key)
            if cs is None:
                self._classes[key] = o
                continue
            cs.count += o.count
            for m in METRICS:
                cs.sums[m] += o.sums[m]
                cs.sumsq[m] += o.sumsq[m]
                cs.mins[m] = min(cs.mins[m], o.mins[m])
                cs.maxs[m] = max(cs.maxs[m], o.maxs[m])
                cs.sketches[m].zeros += o.sketches[m].zeros
                cs.sketches[m].buckets.update(o.sketches[m].buckets)
            if o.first is not None:
                cs.first = o.first if cs.first is None else min(cs.first, o.first)
                cs.last = o.last if cs.last is None else max(cs.last, o.last)
            if o.example is not None and (cs.example is None or o.example_qt > cs.example_qt):
                cs.example, cs.example_qt = o.example, o.example_qt
            for a in _ATTRS:
                cs.attrs[a].update(o.attrs[a])
            if cs.hourly is not None and o.hourly:
                for hour, (cnt, total, sk) in o.hourly.items():
                    slot = cs.hourly.get(hour)
                    if slot is None:
                        cs.hourly[hour] = [cnt, total, sk]
                    else:
                        slot[0] += cnt
                        slot[1] += total
                        slot[2].zeros += sk.zeros
                        slot[2].buckets.update(sk.buckets)

    # -- results --------------------------------------------------------------------------------
    def _metric(self, cs: _ClassStats, m: str) -> dict:
        n = cs.count
        lo, hi = cs.mins[m], cs.maxs[m]
        if lo == math.inf:
            return {"sum": 0.0, "min": 0.0, "max": 0.0, "avg": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "stddev": 0.0}
        s = cs.sums[m]
        mean = s / n
        var = max(0.0, cs.sumsq[m] / n - mean * mean)
        out = {"sum": s, "min": lo, "max": hi, "avg": mean}
        sk = cs.sketches[m]
        for name, q in QUANTILES:
            out[name] = sk.quantile(q, n, lo, hi)
        out["stddev"] = math.sqrt(var)
        return out

    @staticmethod
    def _iso(us: int | None) -> str | None:
        if us is None:
            return None
        return datetime.fromtimestamp(us / 1e6, timezone.utc).isoformat().replace("+00:00", "Z")

    def classes(self) -> list[dict]:
        out = []
        for cs in self._classes.values():
            entry = dict(cs.keys)
            entry.update(
                fingerprint=cs.fingerprint,
                count=cs.count,
                engine=cs.engine,
            )
            for m in METRICS:
                entry[m] = self._metric(cs, m)
            entry["first_seen"] = self._iso(cs.first)
            entry["last_seen"] = self._iso(cs.last)
            entry["example"] = cs.example
            for a in _ATTRS:
                common = cs.attrs[a].most_common(1)
                entry[a] = common[0][0] if common else None
            out.append(entry)
        # rounded to ns: float sums differ in the last bit with batch boundaries (serial vs parallel),
        # which must not reorder classes of equal total time
        out.sort(key=lambda e: (-round(e["query_time"]["sum"], 9), -e["count"], e["checksum"]))
        return out

    def to_table(self, day: date | str | None = None) -> pa.Table:
        """Flat table for the `query_digest` warehouse table (one row per class)."""
        rows = self.classes()
        day_value = date.fromisoformat(day) if isinstance(day, str) else day
        cols: dict[str, list] = {k: [] for k in DIGEST_SCHEMA.names}
        for e in rows:
            cols["date"].append(day_value)
            cols["instance"].append(e.get("instance"))
            cols["engine"].append(e.get("engine"))
            cols["checksum"].append(e["checksum"])
            cols["fingerprint"].append(e["fingerprint"])
            cols["count"].append(e["count"])
            for m in METRICS:
                for stat in ("sum", "min", "max", "avg", "p50", "p95", "p99", "stddev"):
                    cols[f"{m}_{stat}"].append(e[m][stat])
            cols["first_seen"].append(_parse_iso(e["first_seen"]))
            cols["last_seen"].append(_parse_iso(e["last_seen"]))
            cols["example"].append(e["example"])
            cols["example_redacted"].append(redact_query(e["example"]) if e["example"] is not None else None)
            for a in _ATTRS:
                cols[a].append(e[a])
            cs = self._classes[tuple(e[g] for g in self.group_by)]
            hourly = []
            if cs.hourly:
                for hour in sorted(cs.hourly):
                    cnt, s, sk = cs.hourly[hour]
                    hourly.append({"hour": hour, "count": cnt, "query_time_sum": s,
                                   "query_time_p95": sk.quantile(0.95, sk.zeros + sum(sk.buckets.values()), 0.0, math.inf)})
            cols["hourly"].append(hourly)
        return pa.table(cols, schema=DIGEST_SCHEMA)


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
)
