"""PostgreSQL query fingerprints (the MySQL one, pt-compatible, lives in fingerprint.py untouched).

pt-query-digest's regexes do not know PostgreSQL's lexical rules (``$1`` parameters, ``::type`` casts,
dollar quoting, ``E'..'`` strings, double-quoted identifiers, nested comments), so PostgreSQL
queries get their own fingerprint, built on a small tokenizer that follows PostgreSQL's lexer:

* comments (``--``, nested ``/* */``) are dropped; whitespace runs collapse to one space;
* string literals (``'..'``, ``E'..'``, ``B'..'``, ``X'..'``, ``U&'..'``, ``$tag$..$tag$``), numbers,
  ``true``/``false`` and ``$n`` parameters become ``?`` (a unary sign before one goes with it);
* unquoted keywords and identifiers are lower-cased; double-quoted identifiers are kept verbatim;
* ``::type`` casts are kept (``'2024-01-01'::date`` -> ``?::date``);
* ``IN (?, ?, ..)``, ``VALUES (?, ..), (?, ..)`` and ``ARRAY[?, ..]`` collapse to ``in (?+)``,
  ``values (?+)``, ``array[?+]``; repeated identical VALUES rows collapse to the first row (pgBadger's
  ``in (...)`` is read as ``in (?+)``, so its normalized queries map onto these classes);
* trailing semicolons are dropped.

The result is idempotent (``fingerprint_pg(fingerprint_pg(q)) == fingerprint_pg(q)``); the class
checksum is the same as for MySQL: ``fingerprint.checksum`` (MD5 of the fingerprint, upper hex).
"""
from __future__ import annotations

import re

from .fingerprint import checksum  # noqa: F401  (re-exported: one checksum for every engine)

__all__ = ["fingerprint_pg", "checksum"]

# token kinds
_WORD, _QIDENT, _LIT, _OP, _PUNCT, _COLLAPSED = range(6)

_OP_CHARS = frozenset("+-*/<>=~!@#%^&|`")
_OP_KEEP_SIGN = frozenset("~!@#%^&|`")
# PostgreSQL's lexer: ASCII digits and blanks; any non-ASCII character is an identifier character.
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|"
    r"(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?"
)
_WORD_RE = re.compile(r"[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")
_PARAM = re.compile(r"\$[0-9]+")
_SPACE = re.compile(r"[ \t\n\r\f\v]+")
_BLANKS = frozenset(" \t\n\r\f\v")
_COLLAPSED_TEXT = ("(?+)", "[?+]")

# Words after which a +/- is a unary sign (folded into the literal) rather than a subtraction.
_SIGN_CONTEXT_WORDS = frozenset(
    "select where and or not when then else case return returning values in by limit offset between "
    "like ilike similar is on set having any all some array distinct as from with fetch rows row".split()
)
_LITERAL_WORDS = frozenset(("true", "false"))


_MASTER = re.compile(
    r"""(?P<ws>[ \t\n\r\f\v]+)
    |(?P<lc>--[^\n]*)
    |(?P<bc>/\*(?:[^*/]|\*(?!/)|/(?!\*))*(?:\*/|\Z))
    |(?P<nested>/\*)
    |(?P<lit>[eE]'(?:[^'\\]|\\.|'')*'?
       |(?:[bBxXnN]|[uU]&)?'[^']*(?:''[^']*)*'?
       |\$(?P<tag>(?:[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?)\$(?:.*?\$(?P=tag)\$|.*))
    |(?P<qid>(?:[uU]&)?"[^"]*(?:""[^"]*)*"?)
    |(?P<num>\$[0-9]+|\?
       |0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?)
    |(?P<coll>\(\?\+\)|\[\?\+\]|\(\.\.\.\))
    |(?P<cast>::)
    |(?P<op>(?:[+*<>=~!@\#%^&|`]|-(?!-)|/(?!\*))+)
    |(?P<word>[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*)
    |(?P<other>.)""",
    re.S | re.X,
)
_COLLAPSE_WORDS = frozenset(("in", "values", "array"))


