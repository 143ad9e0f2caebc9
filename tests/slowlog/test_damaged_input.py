"""Damaged and hostile compressed input (issue 25 items 1, 6, 7): everything the decompressor can
recover lands, and every loss is said (where, how many bytes), never silent.

Real data: MySQL slow logs of Percona Toolkit's test suite (the shared corpus, SOURCES.md there),
compressed in the test and then damaged: cut short, junk appended, bytes overwritten mid-stream.
``zcat`` (GNU gzip) is the yardstick the issue names: we land at least as many events as
``zcat file | slowlog digest -``.
"""
from __future__ import annotations

import bz2
import gzip
import io
import json
import random
import shutil
import subprocess
import sys
import zlib

import pytest

from dagster_project.slowlog.parse import parse_log
from tests.support.corpus import PERCONA

SLOWLOG = [sys.executable, "-m", "dagster_project.cli"]
LOG = (PERCONA / "slowlogs" / "slow009.txt").read_bytes()  # 2001 entries, 404 KB
LOG_EVENTS = 2001
#: several real logs, one gzip member each (how rotated logs concatenated with `cat` look)
MEMBER_LOGS = [(PERCONA / "slowlogs" / f"slow0{n:02d}.txt").read_bytes() for n in (1, 2, 3, 4, 5, 6, 9, 30)]
needs_zcat = pytest.mark.skipif(shutil.which("zcat") is None, reason="zcat (GNU gzip) not installed")


def parsed(data: bytes, **kwargs):
    """(events, stats) of a log given as bytes, as the CLI and the pipeline read it."""
    p = parse_log(io.BufferedReader(io.BytesIO(data)), **kwargs)
    return sum(batch.num_rows for batch in p), p.stats


def zcat_events(data: bytes) -> int:
    """Events of what `zcat` writes before it gives up (the issue's yardstick)."""
    return parsed(subprocess.run(["zcat"], input=data, capture_output=True).stdout)[0]


def run(*args, env=None):
    return subprocess.run(SLOWLOG + list(args), capture_output=True, timeout=120, env=env)


def gzip_of_zeros(zeros: int, prefix: bytes = b"") -> bytes:
    """A gzip bomb made here, streamed: ``prefix`` then ``zeros`` NUL bytes, ~1000x smaller."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [c.compress(prefix)]
    block = bytes(1 << 20)
    for _ in range(zeros >> 20):
        parts.append(c.compress(block))
    return b"".join(parts) + c.flush()


# ------------------------------------------------------------------------------ item 1: gzip damage
@needs_zcat
@pytest.mark.parametrize("keep", [0.3, 0.5, 0.8])
def test_gzip_cut_short_keeps_everything_zcat_keeps_and_says_where(keep):
    whole = gzip.compress(LOG)
    cut = whole[: int(len(whole) * keep)]
    events, stats = parsed(cut)
    assert events >= zcat_events(cut) > 0
    assert events < LOG_EVENTS
    assert len(stats.input_errors) == 1 and f"cut short at compressed offset {len(cut)}" in stats.input_errors[0]
    assert stats.rejected >= 1 and stats.accounted


def test_junk_after_the_gzip_member_loses_no_event_and_is_counted():
    whole = gzip.compress(LOG)
    junk = random.Random(1).randbytes(1024)
    events, stats = parsed(whole + junk)
    assert events == LOG_EVENTS
    assert stats.lost_bytes == 1024
    assert stats.input_errors == [f"junk after a gzip member at compressed offset {len(whole)}: 1024 compressed "
                                  "bytes not decoded (bytes after a gzip member that start no other member)"]


def test_every_member_of_a_multi_member_gzip_is_read():
    events, stats = parsed(b"".join(gzip.compress(log) for log in MEMBER_LOGS))
    assert events == sum(parsed(log)[0] for log in MEMBER_LOGS) > LOG_EVENTS
    assert stats.input_errors == [] and stats.lost_bytes == 0 and stats.accounted


@needs_zcat
def test_damage_inside_a_member_resumes_at_the_next_member():
    """Bytes overwritten in the middle of the first member: zcat stops there; we keep that
    member's events before the damage and every event of the members after it."""
    members = [gzip.compress(log) for log in MEMBER_LOGS[-2:]]  # slow009 (2001 events), slow030
    data = bytearray(b"".join(members))
    middle = len(members[0]) // 2
    data[middle : middle + 64] = random.Random(2).randbytes(64)
    data = bytes(data)
    events, stats = parsed(data)
    after = parsed(MEMBER_LOGS[-1])[0]
    assert events >= zcat_events(data) + after
    assert stats.input_errors and "damaged at compressed offset" in stats.input_errors[0]
    offset = int(stats.input_errors[0].split("compressed offset ")[1].split()[0].rstrip(":"))
    assert middle <= offset < len(members[0])  # where it is: inside the damaged member
    assert stats.lost_bytes <= len(members[0]) - middle  # the lost stretch ends where member 2 starts


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress], ids=["gzip", "bzip2"])
def test_a_member_cut_short_then_a_whole_one_keeps_the_whole_one(compress):
    """`cat` of a rotated log cut by a full disk and the next one: the decoder takes the second
    member's start for the first one's data and notices only later; the second member is kept."""
    big = b"".join(MEMBER_LOGS) * 4  # > one piece of compressed input
    first, second = compress(big), compress(LOG)
    data = first[: len(first) * 2 // 3] + second
    events, stats = parsed(data)
    assert events >= LOG_EVENTS + 100 and stats.input_errors and stats.accounted


@needs_zcat
def test_a_distance_reaching_before_the_member_decodes_on_as_gzip_does():
    """zlib stops at "invalid distance too far back" where gzip carries on (zeros for the missing
    history): the first damaged byte that makes zlib say so must not cost the rest of the member."""
    whole = gzip.compress(LOG, mtime=0)
    for at in range(300, 3000):
        data = whole[:at] + bytes([whole[at] ^ 0x10]) + whole[at + 1 :]
        try:
            zlib.decompress(data, 16 + zlib.MAX_WBITS)
        except zlib.error as exc:
            if "too far back" in str(exc):
                break
    else:
        pytest.fail("no byte of the first 3000 gives 'too far back'")
    events, stats = parsed(data)
    assert events >= zcat_events(data) > 100  # stopping at the error would keep a handful
    assert len(stats.input_errors) == 1 and "decoded on as gzip does" in stats.input_errors[0]
    offset = int(stats.input_errors[0].split("compressed offset ")[1].split()[0])
    assert at <= offset < at + 64  # zlib notices the damaged byte a few bytes on


@needs_zcat
def test_random_damage_never_lands_fewer_events_than_zcat():
    whole = b"".join(gzip.compress(log) for log in MEMBER_LOGS)
    rng = random.Random(25)
    for _ in range(25):
        data = bytearray(whole)
        for _ in range(rng.choice([1, 2, 5])):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(len(data)) :]
        data = bytes(data)
        events, stats = parsed(data)
        assert events >= zcat_events(data)
        assert stats.accounted


