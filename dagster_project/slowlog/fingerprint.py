"""pt-query-digest-compatible query fingerprints and checksums.

A line-by-line port of Percona Toolkit's ``QueryRewriter::fingerprint`` (default options, as
pt-query-digest uses it), so that our classes and checksums are the ones pt reports. Perl's regex
semantics on byte strings are kept: ASCII-only ``\\w``/``\\s``/``\\b`` and ASCII-only lower-casing.

The checksum is pt's: MD5 of the fingerprint, upper-case hex. Non-UTF-8 bytes survive decoding as
surrogate escapes so the checksum is over the original bytes.
"""
from __future__ import annotations

import hashlib
import re

_A = re.ASCII
_MYSQLDUMP = re.compile(r"SELECT /\*!40001 SQL_NO_CACHE \*/ \* FROM `", _A)
_PT_TOOL = re.compile(r"/\*\w+\.\w+:[0-9]/[0-9]\*/", _A)
_CALL = re.compile(r"\s*(call\s+\S+)\(", _A | re.I)
_MULTI_INSERT = re.compile(r"((?:INSERT|REPLACE)(?: IGNORE)?\s+INTO.+?VALUES\s*\(.*?\))\s*,\s*\(", _A | re.I | re.S)
_MLC = re.compile(r"/\*[^!].*?\*/", _A | re.S | re.M)
_OLC = re.compile(r"(?:--|#)[^'\"\r\n]*(?=[\r\n]|\Z)", _A)
_USE = re.compile(r"use \S+(?=\n?\Z)", _A | re.I)
_ESCAPED_QUOTE = re.compile(r"\\[\"']", _A)
_DQ_STRING = re.compile(r'".*?"', _A | re.S)
_SQ_STRING = re.compile(r"'.*?'", _A | re.S)
_UNPAIRED_QUOTE = re.compile(r"['\"]")
_BOOLEAN = re.compile(r"\bfalse\b|\btrue\b", _A | re.I)
_NUMBER = re.compile(r"[0-9+-][0-9a-f.xb+-]*", _A)
_LEFTOVER = re.compile(r"[xb.+-]\?", _A)
_LEADING_WS = re.compile(r"\A\s+", _A)
_WS_RUN = re.compile(r"[ \n\t\r\f]+")
_NULL = re.compile(r"\bnull\b", _A)
_IN_LIST = re.compile(r"\b(in|values?)(?:[\s,]*\([\s?,]*\))+", _A)
_UNION = re.compile(r"\b(select\s.*?)(?:(\sunion(?:\sall)?)\s\1)+", _A)
_LIMIT = re.compile(r"\blimit \?(?:, ?\?| offset \?)?", _A)
_ORDER_BY = re.compile(r"\bORDER BY ", _A | re.I)
_ASC = re.compile(r"(.+?)\s+ASC", _A | re.I)

_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _ascii_lower(text: str) -> str:
    # Perl's lc on a byte string only folds A-Z; str.lower() would also fold non-ASCII letters.
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def fingerprint(query: str) -> str:
    """Abstract a query to its class, exactly as pt-query-digest does."""
    q = query
    if _MYSQLDUMP.match(q):
        return "mysqldump"
    if "/*" in q and _PT_TOOL.search(q):
        return "percona-toolkit"
    if q.startswith("administrator command: "):
        return q
    m = _CALL.match(q)
    if m:
        return _ascii_lower(m.group(1))
    if q[:7].upper().startswith(("INSERT", "REPLACE")):
        m = _MULTI_INSERT.match(q)
        if m:
            q = m.group(1)
    if "/*" in q:
        q = _MLC.sub("", q)
    if "--" in q or "#" in q:
        q = _OLC.sub("", q)
    if q[:4].lower() == "use ":
        q2, n = _USE.subn("use ?", q, count=1)
        if n and _USE.match(q):
            return q2
    if "\\" in q:
        # pt 3.x drops escaped backslashes before escaped quotes ("Does not handle all quoted strings").
        q = q.replace("\\\\", "")
        q = _ESCAPED_QUOTE.sub("", q)
    if '"' in q:
        q = _DQ_STRING.sub("?", q)
    if "'" in q:
        q = _SQ_STRING.sub("?", q)
    # A quote left over is unpaired: a literal the log cut short (RDS truncates long statements).
    # pt keeps its text, one class per cut statement with the literal in it; we end the query there.
    cut = _UNPAIRED_QUOTE.search(q)
    if cut:
        q = q[: cut.start()] + "?"
    q = _BOOLEAN.sub("?", q)
    q = _NUMBER.sub("?", q)
    q = _LEFTOVER.sub("?", q)
    q = _LEADING_WS.sub("", q)
    if q.endswith("\n"):  # chomp
        q = q[:-1]
    q = _WS_RUN.sub(" ", q)
    q = _ascii_lower(q)
    q = _NULL.sub("?", q)
    q = _IN_LIST.sub(r"\1(?+)", q)
    if " union" in q:
        q = _UNION.sub(r"\1 /*repeat\2*/", q)
    q = _LIMIT.sub("limit ?", q, count=1)
    m = _ORDER_BY.search(q)
    if m:
        q = _strip_asc(q, m.end())
    return q


def _strip_asc(q: str, pos: int) -> str:
    # Perl: `1 while $query =~ s/\G(.+?)\s+ASC/$1/gi && pos $query;` -- contiguous matches anchored
    # at the end of "ORDER BY ", each dropping one "\s+ASC".
    out = [q[:pos]]
    while True:
        m = _ASC.match(q, pos)
        if not m:
            break
        out.append(m.group(1))
        pos = m.end()
    out.append(q[pos:])
    return "".join(out)


def checksum(fp: str) -> str:
    """pt-query-digest's class checksum: MD5 of the fingerprint bytes, upper-case hex."""
    return checksum_raw(fp.encode("utf-8", "surrogateescape"))


def checksum_raw(fp: bytes) -> str:
    """checksum() of a fingerprint given as the log's bytes."""
    return hashlib.md5(fp).hexdigest().upper()


try:  # the optional C accelerator (built by `pip install`; same results, tested against this module)
    from ._speedups import fingerprint_bytes as _c_fingerprint_bytes
except ImportError:  # pragma: no cover - no compiler on this machine
    _c_fingerprint_bytes = None

HAVE_SPEEDUPS = _c_fingerprint_bytes is not None


def fingerprint_raw(query: bytes) -> bytes:
    """Fingerprint of a query as the log's bytes (pt works on bytes too)."""
    if _c_fingerprint_bytes is not None:
        fp = _c_fingerprint_bytes(query)
        if fp is not None:
            return fp
    return fingerprint(query.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
