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
