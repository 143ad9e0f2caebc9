"""Decompress gzip / bzip2 input ourselves, keeping everything the decompressor can recover.

``gzip.GzipFile`` loses the whole read that meets damage (and raises on trailing junk); here the
compressed bytes are fed in small pieces, a piece that fails is replayed byte by byte from a copy
of the decoder (so the output ends exactly where ``zcat`` would stop), and decoding resumes at the
next member header (concatenated members are legal and common). Where zlib refuses a distance
reaching before the member's start, gzip decodes on with zeros for that history: so do we. What
could not be decoded is
described, never dropped silently: one :class:`InputDamage` per stretch, with its compressed
offset and size. A :class:`DecompressionLimit` stops gzip bombs: past it the rest of the file is
rejected and counted.
"""
from __future__ import annotations

import bz2
import os
import re
import zlib
from dataclasses import dataclass

#: the defaults are far above real slow logs (they compress ~10-40x) and far below a bomb (~1000x)
DEFAULT_MAX_EXPANSION_RATIO = 200.0
DEFAULT_RATIO_FLOOR_BYTES = 64 << 20  # below this much output the ratio is not judged
DEFAULT_MAX_DECOMPRESSED_BYTES = 64 << 30
ENV_RATIO = "SLOWLOG_MAX_EXPANSION_RATIO"
ENV_MAX_BYTES = "SLOWLOG_MAX_DECOMPRESSED_BYTES"

_FEED = 16 << 10  # compressed bytes per decoder call: bounds the output of one call (~16 MB)
_READ = _FEED  # read what one call takes: slicing pending copies no more than that
_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class LimitSettingError(ValueError):
    """A malformed limit in a flag or the environment (one line)."""


