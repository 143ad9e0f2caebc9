"""Literal redaction: the one home for it. Everything that leaves the warehouse (OpenSearch documents,
Slack text, chart labels, Dagster metadata, the demo report) goes through :func:`redact_query`.

Unlike the fingerprint, redaction keeps the query readable (case, spacing, identifiers), but no
literal and no comment survives:

* string literals of every form become ``?``: ``'..'`` (``''`` doubling, backslash escapes),
  ``"..."`` (a string in MySQL's default mode), ``E'..'``, ``N'..'``, ``U&'..'``, ``x'..'``, ``b'..'``,
  dollar quotes ``$$..$$`` / ``$tag$..$tag$``; a literal cut by the log (RDS truncates long
  statements) runs to the end: everything after an unterminated quote is literal;
* numbers (``42``, ``-1.5e3``, ``0x1F``, ``0b101``, ``.5``) and ``true``/``false`` become ``?``;
* comments are dropped: ``-- ..``, ``/* .. */`` (nested in PostgreSQL; unterminated ones run to
  the end), MySQL's ``# ..``, and optimizer hints ``/*+ .. */`` too (a hint is free text: anything
  a hint does not understand is ignored, so it can carry anything). MySQL's executable comments
  ``/*! .. */`` are SQL, kept, with their literals redacted.

Identifiers are kept: MySQL's `` `backticks` ``, PostgreSQL's ``"double quotes"``, ``$1``
parameters. Dialects disagree on what is a literal (``"x"``, ``#``, a backslash before a quote),
so redaction follows the engine; with ``engine=None``, or where the server's settings decide
(PostgreSQL's ``standard_conforming_strings``), every reading is applied and anything that is a
literal or comment in any of them is redacted. Redis commands keep their class (the command and
the key pattern, :func:`fingerprint_redis`): values are dropped. Redaction is idempotent.
"""
from __future__ import annotations

import re

from .engines.redis import fingerprint_redis
from .fingerprint_pg import nested_comment_end

__all__ = ["redact_query"]

_NUMBER = (r"(?:0[xX][0-9a-fA-F_]+|0[bBoO][0-9_]+"
           r"|(?:[0-9][0-9_]*(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)[\w$]*")
_WORD = r"[A-Za-z_\x80-\U0010ffff][\w$\x80-\U0010ffff]*"
_DOLLAR = r"\$(?P<tag>(?:[A-Za-z_\x80-\U0010ffff][\w\x80-\U0010ffff]*)?)\$(?:.*?\$(?P=tag)\$|.*)"


def _quoted(q: str, backslash: bool) -> str:
    """A `q`-quoted literal; doubled quotes, optionally backslash escapes; unterminated: to the end."""
    body = rf"[^{q}\\]|\\.|{q}{q}" if backslash else rf"[^{q}]|{q}{q}"
    return rf"{q}(?:{body})*(?:{q}|\Z)"


def _scanner(dialect: str, backslash: bool) -> re.Pattern:
    """The tokens that matter: ``lit`` (-> ``?``), ``com`` (dropped), ``nest`` (a PostgreSQL comment,
    ended by hand), ``keep`` (identifiers, skipped so that nothing inside them is mistaken)."""
    sq = _quoted("'", backslash)
    esq = _quoted("'", True)  # E'..': backslash escapes whatever the settings
    if dialect == "mysql":
        com = r"/\*(?!!).*?(?:\*/|\Z)|--[^\n]*|\#[^\n]*"
        keep = rf"`(?:[^`]|``)*(?:`|\Z)|{_WORD}"
        lit = rf"[xXbBnN]?{sq}|_[A-Za-z0-9]+{sq}|{_quoted(chr(34), backslash)}"
        nest = r"(?!)"
    else:
        com = r"--[^\n]*"
        keep = rf"(?:[uU]&)?\"(?:[^\"]|\"\")*(?:\"|\Z)|\$[0-9]+|{_WORD}"
        lit = rf"[eE]{esq}|(?:[xXbBnN]|[uU]&)?{sq}"
        nest = r"/\*"
    return re.compile(
        rf"(?P<com>{com})|(?P<nest>{nest})|(?P<lit>{lit}|{_DOLLAR}|(?<![\w$]){_NUMBER}"
        rf"|\b(?:[tT][rR][uU][eE]|[fF][aA][lL][sS][eE])\b)|(?P<keep>{keep})",
        re.S,
    )


_SCANNERS = {(d, b): _scanner(d, b) for d in ("mysql", "postgres") for b in (True, False)}
# the readings applied per engine: (dialect, backslash escapes in plain strings)
_READINGS = {
    # NO_BACKSLASH_ESCAPES is rare; "x" is a string unless ANSI_QUOTES (then an identifier): redacted either way
    "mysql": (("mysql", True),),
    "postgres": (("postgres", False), ("postgres", True)),  # standard_conforming_strings on / off
    None: (("mysql", True), ("postgres", False), ("postgres", True)),
}


def _spans(q: str, reading: tuple[str, bool]) -> list[tuple[int, int, bool]]:
    """(start, end, is_literal) of the literals and comments of one reading."""
    scanner = _SCANNERS[reading]
    out = []
    pos = 0
    while True:
        m = scanner.search(q, pos)
        if m is None:
            return out
        kind = m.lastgroup
        if kind == "keep":
            pos = m.end()
            continue
        end = nested_comment_end(q, m.start()) if kind == "nest" else m.end()
        out.append((m.start(), end, kind == "lit"))
        pos = end


def redact_query(query: str | None, engine: str | None = None) -> str | None:
    """``query`` with every literal replaced by ``?`` and its comments dropped (module docstring).

    ``engine``: ``"mysql"``, ``"postgres"``, ``"redis"`` or None (unknown: every SQL reading)."""
    if query is None:
        return None
    if engine == "redis":
        return fingerprint_redis(query)
    readings = _READINGS.get(engine, _READINGS[None])
    if "\\" not in query:  # the readings differ only on backslashes: one of each dialect suffices
        readings = tuple(r for r in readings if r[1] or r[0] == "mysql")
    spans = sorted(s for r in readings for s in _spans(query, r))
    out = []
    pos = 0
    i = 0
    while i < len(spans):  # overlapping spans of different readings merge into one redaction
        start, end, literal = spans[i]
        i += 1
        while i < len(spans) and spans[i][0] < end:
            end = max(end, spans[i][1])
            literal = literal or spans[i][2]
            i += 1
        out.append(query[pos:start])
        out.append("?" if literal else "")
        pos = end
    out.append(query[pos:])
    return "".join(out)