def test_bzip2_damage_keeps_the_other_streams_and_says_where():
    streams = [bz2.compress(log) for log in MEMBER_LOGS[-2:]]
    cut = streams[0][: len(streams[0]) // 2] + streams[1]  # the first stream cut, the second whole
    events, stats = parsed(cut)
    assert events >= parsed(MEMBER_LOGS[-1])[0] > 0
    assert stats.input_errors and "bzip2 data damaged at compressed offset" in stats.input_errors[0]
    events, stats = parsed(bz2.compress(LOG) + b"\n-- appended by mistake --\n")
    assert events == LOG_EVENTS and stats.lost_bytes == 27 and "junk after a bzip2 member" in stats.input_errors[0]


def test_cli_says_what_was_lost_on_one_line_and_exits_1(tmp_path):
    whole = gzip.compress(LOG)
    path = tmp_path / "slow.log.gz"
    path.write_bytes(whole[: len(whole) // 2])
    r = run("digest", str(path))
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["events"] == parsed(path.read_bytes())[0] > 0 and out["lost_compressed_bytes"] == 0
    err = r.stderr.decode().splitlines()
    assert len(err) == 1 and str(path) in err[0] and f"compressed offset {len(whole) // 2}" in err[0]
    assert "Traceback" not in r.stderr.decode()


# ------------------------------------------------------------------------------- item 6: gzip bombs
def test_a_gzip_bomb_is_stopped_by_the_default_ratio(tmp_path):
    bomb = tmp_path / "bomb.log.gz"
    bomb.write_bytes(gzip_of_zeros(400 << 20, prefix=LOG))  # 400 MB of zeros after a real log
    r = run("digest", "--compact", str(bomb))
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["events"] == LOG_EVENTS  # what came before the limit landed
    assert out["rejected"] >= 1 and 0 < out["lost_compressed_bytes"] < bomb.stat().st_size
    err = r.stderr.decode()
    assert err.count("\n") == 1 and str(bomb) in err and "expansion over 200x" in err
    assert "SLOWLOG_MAX_EXPANSION_RATIO" in err


def test_decompression_limit_from_the_environment_and_the_flag(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.log.gz"
    bomb.write_bytes(gzip_of_zeros(8 << 20, prefix=LOG))
    env = {**__import__("os").environ, "SLOWLOG_MAX_DECOMPRESSED_BYTES": "1M"}
    r = run("digest", str(bomb), env=env)
    # the log's last entry runs on into the zeros: it is rejected with them
    assert r.returncode == 1 and json.loads(r.stdout)["events"] >= LOG_EVENTS - 1
    assert "passed 1048576 bytes" in r.stderr.decode()
    # the flag wins over the environment; 0 turns the limit off
    r = run("digest", "--max-decompressed-bytes", "0", str(bomb), env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["events"] >= LOG_EVENTS - 1, r.stderr
    # the same through parse_log (the pipeline's path): limit from the environment
    monkeypatch.setenv("SLOWLOG_MAX_DECOMPRESSED_BYTES", "2M")
    events, stats = parsed(bomb.read_bytes())
    assert events >= LOG_EVENTS - 1 and stats.input_errors and "passed 2097152 bytes" in stats.input_errors[0]
    assert stats.lost_bytes > 0 and stats.bytes_total < (3 << 20)
    r = run("digest", "--max-expansion-ratio", "lots", str(bomb))
    assert r.returncode == 2 and r.stderr.decode().count("\n") == 1 and "--max-expansion-ratio" in r.stderr.decode()


# ---------------------------------------------------------------------- item 7: rejected, out loud
def test_a_large_share_rejected_is_named_on_stderr(tmp_path):
    path = tmp_path / "slow.log"
    path.write_bytes(random.Random(3).randbytes(len(LOG) // 10) + b"\n" + LOG)
    r = run("digest", str(path))
    assert r.returncode == 0
    out = json.loads(r.stdout)
    # the junk's last line runs into the first entry: that entry is rejected with it
    assert out["events"] >= LOG_EVENTS - 1 and out["rejected_bytes"] >= len(LOG) // 10
    err = r.stderr.decode()
    assert err.count("\n") == 1 and "warning" in err and str(path) in err and f"{out['rejected_bytes']} of" in err