def _tokens(q: str) -> list:
    """[kind, text, space_before] for each token (comments count as whitespace), or the slow path."""
    out: list = []
    space = False
    for m in _MASTER.finditer(q):
        g = m.lastgroup
        if g == "ws" or g == "lc" or g == "bc":
            space = True
            continue
        if g == "word":
            word = m.group()
            low = word.lower() if word.isascii() else _ascii_lower(word)
            if low in _LITERAL_WORDS:
                out.append((_LIT, "?", _fold_signs(out, space)))
            else:
                out.append((_WORD, low, space))
        elif g == "num":
            space = _fold_signs(out, space)
            out.append((_LIT, "?", space))
        elif g == "lit" or g == "tag":
            out.append((_LIT, "?", _fold_signs(out, space)))
        elif g == "op":
            op = m.group()
            # PostgreSQL: a multi-character operator cannot end in + or - unless it contains one of
            # ~ ! @ # % ^ & | ` -- so "=-1" is "=" followed by "-1".
            if len(op) > 1 and op[-1] in "+-" and not (_OP_KEEP_SIGN & set(op)):
                rest = op.rstrip("+-")
                if not rest:
                    rest = op[0]
                out.append((_OP, rest, space))
                for ch in op[len(rest):]:
                    out.append((_OP, ch, False))
            else:
                out.append((_OP, op, space))
        elif g == "qid":
            out.append((_QIDENT, m.group(), space))
        elif g == "cast":
            out.append((_PUNCT, "::", space))
        elif g == "coll":
            text = m.group()
            out.append((_COLLAPSED, "(?+)" if text == "(...)" else text, space))
        elif g == "nested":
            return _tokens_slow(q)  # nested /* /* */ */ comments: the character-level tokenizer
        else:
            out.append((_PUNCT, m.group(), space))
        space = False
    return out


def _tokens_slow(q: str) -> list[list]:
    """[kind, text, space_before] for each token; comments count as whitespace."""
    out: list[list] = []
    n = len(q)
    i = 0
    space = False
    while i < n:
        c = q[i]
        if c in _BLANKS:
            m = _SPACE.match(q, i)
            i = m.end()
            space = True
            continue
        if c == "-" and q.startswith("--", i):
            nl = q.find("\n", i)
            i = n if nl < 0 else nl + 1
            space = True
            continue
        if c == "/" and q.startswith("/*", i):
            i = nested_comment_end(q, i)
            space = True
            continue
        kind = None
        text = None
        if c == "'":
            i = _skip_string(q, i + 1, backslash=False)
            kind, text = _LIT, "?"
        elif c in "eEbBxXnN" and i + 1 < n and q[i + 1] == "'":
            i = _skip_string(q, i + 2, backslash=c in "eE")
            kind, text = _LIT, "?"
        elif c in "uU" and q.startswith("&'", i + 1):
            i = _skip_string(q, i + 3, backslash=False)
            kind, text = _LIT, "?"
        elif c in "uU" and q.startswith('&"', i + 1):
            j = _skip_quoted_ident(q, i + 3)
            kind, text = _QIDENT, q[i:j]
            i = j
        elif c == '"':
            j = _skip_quoted_ident(q, i + 1)
            kind, text = _QIDENT, q[i:j]
            i = j
        elif c == "$":
            m = _PARAM.match(q, i)
            if m:
                kind, text = _LIT, "?"
                i = m.end()
            else:
                m = _DOLLAR_TAG.match(q, i)
                if m:
                    tag = m.group(0)
                    end = q.find(tag, m.end())
                    i = n if end < 0 else end + len(tag)
                    kind, text = _LIT, "?"
                else:
                    kind, text = _PUNCT, "$"
                    i += 1
        elif "0" <= c <= "9" or (c == "." and i + 1 < n and "0" <= q[i + 1] <= "9"):
            m = _NUMBER.match(q, i)
            i = m.end()
            kind, text = _LIT, "?"
        elif c == "?":  # an already abstracted value (keeps the function idempotent)
            kind, text = _LIT, "?"
            i += 1
        elif c in "([" and q.startswith(_COLLAPSED_TEXT[0] if c == "(" else _COLLAPSED_TEXT[1], i):
            kind, text = _COLLAPSED, q[i : i + 4]
            i += 4
        elif c == "(" and q.startswith("(...)", i):
            kind, text = _COLLAPSED, "(?+)"
            i += 5
        elif c == ":" and q.startswith("::", i):
            kind, text = _PUNCT, "::"
            i += 2
        elif c in _OP_CHARS:
            j = i
            while j < n and q[j] in _OP_CHARS:
                if q.startswith("--", j) or q.startswith("/*", j):
                    break
                j += 1
            op = q[i:j]
            # PostgreSQL: a multi-character operator cannot end in + or - unless it contains one of
            # ~ ! @ # % ^ & | ` -- so "=-1" is "=" followed by "-1".
            while len(op) > 1 and op[-1] in "+-" and not (_OP_KEEP_SIGN & set(op)):
                op = op[:-1]
            kind, text = _OP, op
            i += len(op)
        else:
            m = _WORD_RE.match(q, i)
            if m:
                word = m.group(0)
                low = word.lower() if word.isascii() else _ascii_lower(word)
                kind, text = (_LIT, "?") if low in _LITERAL_WORDS else (_WORD, low)
                i = m.end()
            else:
                kind, text = _PUNCT, c
                i += 1
        if kind == _LIT:
            space = _fold_signs(out, space)
        out.append([kind, text, space])
        space = False
    return out


