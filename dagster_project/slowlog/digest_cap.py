"""The digest's cap on the number of classes: which classes stay listed, and what that costs.

Logs with generated table names, IN lists of varying length or ORM-made aliases have an unbounded
number of classes; like MySQL's ``performance_schema_digests_size`` and ``pg_stat_statements.max``,
a :class:`~.digest.Digest` keeps at most ``max_classes`` (default :data:`DEFAULT_MAX_CLASSES`,
``$SLOWLOG_MAX_CLASSES``, 0 = no cap) and counts the events of the others in one *overflow* class
(checksum :data:`OVERFLOW_CHECKSUM`, fingerprint :data:`OVERFLOW_FINGERPRINT`): every event stays
counted, in a listed class or in the overflow.

Policy: weighted Misra-Gries ("Frequent") on total query time. Each class has a counter, its query
time since it was (last) admitted. Every new class is admitted; when there are more than
``2 * max_classes`` (and when results are asked for: then more than ``max_classes``), the classes
are ordered by counter (then executions), the first ``max_classes`` stay, each less ``d``, the
counter of the first one that does not; the others go into the overflow. So a class that becomes
heavy late gets in (performance_schema keeps the first classes seen and sends every later one to
its NULL row), and classes are judged on their query time, what a digest ranks them by
(pg_stat_statements evicts the least executed, whatever they cost), with a guarantee:

Error bound: each round takes at least ``(max_classes + 1) * d`` off the counters, which never
hold more than the total query time ``T``, so the sum ``D`` of the decrements is at most
``T / (max_classes + 1)``. The query time a class had when evicted is at most the decrements since
its admission, so (i) every class with more than ``D`` seconds of total query time is listed, and
(ii) a listed class's figures miss at most ``D`` seconds of its query time (its events before its
last admission, counted in the overflow). ``D`` is reported as the overflow's
``query_time_bound``. Merging capped digests (a day's parts, a parallel parse's pieces) adds the
counters and the decrements, and the bound holds for the merged whole.

Memory: about 4.5 KB a class (5 KB with the pipeline's hourly figures; examples are cut to
``EXAMPLE_MAX_CHARS``), so the default 10,000 (up to 20,000 between rounds) hold under ~100 MB; a
log of 1 M classes digests in under 400 MB peak RSS (``bench/bench_classes.py``).
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

DEFAULT_MAX_CLASSES = 10_000
MAX_CLASSES_ENV = "SLOWLOG_MAX_CLASSES"
#: the overflow's checksum in ``query_digest`` (no MD5-derived checksum of a query is all zeros)
OVERFLOW_CHECKSUM = "0" * 32
OVERFLOW_FINGERPRINT = "<overflow>"


def resolve_max_classes(value: int | str | None = None) -> int:
    """``value``, else ``$SLOWLOG_MAX_CLASSES``, else :data:`DEFAULT_MAX_CLASSES` (0 = no cap);
    ValueError with a one-line message when it is not a whole number >= 0."""
    if value is None:
        value = os.environ.get(MAX_CLASSES_ENV, "").strip() or DEFAULT_MAX_CLASSES
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0:
        raise ValueError(f"max classes must be a whole number >= 0 (0 = no cap), not {value!r} "
                         f"(--max-classes or ${MAX_CLASSES_ENV})")
    return number


def cap_order(weights: Sequence[float], counts: Sequence[int], keep: int) -> tuple[np.ndarray, float]:
    """(class positions, largest counter first, then most executions; the decrement: the counter
    of the first class past ``keep``, 0 when all fit)."""
    w = np.asarray(weights, dtype=np.float64)
    order = np.lexsort((-np.asarray(counts, dtype=np.int64), -w))
    decrement = float(w[order[keep]]) if len(order) > keep else 0.0
    return order, max(0.0, decrement)