def parse_size(text: str, what: str) -> int:
    """'500000', '64M', '2G' -> bytes; 0 turns the limit off."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)i?B?\s*", str(text), re.IGNORECASE)
    if not m:
        raise LimitSettingError(f"{what}: {text!r} is not a size (bytes, or with K/M/G/T)")
    return int(m.group(1)) * _SUFFIXES[m.group(2).upper()]


def parse_ratio(text: str, what: str) -> float:
    try:
        ratio = float(text)
    except ValueError:
        ratio = -1.0
    if not ratio >= 0:
        raise LimitSettingError(f"{what}: {text!r} is not a ratio (a number >= 0; 0 = no limit)")
    return ratio


@dataclass(frozen=True)
class DecompressionLimit:
    """Decompressed output allowed per file: at most ``max_bytes``, and at most ``max_ratio`` times
    the compressed bytes read so far once past ``floor_bytes``. 0 turns either off."""

    max_ratio: float = DEFAULT_MAX_EXPANSION_RATIO
    max_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES
    floor_bytes: int = DEFAULT_RATIO_FLOOR_BYTES

    @classmethod
    def resolve(cls, max_ratio: str | float | None = None, max_bytes: str | int | None = None) -> "DecompressionLimit":
        """Explicit values (CLI flags) first, then $SLOWLOG_MAX_EXPANSION_RATIO /
        $SLOWLOG_MAX_DECOMPRESSED_BYTES, then the defaults."""
        if max_ratio is None and os.environ.get(ENV_RATIO, "").strip():
            max_ratio, ratio_from = os.environ[ENV_RATIO], f"${ENV_RATIO}"
        else:
            ratio_from = "--max-expansion-ratio"
        if max_bytes is None and os.environ.get(ENV_MAX_BYTES, "").strip():
            max_bytes, bytes_from = os.environ[ENV_MAX_BYTES], f"${ENV_MAX_BYTES}"
        else:
            bytes_from = "--max-decompressed-bytes"
        return cls(
            max_ratio=DEFAULT_MAX_EXPANSION_RATIO if max_ratio is None else parse_ratio(max_ratio, ratio_from),
            max_bytes=DEFAULT_MAX_DECOMPRESSED_BYTES if max_bytes is None else parse_size(max_bytes, bytes_from),
        )

    def exceeded(self, out_bytes: int, in_bytes: int) -> str | None:
        """Why ``out_bytes`` decompressed from ``in_bytes`` is over the limit, or None."""
        if self.max_bytes and out_bytes > self.max_bytes:
            return (f"decompressed size passed {self.max_bytes} bytes "
                    f"(${ENV_MAX_BYTES} / --max-decompressed-bytes)")
        if self.max_ratio and out_bytes > self.floor_bytes and out_bytes > self.max_ratio * max(in_bytes, 1):
            return (f"{out_bytes} bytes from {in_bytes} compressed: expansion over {self.max_ratio:g}x "
                    f"(${ENV_RATIO} / --max-expansion-ratio)")
        return None


@dataclass
class InputDamage:
    """A stretch of compressed input no event could come from."""

    kind: str  # "damaged", "garbled" (decoded on), "cut short", "junk" (after a member), "over limit"
    offset: int  # compressed offset where it starts
    lost_bytes: int  # compressed bytes not decoded from there (0 for a file cut short: the rest is missing)
    detail: str

    def describe(self, fmt: str) -> str:
        if self.kind == "cut short":
            return (f"{fmt} data cut short at compressed offset {self.offset} (end of file inside a "
                    f"member: its remaining data is missing): {self.detail}")
        if self.kind == "garbled":
            return (f"{fmt} data damaged at compressed offset {self.offset} ({self.detail}): decoded on as "
                    f"gzip does, with zeros for the missing history; the text from there may be garbled")
        if self.kind == "over limit":
            return (f"decompression stopped at compressed offset {self.offset}: {self.detail}; "
                    f"the remaining {self.lost_bytes} compressed bytes are rejected")
        what = f"junk after a {fmt} member" if self.kind == "junk" else f"{fmt} data damaged"
        return (f"{what} at compressed offset {self.offset}: {self.lost_bytes} compressed "
                f"bytes not decoded ({self.detail})")


@dataclass(frozen=True)
class _Format:
    name: str
    header: re.Pattern  # where a member / stream starts (to resume after damage)
    new_decoder: type
    replayable: bool  # zlib decoders can be copied: a failing piece is replayed byte by byte
    feed: int  # compressed bytes per decoder call: bounds the output of one call, and what an error loses


GZIP = _Format("gzip", re.compile(rb"\x1f\x8b\x08[\x00-\x1f]"), lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
               True, _FEED)
# bzip2 decoders cannot be copied; small calls keep a block finished before the damage (its output
# comes in the call that completes it) out of the call that fails
BZIP2 = _Format("bzip2", re.compile(rb"BZh[1-9]1AY&SY"), bz2.BZ2Decompressor, False, 1 << 10)
_HEADER_BYTES = 10  # longest header pattern
_DECODE_ERRORS = (zlib.error, OSError, EOFError, ValueError)


def _replay(decoder, piece: bytes) -> tuple[bytes, int]:
    """Output of ``piece`` fed byte by byte to a copy of the decoder taken before it, up to the
    byte that fails, and that byte's index (what a one-shot call would have thrown away)."""
    out = []
    for i in range(len(piece)):
        try:
            out.append(decoder.decompress(piece[i : i + 1]))
        except _DECODE_ERRORS:
            return b"".join(out), i
    return b"".join(out), len(piece)


