"""The log-bucket quantile sketch of the digest (DDSketch-style), and its portable form.

A value ``x > 0`` falls in bucket ``i = ceil(ln(x) / ln(GAMMA))``, i.e. ``GAMMA**(i-1) < x <= GAMMA**i``
with ``GAMMA = 1.02``; values ``<= 0`` are counted in bucket :data:`ZERO_BUCKET`. A bucket stands for
``2 * GAMMA**i / (GAMMA + 1)``, within ``(GAMMA - 1) / (GAMMA + 1)`` (< 1%) of any value in it, so a
quantile read from the buckets is within 1% of the exact nearest-rank quantile. Bucket counts add up:
the sketch of a week is the sum, bucket by bucket, of the daily sketches (exactly what a merge of the
raw events would give).

Portable form (``query_digest`` columns ``<metric>_sketch_bucket`` list<int32> and
``<metric>_sketch_count`` list<int64>, same length, buckets ascending): the (bucket, count) pairs
with a non-zero count. Any engine that can unnest two lists can merge and query them (see README,
"Statistics").
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

__all__ = ["GAMMA", "ZERO_BUCKET", "Sketch", "bucket_value", "buckets_of", "quantile_from_counts"]

GAMMA = 1.02
LOG_GAMMA = math.log(GAMMA)
ZERO_BUCKET = -(2**31)  # int32 minimum: sorts first; stands for 0 (values <= 0)


def bucket_value(index: int) -> float:
    """The value bucket ``index`` stands for (its relative midpoint; 0 for :data:`ZERO_BUCKET`)."""
    if index == ZERO_BUCKET:
        return 0.0
    return 2.0 * GAMMA**index / (GAMMA + 1.0)


def buckets_of(x: np.ndarray) -> np.ndarray:
    """Bucket index of each value (int64; :data:`ZERO_BUCKET` for values <= 0)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(len(x), ZERO_BUCKET, dtype=np.int64)
    pos = x > 0
    out[pos] = np.ceil(np.log(x[pos]) / LOG_GAMMA).astype(np.int64)
    return out


def quantile_from_counts(buckets: Sequence[int], counts: Sequence[int], q: float, lo: float, hi: float) -> float:
    """Nearest-rank ``q`` quantile of a sketch given as (bucket, count) pairs (any order, repeats
    allowed: they are summed), clamped to the exact ``[lo, hi]``; 0.0 for an empty sketch."""
    b = np.asarray(buckets, dtype=np.int64)
    c = np.asarray(counts, dtype=np.int64)
    n = int(c.sum()) if len(c) else 0
    if n == 0:
        return 0.0
    uniq, inverse = np.unique(b, return_inverse=True)
    merged = np.bincount(inverse, weights=c).astype(np.int64)
    rank = max(1, math.ceil(q * n))
    k = int(np.searchsorted(np.cumsum(merged), rank))
    index = int(uniq[min(k, len(uniq) - 1)])
    if index == ZERO_BUCKET:
        return 0.0 if lo <= 0.0 else lo
    return min(max(bucket_value(index), lo), hi)


class Sketch:
    """Histogram of positive values by log bucket, plus a count of zeros (and of negatives)."""

    __slots__ = ("zeros", "buckets")

    def __init__(self) -> None:
        self.zeros = 0
        self.buckets: Counter = Counter()

    @property
    def n(self) -> int:
        return self.zeros + sum(self.buckets.values())

    def merge(self, other: "Sketch") -> None:
        self.zeros += other.zeros
        self.buckets.update(other.buckets)

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
                return min(max(bucket_value(k), lo), hi)
        return hi

    def to_lists(self) -> tuple[list[int], list[int]]:
        """The portable form: (buckets ascending, counts), zeros first as :data:`ZERO_BUCKET`."""
        keys = sorted(k for k, v in self.buckets.items() if v)
        buckets = ([ZERO_BUCKET] if self.zeros else []) + keys
        counts = ([self.zeros] if self.zeros else []) + [int(self.buckets[k]) for k in keys]
        return buckets, counts


