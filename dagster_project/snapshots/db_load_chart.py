"""``db_load.png``: DB load by top query classes, one panel per instance, for one UTC day.

Performance Insights' first chart ("DB load by top SQL"), drawn from the slow log: average active
sessions (AAS) per 10 minutes, stacked by the instance's top classes plus "other", from the
``db_load`` series (:mod:`dagster_project.slowlog.load`). A dashed line is the mean load of the same
hour over the previous days (default 7), and each panel's header gives the day's query time
against the mean of those days, in red from x2 up: a regression day stands out at preview size.

Input rows have the columns of ``DB_LOAD_SCHEMA`` (minute, instance, rank, checksum, fingerprint,
query_time_s); rows outside the day are ignored, so the partitions of the days around it may be
passed (events of a file that straddles midnight).
"""
from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from dagster_project.snapshots.charts import DPI, TITLE_PT, _save, shorten_fingerprint
from dagster_project.snapshots.slack_message import fmt_seconds

__all__ = ["db_load_chart", "db_load_figure", "day_profile", "BIN_MINUTES"]

BIN_MINUTES = 10
MAX_PANELS = 6
CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
OTHER_COLOR = "#c7c7c7"
REGRESSION_COLOR = "#c62828"


def _day_start(day: dt.date | str) -> pd.Timestamp:
    d = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)[:10])
    return pd.Timestamp(d.isoformat(), tz="UTC")