class DecompressingReader:
    """``read(n)`` over the decompressed bytes of a binary stream, never raising on bad data:
    ``damage`` lists what could not be decoded, once ``read`` has returned b""."""

    def __init__(self, raw, fmt: _Format, limit: DecompressionLimit) -> None:
        self._raw = raw
        self.format = fmt
        self.limit = limit
        self.damage: list[InputDamage] = []
        self.decompressed_bytes = 0
        self._pieces = self._decode()
        self._parts: list[bytes] = []
        self._have = 0

    def read(self, n: int = -1) -> bytes:
        want = n if n >= 0 else 1 << 62
        while self._have < want:
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._parts.append(piece)
            self._have += len(piece)
        data = b"".join(self._parts)
        out, rest = (data, b"") if len(data) <= want else (data[:want], data[want:])
        self._parts = [rest] if rest else []
        self._have = len(rest)
        return out

    def peek(self, n: int = 1) -> bytes:
        """The next bytes without consuming them (engine detection reads the head so)."""
        head = self.read(n)
        if head:
            self._parts.insert(0, head)
            self._have += len(head)
        return head

    @property
    def source(self):
        """The compressed stream (its owner closes it)."""
        return self._raw

    def _decode(self):  # one state machine over the members, kept in one place
        fmt, raw = self.format, self._raw
        pending = b""  # compressed bytes read, not yet fed
        pos = 0  # compressed offset of pending[0]
        eof = False
        decoder = None  # None: between members, looking for a header
        member_start = member_out = 0  # where the current member starts, bytes it decoded
        member_head: bytearray | None = None  # its compressed bytes while a gzip retry may need them
        skip = 0  # output of a member decoded again from its start that was already given
        raw_deflate = False  # the member is decoded past its header: its 8-byte trailer is skipped
        lost_from: int | None = None  # a stretch not decoded starts here (closed at the next good member)
        lost_kind = lost_detail = ""

        def fill(k: int) -> None:
            nonlocal pending, eof
            while len(pending) < k and not eof:
                more = raw.read(_READ)
                if more:
                    pending += more
                else:
                    eof = True

        def lose(kind: str, at: int, detail: str) -> None:
            nonlocal lost_from, lost_kind, lost_detail
            if lost_from is None:
                lost_from, lost_kind, lost_detail = at, kind, detail

        def close_lost(upto: int) -> None:
            nonlocal lost_from
            if lost_from is not None:
                self.damage.append(InputDamage(lost_kind, lost_from, max(0, upto - lost_from), lost_detail))
                lost_from = None

        while True:
            if decoder is None:
                fill(_HEADER_BYTES)
                if not pending:
                    break
                m = fmt.header.search(pending)
                if m is None or m.start() > 0:
                    lose("junk", pos, f"bytes after a {fmt.name} member that start no other member")
                    drop = m.start() if m else (len(pending) if eof else max(0, len(pending) - _HEADER_BYTES + 1))
                    pending, pos = pending[drop:], pos + drop
                    if m is None:
                        if not eof:
                            fill(len(pending) + _READ)
                        continue
                decoder, member_start, member_out, skip, raw_deflate = fmt.new_decoder(), pos, 0, 0, False
                member_head = bytearray() if fmt is GZIP else None
            fill(1)
            if not pending:  # the file ends inside a member
                try:
                    tail = decoder.flush() if hasattr(decoder, "flush") else b""
                except _DECODE_ERRORS:
                    tail = b""
                if tail[skip:]:
                    self.decompressed_bytes += len(tail) - skip
                    yield tail[skip:]
                if lost_from is not None and not member_out:
                    close_lost(pos)  # a header look-alike in a damaged stretch: all of it lost
                else:
                    close_lost(member_start)
                    self.damage.append(InputDamage("cut short", pos, 0, f"the member started at {member_start}"))
                break
            piece, pending = pending[: fmt.feed], pending[fmt.feed :]
            if member_head is not None:
                member_head += piece
            saved = decoder.copy() if fmt.replayable else None
            try:
                out = decoder.decompress(piece)
            except _DECODE_ERRORS as exc:
                out, bad = _replay(saved, piece) if saved is not None else (b"", 0)
                out, skip = out[skip:], max(0, skip - len(out))
                if out:
                    member_out += len(out)
                    close_lost(member_start)
                    self.decompressed_bytes += len(out)
                    yield out
                body = _gzip_body_offset(member_head) if member_head is not None and "too far back" in str(exc) else None
                if body is not None and lost_from is None:
                    # A distance reaching before the member's start: gzip decodes on with zeros for
                    # that history (its window starts zeroed); do the same, from the member's start,
                    # dropping the output already given. The text from there may be garbled.
                    self.damage.append(InputDamage("garbled", pos + bad, 0, str(exc)))
                    pending, pos = bytes(member_head[body:]) + pending, member_start + body
                    decoder = zlib.decompressobj(-zlib.MAX_WBITS, zdict=bytes(1 << 15))
                    skip, raw_deflate, member_head = member_out, True, None
                    continue
                lose("damaged", pos + bad, str(exc) or type(exc).__name__)
                pending, pos, decoder = piece[bad + 1 :] + pending, pos + bad + 1, None  # to the next member
                continue
            if skip:
                out, skip = out[skip:], max(0, skip - len(out))
            member_out += len(out)
            if member_head is not None and member_out > (1 << 15):
                member_head = None  # no distance can reach before the member's start any more
            consumed = len(piece)
            if decoder.eof:
                pending = decoder.unused_data + pending
                consumed -= len(decoder.unused_data)
                decoder = None
                if raw_deflate:  # the member's CRC-32 and size: known not to match (garbled)
                    fill(8)
                    consumed += len(pending[:8])
                    pending = pending[8:]
            pos += consumed
            if out or decoder is None:
                close_lost(member_start)  # a good member: the stretch lost before it ends here
            if out:
                self.decompressed_bytes += len(out)
                yield out
                why = self.limit.exceeded(self.decompressed_bytes, pos)
                if why:
                    rest = len(pending)
                    while not eof:
                        more = raw.read(_READ)
                        rest += len(more)
                        eof = not more
                    self.damage.append(InputDamage("over limit", pos, rest, why))
                    return
        close_lost(pos)