def _fold_signs(out: list, space: bool) -> bool:
    """Unary signs before a number are part of it: `x = -5` -> `x = ?`; binary `a - 5` is kept.
    Returns the space flag the number takes over (that of the first sign dropped)."""
    while out and out[-1][0] == _OP and out[-1][1] in ("-", "+") and (len(out) < 2 or not _operand_end(out[-2])):
        space = out.pop()[2]
    return space


def _ascii_lower(text: str) -> str:
    return "".join(ch.lower() if "A" <= ch <= "Z" else ch for ch in text)


def _skip_string(q: str, i: int, backslash: bool) -> int:
    n = len(q)
    while i < n:
        c = q[i]
        if backslash and c == "\\":
            i += 2
            continue
        if c == "'":
            if i + 1 < n and q[i + 1] == "'":
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _skip_quoted_ident(q: str, i: int) -> int:
    n = len(q)
    while i < n:
        if q[i] == '"':
            if i + 1 < n and q[i + 1] == '"':
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _operand_end(tok) -> bool:
    kind, text = tok[0], tok[1]
    if kind in (_LIT, _QIDENT, _COLLAPSED):
        return True
    if kind == _WORD:
        return text not in _SIGN_CONTEXT_WORDS
    return kind == _PUNCT and text in (")", "]")


def _is_value(toks, i) -> int:
    """If toks[i] starts `?` or `?::type...`, return the index after it, else -1."""
    if i >= len(toks):
        return -1
    if toks[i][0] != _LIT:
        return -1
    i += 1
    while i + 1 < len(toks) and toks[i][1] == "::" and toks[i + 1][0] in (_WORD, _QIDENT):
        i += 2
        # type modifiers / array suffix: varchar(?), int[]
        if i < len(toks) and toks[i][1] == "(":
            j = i + 1
            while j < len(toks) and toks[j][1] != ")":
                j += 1
            i = j + 1
        while i + 1 < len(toks) and toks[i][1] == "[" and toks[i + 1][1] == "]":
            i += 2
    return i


def _value_list(toks, i, close: str) -> int:
    """toks[i] is just after an opening bracket; if what follows is `v, v, ...` + close, return the
    index after close, else -1."""
    j = _is_value(toks, i)
    if j < 0:
        return -1
    while j < len(toks) and toks[j][1] == ",":
        j = _is_value(toks, j + 1)
        if j < 0:
            return -1
    if j < len(toks) and toks[j][1] == close:
        return j + 1
    return -1


def _tuple_end(toks, i) -> int:
    """toks[i] is '(': index after the matching ')', or -1."""
    depth = 0
    for j in range(i, len(toks)):
        t = toks[j][1]
        if toks[j][0] == _PUNCT and t == "(":
            depth += 1
        elif toks[j][0] == _PUNCT and t == ")":
            depth -= 1
            if depth == 0:
                return j + 1
    return -1