class SketchBuffer:
    """Sketch updates buffered as ``(slot << 17 | bucket) -> count`` arrays per sketch family (a
    family is a set of sketches numbered by slot, e.g. one metric's sketches of every class), so
    that adding a batch costs no Python work per class; :meth:`drain` hands them out to be applied
    to the sketches when results are asked for (:meth:`compact` bounds the memory in between)."""

    BUCKET_BITS = 17  # buckets span about +-35,000 (1e-300 .. 1e308): they fit 2**16 either side
    BUCKET_BIAS = 1 << 16  # added to a bucket to pack it in the low BUCKET_BITS bits
    ZERO = -BUCKET_BIAS  # the packed bucket of values <= 0
    FOLD_ROWS = 1 << 20  # compacted past this many buffered rows

    def __init__(self) -> None:
        self._pending: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._rows = 0

    def __bool__(self) -> bool:
        return bool(self._pending)

    def add(self, family: str, slots: np.ndarray, x: np.ndarray) -> None:
        """Count value ``x[i]`` in sketch ``slots[i]`` of ``family``."""
        if not len(x):
            return
        pos = x > 0
        positive = np.ceil(np.log(x[pos]) / LOG_GAMMA).astype(np.int64)
        b_lo = int(positive.min()) if len(positive) else 0
        span = (int(positive.max()) - b_lo + 2) if len(positive) else 1
        s_lo = int(slots.min())
        if (int(slots.max()) - s_lo + 1) * span <= 1 << 22:  # dense: a bincount, not a sort
            cell = np.zeros(len(x), dtype=np.int64)  # 0 = value <= 0, else bucket - b_lo + 1
            cell[pos] = positive - (b_lo - 1)
            dense = np.bincount((slots - s_lo) * span + cell)
            hit = np.flatnonzero(dense)
            counts = dense[hit]
            slot, hit_cell = np.divmod(hit, span)
            bucket = np.where(hit_cell == 0, self.ZERO, hit_cell + (b_lo - 1))
            uniq = ((slot + s_lo) << self.BUCKET_BITS) | (bucket + self.BUCKET_BIAS)
        else:
            bucket = np.full(len(x), self.ZERO, dtype=np.int64)
            bucket[pos] = positive
            uniq, counts = np.unique((slots << self.BUCKET_BITS) | (bucket + self.BUCKET_BIAS), return_counts=True)
        self._pending.setdefault(family, []).append((uniq, counts))
        self._rows += len(uniq)
        if self._rows > self.FOLD_ROWS:
            self.compact()

    def compact(self) -> None:
        """Merge each family's buffered arrays into one (bounded memory between drains)."""
        self._rows = 0
        for parts in self._pending.values():
            if len(parts) > 1:
                keys = np.concatenate([k for k, _ in parts])
                uniq, inverse = np.unique(keys, return_inverse=True)
                counts = np.bincount(inverse, weights=np.concatenate([c for _, c in parts])).astype(np.int64)
                parts[:] = [(uniq, counts)]
            self._rows += len(parts[0][0]) if parts else 0

    def drain(self):
        """Yield ``(family, slot, bucket, count)`` of every buffered update (bucket ``None`` for
        values <= 0), and empty the buffer."""
        self.compact()
        pending, self._pending, self._rows = self._pending, {}, 0
        mask = (1 << self.BUCKET_BITS) - 1
        for family, parts in pending.items():
            for keys, counts in parts:
                slots = (keys >> self.BUCKET_BITS).tolist()
                buckets = ((keys & mask) - self.BUCKET_BIAS).tolist()
                for slot, bucket, count in zip(slots, buckets, counts.tolist()):
                    yield family, slot, (None if bucket == self.ZERO else bucket), count
