"""Daily charts of the warehouse, rendered with matplotlib (Agg, no display) for Slack.

Sized for Slack's image preview (about 800x450 px): each figure is 8x4.5 inches at 200 dpi
(1600x900 px), so at preview size one point is about 1.4 px and the 10-15 pt fonts used here stay
readable. Titles carry the date (UTC) and the instance(s); axes carry units (s or ms, chosen from the
data). Query labels are *redacted* fingerprints (no literal survives), shortened.

Inputs are pandas DataFrames with the columns of the warehouse tables:

* ``query_digest`` (one row per day x instance x class): instance, checksum, fingerprint, count,
  query_time_sum, query_time_p95, hourly (list of {hour, count, query_time_sum, query_time_p95});
* ``slow_query_events``: ts, instance, query_time.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot global state, thread-safe).
"""
from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

from dagster_project.days import day_text
from dagster_project.slowlog.redact import redact_query

__all__ = [
    "FIGSIZE",
    "DPI",
    "shorten_fingerprint",
    "time_unit",
    "hourly_from_events",
    "hourly_from_digest",
    "top_classes_chart",
    "p95_by_hour_chart",
    "events_by_hour_chart",
    "top_classes_figure",
    "p95_by_hour_figure",
    "events_by_hour_figure",
    "render_daily_charts",
    "palette",
]

FIGSIZE = (8.0, 4.5)
DPI = 200
TITLE_PT, LABEL_PT, TICK_PT, TEXT_PT = 14, 12, 11, 10.5
MAX_INSTANCES = 8  # lines / stacks drawn; the others are summed into "other"
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]
HOURLY_COLUMNS = ["instance", "hour", "count", "query_time_sum", "query_time_p95"]

_SPACES = re.compile(r"\s+")


def shorten_fingerprint(text: str | None, max_chars: int = 90, engine: str | None = None) -> str:
    """Redacted (``engine``'s rules; every dialect's when None), one-line, at most ``max_chars``
    characters (an ellipsis marks the cut)."""
    if not text:
        return "(no query text)"
    line = _SPACES.sub(" ", redact_query(str(text), engine) or "").strip()
    if len(line) > max_chars:
        line = line[: max_chars - 1].rstrip() + "…"
    return line


def time_unit(max_seconds: float) -> tuple[str, float]:
    """("ms", 1000) when every value is under a second, else ("s", 1)."""
    if max_seconds is not None and np.isfinite(max_seconds) and 0 < max_seconds < 1.0:
        return "ms", 1000.0
    return "s", 1.0


def _fmt_time(seconds: float) -> str:
    if seconds < 1.0:
        return f"{seconds * 1000:.3g} ms"
    if seconds < 100:
        return f"{seconds:.3g} s"
    return f"{seconds:,.0f} s"


def _instances_label(instances: Sequence[str]) -> str:
    instances = [str(i) for i in instances]
    if len(instances) <= 3:
        return ", ".join(instances)
    return f"{', '.join(instances[:2])} +{len(instances) - 2} more"


def _where(instances: Sequence[str]) -> str:
    if not instances:
        return "no data"
    if len(instances) == 1:
        return f"instance {instances[0]}"
    return f"instances {_instances_label(instances)}"


def palette(instances: Sequence[str]) -> dict[str, str]:
    """One colour per instance (sorted by name), the same in every chart of a day."""
    return {inst: COLORS[i % len(COLORS)] for i, inst in enumerate(sorted({str(i) for i in instances}))}


