"""MySQL's throttle summaries: with `log_queries_not_using_indexes` and
`log_throttle_queries_not_using_indexes=N`, MySQL 5.6+ and Percona Server log at most N such
statements a minute and then write one summary entry whose statement is

    throttle:       2878 'index not used' warning(s) suppressed.;

(sql/log.cc: Slow_log_throttle, template "throttle: %10lu 'index not used' warning(s) suppressed.";
some forks add kinds such as 'ddl'). Its `# Query_time:` / `# Lock_time:` are the sums over the
suppressed statements; its `# User@Host:` is empty (`[] @  []`) where the server swaps in a blank
security context (MySQL 5.6+), the logging thread's own elsewhere. MariaDB has no such variable
(10.11 accepts the option, ignores it and logs every statement) and writes no summary.

pt-query-digest takes the summary for a query (class "throttle: ? ? warning(s) suppressed."), so
one busy minute becomes a slow "query" of the summed time. Here it is a ThrottleSummary: counted
in ParseStats (summaries, suppressed statements, their time), never an event or a class.
"""
from __future__ import annotations

import math
import re

from .base import ThrottleSummary

# the whole statement, the trailing ';' the log adds already removed
_SUMMARY = re.compile(r"throttle: +(\d+) '[^'\n]*' warning\(s\) suppressed\.")


def throttle_summary(query: str, query_time: float | None) -> ThrottleSummary | None:
    """The summary an entry with this statement and Query_time is, or None for any other statement."""
    m = _SUMMARY.fullmatch(query)
    if m is None:
        return None
    return ThrottleSummary(int(m.group(1)), query_time if query_time is not None and math.isfinite(query_time) else 0.0)
