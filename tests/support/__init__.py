"""Test support: a local RDS Query API server and real slow-log content from the shared corpus."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]
_CANDIDATES = [
    os.environ.get("SLOWLOG_CORPUS", ""),
    str(_REPO.parent / "shared" / "corpus"),
    str(_REPO / "dagster_project" / "sample_data" / "corpus"),
]

#: non-ASCII / XML-special / CR content mixed into test files
UTF8_ENTRY = (
    "# Time: 2026-11-24T03:15:01.123456Z\n"
    "# User@Host: app[app] @  [10.0.0.7]  Id: 42\n"
    "# Query_time: 1.250000  Lock_time: 0.000100 Rows_sent: 1  Rows_examined: 90210\n"
    "SET timestamp=1795490101;\n"
    "SELECT * FROM kunden WHERE name = 'Jürgen Müller' AND city IN ('Zürich', '東京', 'Καλημέρα') "
    "AND note <> '<b>&amp; ]]> \"x\"</b>' AND emoji = '😀\t🚀';\r\n"
)


def corpus_dir() -> Path | None:
    for c in _CANDIDATES:
        if c and Path(c, "percona", "slowlogs").is_dir():
            return Path(c)
    return None


def _synthetic_mysql(n: int = 400) -> bytes:
    out = []
    for i in range(n):
        out.append(
            f"# Time: 2026-11-24T03:{i % 60:02d}:{i % 60:02d}.000{i:03d}Z\n"
            f"# User@Host: u{i % 7}[u{i % 7}] @  [10.0.0.{i % 250}]  Id: {i}\n"
            f"# Query_time: {i / 1000:.6f}  Lock_time: 0.000010 Rows_sent: {i}  Rows_examined: {i * 10}\n"
            f"SET timestamp={1795490101 + i};\nSELECT c{i % 13} FROM t{i % 5} WHERE id = {i};\n"
        )
    return "".join(out).encode("utf-8")


@lru_cache(maxsize=None)
def mysql_corpus_files() -> tuple[bytes, ...]:
    """Real MySQL/MariaDB/Percona slow logs (synthetic fallback when the corpus is absent)."""
    root = corpus_dir()
    if root is None:
        return (_synthetic_mysql(),)
    files = sorted((root / "percona" / "slowlogs").glob("*.txt")) + sorted(
        p for p in (root / "filebeat" / "mysql-slowlog").glob("*.log")
    )
    return tuple(p.read_bytes() for p in files if p.stat().st_size > 0)


@lru_cache(maxsize=None)
def postgres_corpus_files() -> tuple[bytes, ...]:
    root = corpus_dir()
    if root is None:
        return (
            b"2026-11-24 03:00:01 UTC::@:[123]:LOG:  duration: 1200.5 ms  statement: SELECT 1\n" * 50,
        )
    return tuple(p.read_bytes() for p in sorted((root / "filebeat" / "postgresql-log").glob("*.log")))


_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def mysql_log_bytes(min_size: int, max_line: int | None = None, text_only: bool = True) -> bytes:
    """Real slow-log content (plus UTF-8 entries) of at least ``min_size`` bytes.

    ``max_line``: drop corpus files having a line longer than that (RDS truncates such lines);
    ``text_only``: drop files with control characters (RDS calls those binary)."""
    parts: list[bytes] = []
    total = 0
    sources = [
        f
        for f in mysql_corpus_files()
        if (max_line is None or max(len(x) for x in f.split(b"\n")) < max_line)
        and not (text_only and _CONTROL.search(f))
    ]
    extra = UTF8_ENTRY.encode("utf-8")
    i = 0
    while total < min_size:
        chunk = sources[i % len(sources)]
        if not chunk.endswith(b"\n"):
            chunk += b"\n"
        parts.append(chunk)
        parts.append(extra)
        total += len(chunk) + len(extra)
        i += 1
    return b"".join(parts)


def mysql_entries(limit: int = 200) -> list[str]:
    """Whole slow-log entries (as RDS publishes them to CloudWatch: one entry per event)."""
    out: list[str] = []
    for f in mysql_corpus_files():
        text = f.decode("utf-8")
        pieces = [p for p in re.split(r"(?m)^(?=# Time: )", text) if p.strip()]
        for p in pieces:
            if p.startswith("# Time: ") and len(p) < 20_000 and not _CONTROL.search(p.encode()):
                out.append(p.rstrip("\n"))
            if len(out) >= limit:
                return out
    return out