def _figure(title: str, subtitle: str = "") -> tuple[Figure, object]:
    """A figure with a bold left-aligned title (date, what) and a grey subtitle (instances, totals)."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    fig.suptitle(title, x=0.01, ha="left", fontsize=TITLE_PT, fontweight="bold")
    ax = fig.add_subplot()
    if subtitle:
        ax.set_title(subtitle, loc="left", fontsize=TEXT_PT, color="#444444")
    ax.tick_params(labelsize=TICK_PT)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _legend(fig: Figure, ax, n: int) -> None:
    """Instances legend outside the plot, on the right (never over the data)."""
    if n > 1:
        fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize=TEXT_PT, frameon=False)


def _short(name: str, limit: int = 20) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _save(fig: Figure, path: str | os.PathLike) -> str:
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI, facecolor="white")
    return path


def _empty(ax, message: str) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=LABEL_PT, color="#555555", transform=ax.transAxes)


# --------------------------------------------------------------------------------- hourly data
def hourly_from_events(events: pd.DataFrame) -> pd.DataFrame:
    """Per instance x UTC hour: count, query_time_sum, query_time_p95 (exact), from events."""
    if events is None or events.empty or "ts" not in events:
        return pd.DataFrame(columns=HOURLY_COLUMNS)
    df = events[["instance", "ts", "query_time"]].dropna(subset=["ts"])
    if df.empty:
        return pd.DataFrame(columns=HOURLY_COLUMNS)
    ts = pd.to_datetime(df["ts"], utc=True)
    df = df.assign(hour=ts.dt.hour.astype(int))
    grouped = df.groupby(["instance", "hour"])["query_time"]
    out = pd.DataFrame({
        "count": grouped.size(),
        "query_time_sum": grouped.sum(min_count=1),
        "query_time_p95": grouped.quantile(0.95),
    }).reset_index()
    return out[HOURLY_COLUMNS]


def hourly_from_digest(digest: pd.DataFrame) -> pd.DataFrame:
    """Per instance x hour from the digest's ``hourly`` column.

    Counts and sums are exact; the instance's p95 of an hour is approximated by the count-weighted
    95th percentile of the classes' hourly p95 (use :func:`hourly_from_events` for the exact one).
    """
    rows = []
    if digest is not None and not digest.empty and "hourly" in digest:
        for inst, hourly in zip(digest["instance"], digest["hourly"]):
            if hourly is None:
                continue
            for h in hourly:
                if h is None or h.get("hour") is None:
                    continue
                rows.append((inst, int(h["hour"]), int(h.get("count") or 0),
                             float(h.get("query_time_sum") or 0.0), h.get("query_time_p95")))
    if not rows:
        return pd.DataFrame(columns=HOURLY_COLUMNS)
    df = pd.DataFrame(rows, columns=["instance", "hour", "count", "query_time_sum", "p95"])

    def weighted_p95(g: pd.DataFrame) -> float:
        g = g.dropna(subset=["p95"]).sort_values("p95")
        if g.empty or g["count"].sum() == 0:
            return float("nan")
        cum = g["count"].cumsum() / g["count"].sum()
        return float(g["p95"].iloc[int(np.searchsorted(cum.to_numpy(), 0.95))])

    agg = df.groupby(["instance", "hour"]).agg(count=("count", "sum"), query_time_sum=("query_time_sum", "sum"))
    p95 = df.groupby(["instance", "hour"])[["count", "p95"]].apply(weighted_p95).rename("query_time_p95")
    return agg.join(p95).reset_index()[HOURLY_COLUMNS]


def _top_instances(hourly: pd.DataFrame) -> list[str]:
    order = hourly.groupby("instance")["count"].sum().sort_values(ascending=False)
    return [str(i) for i in order.index]


# ------------------------------------------------------------------------------------- charts
def top_classes_chart(digest: pd.DataFrame, day: dt.date | str, path: str | os.PathLike, n: int = 8,
                      colors: dict[str, str] | None = None) -> str:
    """Horizontal bars: the ``n`` query classes with the most total query time on ``day``.

    Each bar is labelled above with ``instance · redacted fingerprint``; the bar end shows the
    total time, the number of calls and the p95.
    """
    return _save(top_classes_figure(digest, day, n, colors), path)


def top_classes_figure(digest: pd.DataFrame, day: dt.date | str, n: int = 8,
                       colors: dict[str, str] | None = None) -> Figure:
    """The figure of :func:`top_classes_chart`."""
    instances = sorted(digest["instance"].dropna().astype(str).unique()) if not digest.empty else []
    single = len(instances) == 1
    top = digest.nlargest(n, "query_time_sum") if not digest.empty else digest
    top = top[top["query_time_sum"].fillna(0) > 0] if not top.empty else top
    where = _where(instances)
    fig, ax = _figure(f"Top query classes by total time · {day_text(day)} UTC",
                      f"{where} · {len(digest):,} classes · bar: total time, calls, p95" if len(top) else where)
    if top.empty:
        _empty(ax, f"No slow queries on {day_text(day)}")
        return fig

    unit, scale = time_unit(float(top["query_time_sum"].max()))
    values = top["query_time_sum"].to_numpy(dtype=float) * scale
    y = np.arange(len(top))
    color_of = colors or palette(instances)
    ax.barh(y, values, height=0.42, color=[color_of.get(str(i), COLORS[0]) for i in top["instance"]], align="center")
    ax.set_ylim(len(top) - 0.4, -0.85)  # first (largest) row on top, room for its label
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    xmax = float(values.max())
    ax.set_xlim(0, xmax * 1.42)
    ax.set_xlabel(f"total query time ({unit})", fontsize=LABEL_PT)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 10 else f"{v:g}"))
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    for yi, value, row in zip(y, values, top.itertuples()):
        fp = shorten_fingerprint(getattr(row, "fingerprint", None), 92 if single else 84 - len(str(row.instance)),
                                 getattr(row, "engine", None))
        label = fp if single else f"{row.instance} · {fp}"
        ax.text(0, yi - 0.25, label, fontsize=TEXT_PT - 1, va="bottom", ha="left", family="DejaVu Sans Mono",
                clip_on=False)
        p95 = getattr(row, "query_time_p95", None)
        calls = int(row.count)
        info = f"{_fmt_time(float(row.query_time_sum))} · {calls:,} call{'s' if calls != 1 else ''}"
        if p95 is not None and np.isfinite(p95):
            info += f" · p95 {_fmt_time(float(p95))}"
        ax.text(value + xmax * 0.01, yi, info, fontsize=TEXT_PT - 1, va="center", ha="left")
    return fig


def _hour_axis(ax) -> None:
    ax.set_xlim(-0.6, 23.6)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlabel("hour of day (UTC)", fontsize=LABEL_PT)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def p95_by_hour_chart(hourly: pd.DataFrame, day: dt.date | str, path: str | os.PathLike,
                      colors: dict[str, str] | None = None) -> str:
    """Lines: p95 query time per UTC hour, one line per instance (the busiest eight).

    A log time axis (ticks labelled with their unit, e.g. ``10 ms``, ``1 s``) is used when the
    values span more than two decades, else a linear one in s or ms.
    """
    return _save(p95_by_hour_figure(hourly, day, colors), path)


def p95_by_hour_figure(hourly: pd.DataFrame, day: dt.date | str, colors: dict[str, str] | None = None) -> Figure:
    """The figure of :func:`p95_by_hour_chart`."""
    instances = _top_instances(hourly) if not hourly.empty else []
    data = hourly.dropna(subset=["query_time_p95"]) if not hourly.empty else hourly
    sub = _where(instances)
    color_of = colors or palette(instances)
    if len(instances) > MAX_INSTANCES:
        sub += f" · busiest {MAX_INSTANCES} shown"
    fig, ax = _figure(f"p95 query time by hour · {day_text(day)} UTC", sub)
    if data.empty:
        _empty(ax, f"No slow queries on {day_text(day)}")
        return fig
    positive = data["query_time_p95"][data["query_time_p95"] > 0]
    log = len(positive) > 0 and float(positive.max()) / float(positive.min()) > 100
    unit, scale = ("s", 1.0) if log else time_unit(float(data["query_time_p95"].max()))
    for i, inst in enumerate(instances[:MAX_INSTANCES]):
        rows = data[data["instance"].astype(str) == inst].set_index("hour")["query_time_p95"]
        series = rows.reindex(range(24)) * scale
        values = series.to_numpy(dtype=float)
        if log:
            values = np.where(values > 0, values, np.nan)
        ax.plot(series.index, values, marker="o", markersize=5, linewidth=2,
                color=color_of.get(inst, COLORS[i % len(COLORS)]), label=_short(inst))
    _hour_axis(ax)
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, numticks=12))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _fmt_time(v)))
        ax.set_ylabel("p95 query time (log scale)", fontsize=LABEL_PT)
    else:
        ax.set_ylim(0, float(data["query_time_p95"].max()) * scale * 1.1 or 1.0)
        ax.set_ylabel(f"p95 query time ({unit})", fontsize=LABEL_PT)
    _legend(fig, ax, min(len(instances), MAX_INSTANCES))
    return fig


def events_by_hour_chart(hourly: pd.DataFrame, day: dt.date | str, path: str | os.PathLike,
                         colors: dict[str, str] | None = None) -> str:
    """Stacked bars: slow-query events per UTC hour, stacked by instance."""
    return _save(events_by_hour_figure(hourly, day, colors), path)


def events_by_hour_figure(hourly: pd.DataFrame, day: dt.date | str, colors: dict[str, str] | None = None) -> Figure:
    """The figure of :func:`events_by_hour_chart`."""
    instances = _top_instances(hourly) if not hourly.empty else []
    total = int(hourly["count"].sum()) if not hourly.empty else 0
    where = _where(instances)
    color_of = dict(colors or palette(instances), other="#bbbbbb")
    fig, ax = _figure(f"Slow queries per hour · {day_text(day)} UTC", f"{where} · {total:,} events")
    if total == 0:
        _empty(ax, f"No slow queries on {day_text(day)}")
        return fig
    shown = instances[:MAX_INSTANCES]
    bottom = np.zeros(24)
    groups = [(inst, hourly[hourly["instance"].astype(str) == inst]) for inst in shown]
    if len(instances) > MAX_INSTANCES:
        groups.append(("other", hourly[~hourly["instance"].astype(str).isin(shown)]))
    for i, (inst, rows) in enumerate(groups):
        counts = rows.groupby("hour")["count"].sum().reindex(range(24), fill_value=0).to_numpy(dtype=float)
        ax.bar(range(24), counts, bottom=bottom, width=0.8, color=color_of.get(inst, COLORS[i % len(COLORS)]),
               label=_short(inst))
        bottom += counts
    _hour_axis(ax)
    ax.set_ylim(0, float(bottom.max()) * 1.08)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_ylabel("events per hour", fontsize=LABEL_PT)
    _legend(fig, ax, len(groups))
    return fig


def render_daily_charts(
    digest: pd.DataFrame,
    hourly: pd.DataFrame,
    day: dt.date | str,
    out_dir: str | os.PathLike,
    top_n: int = 8,
) -> list[str]:
    """The three charts of one day in ``out_dir``; returns their paths."""
    out_dir = os.fspath(out_dir)
    instances = [*digest.get("instance", pd.Series(dtype=str)).dropna(), *hourly.get("instance", pd.Series(dtype=str)).dropna()]
    colors = palette(instances)
    return [
        top_classes_chart(digest, day, os.path.join(out_dir, "top_classes.png"), n=top_n, colors=colors),
        p95_by_hour_chart(hourly, day, os.path.join(out_dir, "p95_by_hour.png"), colors=colors),
        events_by_hour_chart(hourly, day, os.path.join(out_dir, "events_by_hour.png"), colors=colors),
    ]
