"""ParallelParse (the pipeline's all-cores parse of a unit) against the serial path, on real logs:
the shared corpus (MySQL family, PostgreSQL, Redis), a gzip-compressed one, and big plain files cut
into many pieces (small ``piece_bytes``, so the cuts land all over real entries)."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import pyarrow as pa
import pytest

from dagster_project.slowlog.events import EVENT_SCHEMA
from dagster_project.slowlog.parallel import ParallelParse
from dagster_project.slowlog.parse import parse_log
from tests.support.corpus import CORPUS

SAMPLE = Path(__file__).resolve().parents[2] / "dagster_project" / "sample_data" / "rds"

MYSQL = [CORPUS / "percona/slowlogs/slow002.txt", CORPUS / "percona/slowlogs/mysql5.7.log",
         CORPUS / "filebeat/mysql-slowlog/mariadb-10.3.13.log", CORPUS / "filebeat/mysql-slowlog/percona-ubuntu-8.0.15.log"]


def _big(tmp_path, name: str, sources, copies: int) -> str:
    path = tmp_path / name
    with open(path, "wb") as out:
        for _ in range(copies):
            for src in sources:
                data = src.read_bytes()
                out.write(data if data.endswith(b"\n") else data + b"\n")
    return str(path)


def _serial(files, instance="db-1", engine="auto"):
    tables, stats = [], []
    for path, name in files:
        parsed = parse_log(path, instance=instance, engine=engine, source_file=name)
        tables.append(pa.Table.from_batches(list(parsed), schema=EVENT_SCHEMA))
        stats.append(parsed.stats)
    return pa.concat_tables(tables), stats


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_parallel_parse_equals_the_serial_path_row_for_row(tmp_path, workers):
    big = _big(tmp_path, "mysql-slowquery.log.2026-11-24.01", MYSQL, copies=30)
    assert os.path.getsize(big) > 200_000
    gz = tmp_path / "mysql-slowquery.log.2026-11-24.02.gz"
    gz.write_bytes(gzip.compress((CORPUS / "percona/slowlogs/slow006.txt").read_bytes()))
    files = [(big, os.path.basename(big)), (str(gz), gz.name), (str(MYSQL[1]), "plain.log")]
    spool = tmp_path / "spool"
    spool.mkdir()
    parsed = ParallelParse(files, instance="db-1", workers=workers, spool_dir=str(spool), piece_bytes=20_000)
    pieces = list(parsed._pieces())
    assert len(pieces) > 10  # the big file really is cut in many places
    got = pa.Table.from_batches(list(parsed), schema=EVENT_SCHEMA)
    want, want_stats = _serial(files)
    assert got.num_rows == want.num_rows > 300
    assert got.to_pylist() == want.to_pylist()  # same rows, same order, every column
    assert [s.as_dict() for s in parsed.stats] == [s.as_dict() for s in want_stats]
    assert all(s.accounted for s in parsed.stats)
    assert os.listdir(spool) == []  # every spool file read and removed


def test_parallel_parse_of_other_engines_keeps_files_whole(tmp_path):
    fixtures = CORPUS / "pgbadger" / "fixtures"
    pg = [fixtures / "stmt_type.log", fixtures / "multiline_param.log", fixtures / "queryid.log.gz"]
    redis = sorted(SAMPLE.glob("*/*redis*"))[:2] or sorted(SAMPLE.rglob("*.json"))[:2]
    files = [(str(p), p.name) for p in [*pg, *redis]]
    assert len(files) == 5
    spool = tmp_path / "spool"
    spool.mkdir()
    parsed = ParallelParse(files, instance="db-1", workers=2, spool_dir=str(spool), piece_bytes=1_000)
    assert all(piece[3] is None for piece in parsed._pieces())  # no cut inside a PostgreSQL/Redis file
    got = pa.Table.from_batches(list(parsed), schema=EVENT_SCHEMA)
    want, want_stats = _serial(files)
    assert got.to_pylist() == want.to_pylist() and got.num_rows > 0
    assert [s.as_dict() for s in parsed.stats] == [s.as_dict() for s in want_stats]
