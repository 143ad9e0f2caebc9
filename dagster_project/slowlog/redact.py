"""Literal redaction for anything that leaves the warehouse (Slack, OpenSearch).

Unlike the fingerprint, redaction keeps the query readable (case, spacing, comments' positions),
but no literal survives: quoted strings, numbers, hex/bit literals, booleans and PostgreSQL
dollar-quoted strings become `?`, and comments (which often carry ids) are dropped.
"""
from __future__ import annotations

import re

_LITERALS = re.compile(
    r"""
      '(?:[^'\\]|\\.|'')*'?              # single-quoted string (MySQL escapes, '' doubling)
    | "(?:[^"\\]|\\.|"")*"?              # double-quoted string (a literal in MySQL's default mode)
    | \$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$   # PostgreSQL dollar quoting
    | /\*(?!!).*?\*/                     # comments (not /*! version hints */)
    | --[^\n]*
    | \b0x[0-9a-fA-F]+\b | \bx'[0-9a-fA-F]*' | \bb'[01]*'
    | (?<![\w$.])[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?(?![\w$])
    | (?<![\w$])\.\d+(?![\w$])
    | \b(?:true|false|TRUE|FALSE)\b
    """,
    re.X | re.S,
)


def _replace(m: re.Match) -> str:
    text = m.group(0)
    if text.startswith(("/*", "--")):
        return ""
    return "?"


def redact_query(query: str | None) -> str | None:
    """Replace every literal in `query` by `?`."""
    if query is None:
        return None
    return _LITERALS.sub(_replace, query)
