"""Log sources: list a day's raw slow-log files and download them byte-identically.

- :class:`RDSLogSource` — RDS API (DescribeDBLogFiles / DownloadDBLogFilePortion)
- :class:`CloudWatchLogSource` — CloudWatch Logs groups RDS publishes to
- :class:`LocalLogSource` — a folder or ``s3://bucket/prefix`` laid out like RDS
"""

from .aws_client import make_boto_config, make_client
from .base import (
    TRUNCATION_MARKER,
    DownloadResult,
    LogFile,
    LogSource,
    LogSourceError,
    day_from_name,
    engine_of,
)
from .cloudwatch import CloudWatchLogSource
from .fetch import fetch_cloudwatch, fetch_rds
from .local import LocalLogSource
from .rds import RDSLogSource

__all__ = [
    "TRUNCATION_MARKER",
    "DownloadResult",
    "LogFile",
    "LogSource",
    "LogSourceError",
    "day_from_name",
    "engine_of",
    "RDSLogSource",
    "CloudWatchLogSource",
    "LocalLogSource",
    "make_boto_config",
    "make_client",
    "fetch_rds",
    "fetch_cloudwatch",
]
