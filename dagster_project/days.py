"""One date coercion for the whole package: a day given as a date, a datetime (pandas Timestamps
included), or text that starts with YYYY-MM-DD ('2024-03-01', '2024-03-01T05:00:00Z')."""
from __future__ import annotations

import datetime as dt
from typing import Any

DateLike = dt.date | dt.datetime | str


def to_date(value: Any) -> dt.date:
    """The calendar day of `value` (a datetime keeps its own date; no zone conversion)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp, numpy datetime64 wrapped by pandas
        return value.to_pydatetime().date()
    return dt.date.fromisoformat(str(value)[:10])


def to_date_or_none(value: Any) -> dt.date | None:
    """to_date, with None passed through (an optional day: all of them)."""
    return None if value is None else to_date(value)


def day_text(value: Any) -> str:
    """YYYY-MM-DD of a day given any way to_date accepts."""
    return to_date(value).isoformat()
