"""Property tests: the parser never crashes and accounts for every byte; fingerprints are stable."""
import io
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_project.slowlog.engines.mysql import format_entry
from dagster_project.slowlog.fingerprint import fingerprint
from dagster_project.slowlog.parse import parse_log
from tests.support.corpus import PERCONA

SAMPLE = (PERCONA / "slowlogs" / "slow002.txt").read_bytes()


def _parse(data: bytes, **kw):
    parsed = parse_log(io.BytesIO(data), **kw)
    rows = parsed.read_all()
    return rows, parsed.stats


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000), st.sampled_from(["auto", "mysql"]), st.integers(min_value=1, max_value=4096))
def test_arbitrary_bytes_never_crash_and_are_accounted(data, engine, chunk):
    rows, stats = _parse(data, engine=engine, chunk_size=chunk)
    if not data.startswith((b"\x1f\x8b\x08", b"BZh")):  # compressed input counts decompressed bytes
        assert stats.bytes_total == len(data)
    assert stats.accounted, stats
    assert stats.events == rows.num_rows


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=0, max_value=len(SAMPLE)))
def test_garbage_spliced_into_a_real_log_loses_no_byte(junk, at):
    # cut the real log at a line start so the splice does not glue junk onto a header line
    at = SAMPLE.rfind(b"\n", 0, at) + 1
    data = SAMPLE[:at] + junk + SAMPLE[at:]
    rows, stats = _parse(data)
    assert stats.accounted
    if data.startswith((b"\x1f\x8b\x08", b"BZh")) and stats.rejected_samples and "compressed" in stats.rejected_samples[-1]:
        return  # junk that opens a valid-looking gzip/bzip2 header: read as a damaged compressed file
    assert stats.bytes_total == len(data)
    assert stats.events >= 6  # at most the entries next to the junk can be damaged (8 in the file)


def test_false_gzip_magic_reads_as_plain_text():
    """Three bytes that look like a gzip header, then a plain log: not a damaged .gz, every byte counted."""
    data = b"\x1f\x8b\x08" + SAMPLE
    rows, stats = _parse(data)
    assert stats.accounted and stats.bytes_total == len(data) and rows.num_rows >= 7


IDENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
QUERY = st.one_of(
    st.builds(lambda c, t, v: f"SELECT {c} FROM {t} WHERE id = {v}", IDENT, IDENT, st.integers()),
    st.builds(lambda t, s: f"INSERT INTO {t} VALUES ('{s}')", IDENT,
              st.text(alphabet=st.characters(blacklist_characters="'\\\n\r", blacklist_categories=("Cs",)), max_size=20)),
    st.builds(lambda t, a, b: f"UPDATE {t} SET a = {a} WHERE b IN ({a}, {b})", IDENT, st.integers(), st.integers()),
)
EVENT = st.fixed_dictionaries({
    "ts": st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2037, 1, 1)).map(
        lambda d: d.replace(tzinfo=timezone.utc)),
    "user": IDENT, "host": IDENT, "ip": st.sampled_from(["10.0.0.1", "127.0.0.1", ""]),
    "thread_id": st.integers(min_value=1, max_value=2**31),
    "query_time": st.floats(min_value=0, max_value=1e4).map(lambda x: round(x, 6)),
    "lock_time": st.floats(min_value=0, max_value=10).map(lambda x: round(x, 6)),
    "rows_sent": st.integers(min_value=0, max_value=10**9),
    "rows_examined": st.integers(min_value=0, max_value=10**9),
    "db": IDENT, "query": QUERY,
})


@settings(max_examples=200, deadline=None)
@given(st.lists(EVENT, min_size=1, max_size=5))
def test_parse_of_serialized_events_round_trips(events):
    rows, stats = _parse(b"".join(format_entry(e) for e in events))
    assert stats.rejected == 0 and stats.accounted
    got = rows.to_pylist()
    assert len(got) == len(events)
    for ours, e in zip(got, events):
        for key in ("user", "thread_id", "query_time", "lock_time", "rows_sent", "rows_examined", "db", "query"):
            assert ours[key] == e[key], key
        assert ours["ts"] == e["ts"]
        assert ours["host"] == (e["host"] or e["ip"])


@settings(max_examples=500, deadline=None)
@given(QUERY)
def test_fingerprint_idempotent_and_literal_free(query):
    fp = fingerprint(query)
    assert fingerprint(fp) == fp
    assert "'" not in fp and not any(ch.isdigit() for ch in fp.replace("?", ""))
