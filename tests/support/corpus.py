"""Where the test data lives: the repository, the public corpora (``../shared/corpus`` beside the
repo, or ``$SLOWLOG_CORPUS``) and the test folder's own data files."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("SLOWLOG_CORPUS", REPO.parent / "shared" / "corpus")).resolve()
PERCONA = CORPUS / "percona"
FILEBEAT = CORPUS / "filebeat"
#: public MySQL-family parser test logs (tests/data/mysql/SOURCES.md)
MYSQL_DATA = REPO / "tests" / "data" / "mysql"
#: pgBadger fixtures kept in the repository (tests/fixtures/pgbadger/SOURCES.md)
PGBADGER_FIXTURES = REPO / "tests" / "fixtures" / "pgbadger"
#: the bundled sample estate (captured from real servers)
SAMPLE_RDS = REPO / "dagster_project" / "sample_data" / "rds"