def _gzip_body_offset(member: bytes) -> int | None:
    """Where the deflate data of a gzip member starts (after its header, RFC 1952), or None."""
    if len(member) < 10:
        return None
    flags, at = member[3], 10
    if flags & 4:  # FEXTRA
        at += 2 + int.from_bytes(member[at : at + 2], "little")
    for flag in (8, 16):  # FNAME, FCOMMENT: zero-terminated
        if flags & flag:
            end = member.find(b"\0", at)
            if end < 0:
                return None
            at = end + 1
    if flags & 2:  # FHCRC
        at += 2
    return at if at <= len(member) else None


def open_decompressed(buffered, head: bytes, limit: DecompressionLimit | None):
    """A :class:`DecompressingReader` when ``head`` starts a gzip or bzip2 stream that really
    decodes (see :func:`decodes`), else None (the input is read as it is)."""
    if head[:3] == b"\x1f\x8b\x08":
        fmt = GZIP
    elif head[:3] == b"BZh" and head[4:10] == b"1AY&SY":  # bzip2 (pgBadger users keep .bz2 logs)
        fmt = BZIP2
    else:
        return None
    # gzip's 3 magic bytes may be a false alarm (then the bytes are read as text, and rejected);
    # bzip2's 10 are not: a stream damaged from its first block is damage, reported as such
    if fmt is GZIP and not decodes(fmt.new_decoder, _peek(buffered, 1 << 16)):
        return None
    return DecompressingReader(buffered, fmt, limit or DecompressionLimit.resolve())


def decodes(make_decompressor, head: bytes) -> bool:
    """False when the magic bytes were a false alarm: the data fails to decompress before
    yielding a single byte (then it is read as plain text, every byte accounted). A stream that
    decodes at first and is damaged later stays compressed: what precedes the damage is kept."""
    decompressor = make_decompressor()
    for i in range(0, len(head), 512):
        before = decompressor.copy()
        try:
            if decompressor.decompress(head[i : i + 512]):
                return True
        except _DECODE_ERRORS:
            return bool(_replay(before, head[i : i + 512])[0])  # damage after some output: compressed
    return True  # nothing decoded yet and nothing wrong yet: believe the magic


def _peek(f, n: int) -> bytes:
    if hasattr(f, "peek"):
        try:
            return f.peek(n)[:n]
        except _DECODE_ERRORS:
            return b""
    return b""