def day_profile(rows: pd.DataFrame, day: dt.date | str, bin_minutes: int = BIN_MINUTES) -> pd.DataFrame:
    """Rows of ``day`` with ``bin`` (slot of the day) and ``label`` columns added."""
    if rows is None or rows.empty:
        return pd.DataFrame(columns=["instance", "checksum", "fingerprint", "query_time_s", "bin"])
    start = _day_start(day)
    minute = pd.to_datetime(rows["minute"], utc=True)
    keep = (minute >= start) & (minute < start + pd.Timedelta(days=1))
    out = rows[keep].copy()
    out["bin"] = ((minute[keep] - start).dt.total_seconds() // (60 * bin_minutes)).astype(int)
    return out


def _stacks(day_rows: pd.DataFrame, top_n: int, n_bins: int) -> tuple[list[tuple[str, np.ndarray]], float]:
    """[(label, seconds per bin)] of the top classes, then "other"; and the day's total seconds."""
    classes = day_rows[day_rows["checksum"].notna()]
    totals = classes.groupby("checksum")["query_time_s"].sum().sort_values(ascending=False, kind="stable")
    top = list(totals.index[:top_n])
    stacks = []
    for checksum in top:
        part = classes[classes["checksum"] == checksum]
        series = np.bincount(part["bin"], weights=part["query_time_s"], minlength=n_bins)[:n_bins]
        stacks.append((shorten_fingerprint(part["fingerprint"].iloc[0], 28), series))
    rest = day_rows[~day_rows["checksum"].isin(top) | day_rows["checksum"].isna()]
    if len(rest) and rest["query_time_s"].sum() > 0:
        series = np.bincount(rest["bin"], weights=rest["query_time_s"], minlength=n_bins)[:n_bins]
        stacks.append(("other", series))
    return stacks, float(day_rows["query_time_s"].sum())


def db_load_figure(rows: pd.DataFrame, day: dt.date | str, baseline: pd.DataFrame | None = None,
                   baseline_days: int = 0, top_n: int = 4, bin_minutes: int = BIN_MINUTES) -> Figure:
    """The figure of :func:`db_load_chart`. ``baseline``: ``db_load`` rows of the ``baseline_days``
    days before (any minute; they are folded onto the slots of a day)."""
    day_s = _day_start(day).date().isoformat()
    n_bins = 24 * 60 // bin_minutes
    today = day_profile(rows, day, bin_minutes)
    base = None
    if baseline is not None and not baseline.empty and baseline_days > 0:
        base = baseline.copy()
        minute = pd.to_datetime(base["minute"], utc=True)
        base["bin"] = ((minute.dt.hour * 60 + minute.dt.minute) // bin_minutes).astype(int)
    order = (today.groupby("instance")["query_time_s"].sum().sort_values(ascending=False, kind="stable")
             if not today.empty else pd.Series(dtype=float))
    instances = [str(i) for i in order.index]
    shown = instances[:MAX_PANELS]
    n = max(1, len(shown))
    fig = Figure(figsize=(8.0, max(4.5, 1.25 + 1.0 * n)), dpi=DPI, layout="constrained")
    fig.suptitle(f"DB load by top query classes · {day_s} UTC", x=0.01, ha="left", fontsize=TITLE_PT,
                 fontweight="bold")
    note = f"bars: logged query time / elapsed time per {bin_minutes} min"
    if base is not None:
        note += f" · dashed: hourly mean, previous {baseline_days} days"
    if len(instances) > MAX_PANELS:
        note += f" · {MAX_PANELS} busiest of {len(instances)} instances"
    grid = fig.subplots(n, 2, sharex="col", squeeze=False, gridspec_kw={"width_ratios": [2.3, 1.0]})
    axes, keys = grid[:, 0], grid[:, 1]  # a panel per instance; its legend in the column on the right
    for key in keys:
        key.set_axis_off()
    if not shown:
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, f"No slow queries on {day_s}", ha="center", va="center", fontsize=12,
                     color="#555555", transform=axes[0].transAxes)
        return fig
    x = (np.arange(n_bins) + 0.5) * bin_minutes / 60.0
    width = bin_minutes / 60.0
    for ax, key, inst in zip(axes, keys, shown):
        stacks, total_s = _stacks(today[today["instance"].astype(str) == inst], top_n, n_bins)
        bottom = np.zeros(n_bins)
        for i, (label, seconds) in enumerate(stacks):
            aas = seconds / (bin_minutes * 60.0)
            color = OTHER_COLOR if label == "other" else CLASS_COLORS[i % len(CLASS_COLORS)]
            ax.bar(x, aas, width=width, bottom=bottom, color=color, label=label, linewidth=0, align="center")
            bottom += aas
        header, header_color, weight = f"{inst} · {fmt_seconds(total_s)} of query time", "#222222", "normal"
        ymax = float(bottom.max())
        if base is not None:
            b = base[base["instance"].astype(str) == inst]
            hours = (b["bin"] * bin_minutes // 60).astype(int)
            profile = np.bincount(hours, weights=b["query_time_s"], minlength=24)[:24] / (baseline_days * 3600.0)
            ax.step(np.arange(25), np.append(profile, profile[-1]), where="post", color="#222222",
                    linestyle=(0, (4, 2)), linewidth=1.2)
            ymax = max(ymax, float(profile.max()))
            b_day = float(b["query_time_s"].sum()) / baseline_days
            if b_day > 0:
                ratio = total_s / b_day
                header += f" · {ratio:.1f}× the daily mean of the previous {baseline_days} days"
                if ratio >= 2:
                    header_color, weight = REGRESSION_COLOR, "bold"
            else:
                header += f" · none the previous {baseline_days} days"
        ax.set_title(header, loc="left", fontsize=10, color=header_color, fontweight=weight, pad=3)
        ax.set_ylim(0, (ymax or 1e-3) * 1.1)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=3))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2g}"))
        ax.tick_params(labelsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        key.legend(*ax.get_legend_handles_labels(), loc="upper left", frameon=False, borderaxespad=0,
                   prop={"family": "DejaVu Sans Mono", "size": 8}, handlelength=1.0)
    axes[-1].set_xlim(0, 24)
    axes[-1].set_xticks(range(0, 25, 3))
    axes[-1].xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{int(v):02d}:00"))
    fig.supxlabel(f"UTC · {note}", fontsize=9.5, color="#444444")
    fig.supylabel("average active sessions", fontsize=10)
    return fig


def db_load_chart(rows: pd.DataFrame, day: dt.date | str, path: str | os.PathLike, baseline: pd.DataFrame | None = None,
                  baseline_days: int = 0, top_n: int = 4, bin_minutes: int = BIN_MINUTES) -> str:
    """Write :func:`db_load_figure` as a PNG at ``path``; returns the path."""
    return _save(db_load_figure(rows, day, baseline, baseline_days, top_n, bin_minutes), path)
