"""One query class's running figures (a :class:`~.digest.Digest` keeps one per class, and one for
its overflow): exact counts, sums, extremes and squared deviations per metric, a quantile sketch
per metric, first / last seen, the slowest example and the most frequent db / user / host."""
from __future__ import annotations

import math
from collections import Counter

from .sketch import Sketch

METRICS = ("query_time", "lock_time", "rows_sent", "rows_examined")
ATTRS = ("db", "user", "host")


class ClassStats:
    """The figures of one class (``index`` >= 0, its position in the digest) or of the overflow (-1)."""

    __slots__ = ("count", "ns", "sums", "m2", "mins", "maxs", "sketches", "first", "last",
                 "example", "example_qt", "fingerprint", "engine", "attrs", "hourly", "keys", "index",
                 "weight")

    def __init__(self, keys: dict, fingerprint: str, engine: str | None, hourly: bool, index: int = 0) -> None:
        self.keys = keys
        self.index = index  # position in Digest._by_index (buffered sketch rows refer to it)
        self.count = 0
        self.ns = dict.fromkeys(METRICS, 0)  # events with a value of the metric (count - missing)
        self.sums = dict.fromkeys(METRICS, 0.0)
        self.m2 = dict.fromkeys(METRICS, 0.0)  # sum of squared deviations from the mean (Chan et al.)
        self.mins = dict.fromkeys(METRICS, math.inf)
        self.maxs = dict.fromkeys(METRICS, -math.inf)
        self.sketches = {m: Sketch() for m in METRICS}
        self.first = None
        self.last = None
        self.example = None
        self.example_qt = -math.inf
        self.fingerprint = fingerprint
        self.engine = engine
        self.attrs = {a: Counter() for a in ATTRS}
        self.hourly: dict[int, list] | None = {} if hourly else None  # hour -> [count, sum, _Sketch]
        self.weight = 0.0  # the cap's counter: query time since admitted, less decrements (digest_cap)


def combine(cs: ClassStats, m: str, n_b: int, sum_b: float, m2_b: float) -> None:
    """Add a group of ``n_b`` values (sum, sum of squared deviations) to ``cs``'s metric ``m``."""
    n_a = cs.ns[m]
    if n_a:
        delta = sum_b / n_b - cs.sums[m] / n_a
        cs.m2[m] += m2_b + delta * delta * n_a * n_b / (n_a + n_b)
    else:
        cs.m2[m] = m2_b
    cs.ns[m] = n_a + n_b
    cs.sums[m] += sum_b


def merge_stats(cs: ClassStats, o: ClassStats) -> None:
    """Add class ``o``'s figures to ``cs`` (``o`` is folded; it may be used up)."""
    cs.count += o.count
    for m in METRICS:
        if o.ns[m]:
            combine(cs, m, o.ns[m], o.sums[m], o.m2[m])
        cs.mins[m] = min(cs.mins[m], o.mins[m])
        cs.maxs[m] = max(cs.maxs[m], o.maxs[m])
        cs.sketches[m].merge(o.sketches[m])
    if o.first is not None:
        cs.first = o.first if cs.first is None else min(cs.first, o.first)
        cs.last = o.last if cs.last is None else max(cs.last, o.last)
    if cs.index >= 0 and o.example is not None and (cs.example is None or o.example_qt > cs.example_qt):
        cs.example, cs.example_qt = o.example, o.example_qt  # (the overflow, index -1, keeps none)
    for a in ATTRS:
        cs.attrs[a].update(o.attrs[a])
    if cs.hourly is not None and o.hourly:
        for hour, (cnt, total, sk) in o.hourly.items():
            slot = cs.hourly.get(hour)
            if slot is None:
                cs.hourly[hour] = [cnt, total, sk]
            else:
                slot[0] += cnt
                slot[1] += total
                slot[2].merge(sk)
    if cs.index < 0:  # the overflow: of several instances (engines), it names none
        for k, v in o.keys.items():
            if k != "checksum" and cs.keys.get(k) != v:
                cs.keys[k] = None
        if cs.engine != o.engine:
            cs.engine = None
