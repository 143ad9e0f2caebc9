"""The text of the daily Slack report (Slack ``mrkdwn``), from the day's digest and regressions.

Only *redacted* query text is used (fingerprints through :func:`redact_query`): no literal from a
raw query reaches Slack. Text is escaped for Slack (``&``, ``<``, ``>``) and backticks inside code
spans are replaced, so a query can neither break the formatting nor mention ``@channel``.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence

import pandas as pd

from dagster_project.days import day_text
from dagster_project.slowlog.redact import redact_query

__all__ = ["build_report_text", "slack_escape", "code_span", "fmt_seconds", "MAX_CHARS"]

MAX_CHARS = 3500  # Slack truncates long messages (4,000 characters is the documented soft limit)
_SPACES = re.compile(r"\s+")


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code_span(text: str | None, max_chars: int = 100, engine: str | None = None) -> str:
    """Redacted (``engine``'s rules; every dialect's when None), one-line, escaped text in a Slack
    inline code span."""
    line = _SPACES.sub(" ", redact_query(text or "", engine) or "").strip() or "(no query text)"
    if len(line) > max_chars:
        line = line[: max_chars - 1].rstrip() + "…"
    return "`" + slack_escape(line.replace("`", "ʼ")) + "`"


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    seconds = float(seconds)
    if seconds == 0:
        return "0 s"
    if seconds < 1.0:
        return f"{seconds * 1000:.3g} ms"
    if seconds < 100:
        return f"{seconds:.3g} s"
    return f"{seconds:,.0f} s"


def _calls(n) -> str:
    n = int(n)
    return f"{n:,} call" + ("" if n == 1 else "s")


def _regression_line(row) -> str:
    inst = slack_escape(str(row.instance))
    kind = str(row.kind)
    if kind == "new":
        what = f"*new* · {_calls(row.count)} · {fmt_seconds(row.query_time_sum)} total"
    else:
        parts = []
        if "p95" in kind:
            parts.append(f"p95 ×{row.p95_ratio:.1f} ({fmt_seconds(row.baseline_query_time_p95)} → "
                         f"{fmt_seconds(row.query_time_p95)})")
        if "total_time" in kind:
            parts.append(f"total ×{row.total_ratio:.1f} ({fmt_seconds(row.baseline_query_time_sum)}/day → "
                         f"{fmt_seconds(row.query_time_sum)})")
        what = " · ".join(parts)
    return f"• `{inst}` {what} — {code_span(row.fingerprint, 90, getattr(row, 'engine', None))}"


def _week_section(week: pd.DataFrame, days: tuple[dt.date, dt.date], top_n: int = 3) -> list[str]:
    first, last = (day_text(d) for d in days)
    lines = ["", f"*Week {first} – {last}*"]
    if week.empty:
        return lines + ["_No slow queries recorded this week._"]
    lines[-1] += (f": {int(week['count'].sum()):,} events · {len(week):,} query classes · "
                  f"{fmt_seconds(float(week['query_time_sum'].sum()))} total query time")
    for i, row in enumerate(week.nlargest(top_n, "query_time_sum").itertuples(), 1):
        query = code_span(row.fingerprint, engine=getattr(row, "engine", None))
        lines.append(f"{i}. `{slack_escape(str(row.instance))}` {fmt_seconds(row.query_time_sum)} · {_calls(row.count)}"
                     f" · p95 {fmt_seconds(row.query_time_p95)} (week) · {int(row.days)} day(s) — {query}")
    return lines


def build_report_text(
    day: dt.date | str,
    digest: pd.DataFrame,
    regressions: pd.DataFrame | None = None,
    *,
    files: Sequence[str] = (),
    notes: Sequence[str] = (),
    top_n: int = 5,
    max_regressions: int = 10,
    baseline_days: int = 7,
    factor: float | None = None,
    max_chars: int = MAX_CHARS,
    load: Sequence[tuple[str, float, float | None]] = (),
    week: pd.DataFrame | None = None,
    week_days: tuple[dt.date, dt.date] | None = None,
) -> str:
    """The ``initial_comment`` of the day's upload: totals, top classes, regressions, files.

    ``load``: (instance, seconds of query time today, ratio to the daily mean of the days before or
    None) for the DB load line; ``week``: the merged digest of ``week_days`` (first, last) for the
    weekly section (Mondays)."""
    lines: list[str] = []
    instances = sorted(digest["instance"].dropna().astype(str).unique()) if not digest.empty else []
    events = int(digest["count"].sum()) if not digest.empty else 0
    total = float(digest["query_time_sum"].sum()) if not digest.empty else 0.0
    lines.append(f"*Slow query report · {day_text(day)} (UTC)*")
    where = ", ".join(f"`{slack_escape(i)}`" for i in instances[:6]) + (
        f" +{len(instances) - 6} more" if len(instances) > 6 else "")
    lines.append(f"{events:,} events · {len(digest):,} query classes · {fmt_seconds(total)} total query time"
                 + (f" · {where}" if instances else ""))
    if digest.empty:
        lines.append("_No slow queries recorded for this day._")
    else:
        lines.append("")
        lines.append(f"*Top {min(top_n, len(digest))} classes by total time*")
        top = digest.nlargest(top_n, "query_time_sum")
        for i, row in enumerate(top.itertuples(), 1):
            query = code_span(row.fingerprint, engine=getattr(row, "engine", None))
            lines.append(
                f"{i}. `{slack_escape(str(row.instance))}` {fmt_seconds(row.query_time_sum)} · {_calls(row.count)}"
                f" · p95 {fmt_seconds(row.query_time_p95)} — {query}"
            )
    lines.append("")
    rule = f" (×{factor:g})" if factor else ""
    if regressions is None:
        lines.append("*Regressions:* not computed")
    elif regressions.empty:
        lines.append(f"*Regressions vs the previous {baseline_days} days{rule}:* none")
    else:
        counts = regressions["kind"].value_counts()
        summary = ", ".join(f"{n} {k}" for k, n in counts.items())
        lines.append(f"*Regressions vs the previous {baseline_days} days{rule}:* {summary}")
        for row in regressions.head(max_regressions).itertuples():
            lines.append(_regression_line(row))
        if len(regressions) > max_regressions:
            lines.append(f"… and {len(regressions) - max_regressions} more (see the query_regressions table)")
    if load:
        parts = []
        for inst, seconds, ratio in load[:6]:
            part = f"`{slack_escape(inst)}` {fmt_seconds(seconds)}"
            if ratio is not None:
                part += f" (*×{ratio:.1f}*)" if ratio >= 2 else f" (×{ratio:.1f})"
            parts.append(part)
        lines.append("")
        lines.append("*DB load* (query time today, × the daily mean of the days before; db_load.png): "
                     + " · ".join(parts))
    if week is not None and week_days is not None:
        lines.extend(_week_section(week, week_days, top_n=3))
    for note in notes:
        lines.append(f"_{slack_escape(note)}_")
    if files:
        lines.append("")
        lines.append("Charts: " + ", ".join(slack_escape(f) for f in files))
    text = "\n".join(lines)
    if len(text) > max_chars:
        text = text[: max_chars - 40].rsplit("\n", 1)[0] + "\n… (truncated)"
    return text
