"""Local matplotlib charts of the warehouse: sizes, units, titles, redacted labels, empty days."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text
from PIL import Image

from dagster_project.snapshots import charts

DAY = dt.date(2026, 3, 10)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SECRET = "s3cr3t-ssn-123-45-6789"


def _digest() -> pd.DataFrame:
    rows = []
    for inst, scale in (("db-1", 1.0), ("aurora-prod-2", 0.2)):
        for i in range(12):
            rows.append({
                "instance": inst,
                "checksum": f"{i:032X}",
                # a fingerprint that (wrongly) still holds literals: labels must redact them anyway
                "fingerprint": f"select * from orders_{i} where email = '{SECRET}' and id = 4242 and status in (?+)",
                "count": 10 * (i + 1),
                "query_time_sum": scale * (100.0 - i * 7),
                "query_time_p95": scale * (2.0 - i * 0.1),
                "hourly": [{"hour": h, "count": i + 1, "query_time_sum": 0.5 * scale, "query_time_p95": 0.1 * (h + 1) * scale}
                           for h in (1, 5, 9)],
            })
    return pd.DataFrame(rows)


def _events(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-03-10", tz="UTC")
    return pd.DataFrame({
        "ts": start + pd.to_timedelta(rng.integers(0, 86400, n), unit="s"),
        "instance": rng.choice(["db-1", "aurora-prod-2", "db-3"], n),
        "query_time": rng.lognormal(-1, 1, n),
    })


def _texts(fig) -> str:
    fig.canvas.draw()
    parts = [t.get_text() for t in fig.findobj(Text)]
    parts += [fig.get_suptitle()]
    return "\n".join(parts)


def test_shorten_fingerprint_redacts_and_cuts():
    fp = charts.shorten_fingerprint(f"SELECT  *\n FROM t WHERE a = '{SECRET}' AND b = 42 /* user 7 */", 30)
    assert SECRET not in fp and "42" not in fp and "user 7" not in fp
    assert len(fp) <= 30 and fp.endswith("…") and "\n" not in fp
    assert charts.shorten_fingerprint(None) == "(no query text)"


def test_time_unit():
    assert charts.time_unit(0.25) == ("ms", 1000.0)
    assert charts.time_unit(3.0) == ("s", 1.0)
    assert charts.time_unit(0.0) == ("s", 1.0)


def test_hourly_from_events_is_exact():
    ev = _events()
    hourly = charts.hourly_from_events(ev)
    assert hourly["count"].sum() == len(ev)
    one = hourly[(hourly["instance"] == "db-1") & (hourly["hour"] == 3)].iloc[0]
    sel = ev[(ev["instance"] == "db-1") & (ev["ts"].dt.hour == 3)]["query_time"]
    assert one["count"] == len(sel)
    assert one["query_time_p95"] == pytest.approx(sel.quantile(0.95))
    assert charts.hourly_from_events(ev.iloc[0:0]).empty


def test_hourly_from_digest_sums_counts():
    digest = _digest()
    hourly = charts.hourly_from_digest(digest)
    assert set(hourly["hour"]) == {1, 5, 9}
    assert hourly["count"].sum() == sum(3 * (i + 1) for i in range(12)) * 2
    assert (hourly["query_time_p95"] > 0).all()


def test_top_classes_figure_labels_title_units():
    fig = charts.top_classes_figure(_digest(), DAY, n=8)
    text = _texts(fig)
    assert "2026-03-10" in fig.get_suptitle() and "Top query classes" in fig.get_suptitle()
    assert "instances aurora-prod-2, db-1" in text
    assert "total query time (s)" in text
    assert "db-1 · select * from orders_0 where email = ? and id = ? and status in (?+)" in text
    assert SECRET not in text and "4242" not in text
    assert text.count("db-1 · select") + text.count("aurora-prod-2 · select") == 8
    assert "100 s · 10 calls · p95 2 s" in text


def test_small_values_use_ms():
    digest = _digest()
    digest["query_time_sum"] /= 1000
    fig = charts.top_classes_figure(digest, DAY)
    assert "total query time (ms)" in _texts(fig)


def test_p95_and_events_figures():
    hourly = charts.hourly_from_events(_events())
    p95 = _texts(charts.p95_by_hour_figure(hourly, DAY))
    assert "p95 query time by hour · 2026-03-10 UTC" in p95
    assert "hour of day (UTC)" in p95 and "db-3" in p95
    assert "p95 query time (log scale)" in p95 or "p95 query time (s)" in p95 or "p95 query time (ms)" in p95
    ev = _texts(charts.events_by_hour_figure(hourly, DAY))
    assert "Slow queries per hour · 2026-03-10 UTC" in ev and "400 events" in ev and "events per hour" in ev


def test_single_instance_title_and_no_legend():
    hourly = charts.hourly_from_events(_events().assign(instance="db-1"))
    fig = charts.events_by_hour_figure(hourly, DAY)
    assert "instance db-1" in _texts(fig) and not fig.legends


def test_many_instances_are_capped():
    ev = _events(2000)
    ev["instance"] = [f"db-{i % 12}" for i in range(len(ev))]
    fig = charts.events_by_hour_figure(charts.hourly_from_events(ev), DAY)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(labels) == charts.MAX_INSTANCES + 1 and labels[-1] == "other"


def test_render_daily_charts_writes_readable_pngs(tmp_path):
    digest = _digest()
    paths = charts.render_daily_charts(digest, charts.hourly_from_events(_events()), DAY, tmp_path / "out")
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["top_classes.png", "p95_by_hour.png", "events_by_hour.png"]
    for p in paths:
        data = open(p, "rb").read()
        assert data.startswith(PNG_MAGIC)
        with Image.open(p) as im:
            assert im.size == (1600, 900)  # 16:9, two pixels per Slack-preview pixel
            assert 10_000 < len(data) < 1_000_000


def test_empty_day_renders_a_placeholder(tmp_path):
    empty_digest = _digest().iloc[0:0]
    empty_hourly = charts.hourly_from_events(_events().iloc[0:0])
    for fig in (charts.top_classes_figure(empty_digest, DAY), charts.p95_by_hour_figure(empty_hourly, DAY),
                charts.events_by_hour_figure(empty_hourly, DAY)):
        assert "No slow queries on 2026-03-10" in _texts(fig)
    paths = charts.render_daily_charts(empty_digest, empty_hourly, DAY, tmp_path)
    assert all(open(p, "rb").read().startswith(PNG_MAGIC) for p in paths)


def test_same_instance_same_colour_in_every_chart():
    colours = charts.palette(["db-2", "db-1", "db-2"])
    assert list(colours) == ["db-1", "db-2"] and colours["db-1"] != colours["db-2"]