def _collapse(toks: list[list]) -> list[list]:
    out: list[list] = []
    i = 0
    n = len(toks)
    while i < n:
        tok = toks[i]
        out.append(tok)
        i += 1
        if tok[0] != _WORD or i >= n:
            continue
        word = tok[1]
        nxt = toks[i]
        if word == "in" and nxt[0] == _PUNCT and nxt[1] == "(":
            j = _value_list(toks, i + 1, ")")
            if j > 0:
                out.append([_COLLAPSED, "(?+)", True])
                i = j
        elif word == "array" and nxt[0] == _PUNCT and nxt[1] == "[":
            j = _value_list(toks, i + 1, "]")
            if j > 0:
                out.append([_COLLAPSED, "[?+]", False])
                i = j
        elif word == "values" and nxt[0] == _PUNCT and nxt[1] == "(":
            rows = []
            j = i
            while True:
                end = _tuple_end(toks, j)
                if end < 0:
                    break
                rows.append((j, end))
                if end < n and toks[end][1] == "," and end + 1 < n and toks[end + 1][1] == "(":
                    j = end + 1
                    continue
                break
            if not rows:
                continue
            if all(_value_list(toks, a + 1, ")") == b for a, b in rows):
                out.append([_COLLAPSED, "(?+)", True])
                i = rows[-1][1]
            elif len(rows) > 1:
                first = [t[1] for t in toks[rows[0][0] : rows[0][1]]]
                if all([t[1] for t in toks[a:b]] == first for a, b in rows[1:]):
                    out.extend(toks[rows[0][0] : rows[0][1]])
                    i = rows[-1][1]
    return out


def _render(toks: list[list]) -> str:
    parts: list[str] = []
    for _kind, text, space in toks:
        if space and parts:
            parts.append(" ")
        parts.append(text)
    return "".join(parts)


def fingerprint_pg(query: str) -> str:
    """Abstract a PostgreSQL query to its class (see the module docstring)."""
    toks = _tokens(query)
    while toks and toks[-1][0] == _PUNCT and toks[-1][1] == ";":
        toks.pop()
    return _render(_collapse(toks))


# -- the per-event path: fingerprints of queries that differ only in their numbers, computed once ----

# A run of ASCII digits that starts a number (not inside an identifier, a `$n` parameter or a
# dollar-quote tag) is lexically a number whatever its value: replacing it by "1" (a lone "0" is
# kept, so 0x.. / 0o.. / 0b.. prefixes stay what they were) changes no token boundary and no token
# kind, hence not the fingerprint. Double-quoted identifiers keep their digits verbatim: queries with
# a '"' are not masked. tests/slowlog/engines/test_postgres_formats.py checks the identity on the corpora.
_NUMBER_RUN = re.compile(r"(?<![\w$])(?!0(?![0-9]))[0-9]+")
_MASKED: dict[str, str] = {}
_MASKED_MAX = 50_000  # entries, and at most _MASKED_CHARS characters of keys: memory stays bounded
_MASKED_CHARS = 32 << 20
_masked_chars = 0


def mask_numbers(query: str) -> str:
    return _NUMBER_RUN.sub("1", query) if '"' not in query else query


def fingerprint_pg_cached(query: str) -> str:
    """fingerprint_pg(query), memoized on the query with its numbers masked (pgbench-like workloads
    repeat a handful of statements with different numbers: one tokenization per statement shape)."""
    global _masked_chars
    if len(query) > 65536:  # a huge statement (bulk INSERT ...) is fingerprinted, not kept
        return fingerprint_pg(query)
    key = _NUMBER_RUN.sub("1", query) if '"' not in query else query
    fp = _MASKED.get(key)
    if fp is None:
        if len(_MASKED) >= _MASKED_MAX or _masked_chars > _MASKED_CHARS:
            _MASKED.clear()
            _masked_chars = 0
        fp = _MASKED[key] = fingerprint_pg(key)
        _masked_chars += len(key) + len(fp)
    return fp


def nested_comment_end(q: str, i: int) -> int:
    """End of the PostgreSQL block comment opening at ``q[i]`` (they nest), or ``len(q)`` if cut."""
    depth, n = 0, len(q)
    while i < n:
        if q.startswith("/*", i):
            depth += 1
            i += 2
        elif q.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n
