"""Where the pipeline keeps its data, and the few knobs read from the environment.

The data root is ``$SLOWLOG_DATA_ROOT`` or ``./data``. It may be a local path or an S3 URI
(``s3://bucket/prefix``); everything below it (``raw/``, ``warehouse/``, ...) is reached through a
``pyarrow.fs.FileSystem`` so local and S3 roots share one code path.

S3 endpoint (MinIO, moto, LocalStack): ``$SLOWLOG_S3_ENDPOINT_URL``, else ``$AWS_ENDPOINT_URL_S3``,
else ``$AWS_ENDPOINT_URL``; region from ``$AWS_REGION`` / ``$AWS_DEFAULT_REGION``. Credentials follow
the usual AWS chain.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlparse

import pyarrow.fs as pafs

DEFAULT_DATA_ROOT = "./data"


def data_root(root: str | os.PathLike | None = None) -> str:
    """The data root: ``root`` if given, else ``$SLOWLOG_DATA_ROOT``, else ``./data``."""
    if root is not None:
        return os.fspath(root)
    return os.environ.get("SLOWLOG_DATA_ROOT") or DEFAULT_DATA_ROOT


def max_rejected_ratio() -> float:
    """Threshold of the ``rejected_ratio`` asset check (``$SLOWLOG_MAX_REJECTED_RATIO``, 1%)."""
    return float(os.environ.get("SLOWLOG_MAX_REJECTED_RATIO", "0.01"))


@dataclass(frozen=True)
class Root:
    """A resolved data root: a pyarrow filesystem and the base path inside it."""

    fs: pafs.FileSystem
    base: str  # no trailing slash; for S3 "bucket/prefix"
    uri: str  # as configured

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        return "/".join([self.base.rstrip("/"), *[p.strip("/") for p in parts if p]])


def _s3_filesystem(netloc_region: str | None = None) -> pafs.S3FileSystem:
    endpoint = (
        os.environ.get("SLOWLOG_S3_ENDPOINT_URL")
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    kwargs: dict = {}
    region = netloc_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        kwargs["region"] = region
    if endpoint:
        parsed = urlparse(endpoint)
        kwargs["endpoint_override"] = parsed.netloc or parsed.path
        kwargs["scheme"] = parsed.scheme or "https"
        # Local S3 look-alikes only do path-style addressing; pyarrow's default is fine for that.
    return pafs.S3FileSystem(**kwargs)


def resolve_root(root: str | os.PathLike | None = None) -> Root:
    """Resolve ``root`` (or the configured data root) to a filesystem and a base path."""
    uri = data_root(root)
    if uri.startswith("s3://") or uri.startswith("s3a://"):
        parsed = urlparse(uri)
        base = (parsed.netloc + "/" + parsed.path.lstrip("/")).rstrip("/")
        return Root(_s3_filesystem(), base, uri)
    if "://" in uri and not uri.startswith("file://"):
        fs, base = pafs.FileSystem.from_uri(uri)
        return Root(fs, base.rstrip("/"), uri)
    if uri.startswith("file://"):
        uri_path = urlparse(uri).path
    else:
        uri_path = uri
    return Root(pafs.LocalFileSystem(), os.path.abspath(uri_path).rstrip("/") or "/", uri)


def aws_max_backoff(default: float) -> float:
    """``$SLOWLOG_AWS_MAX_BACKOFF``: the longest botocore back-off of the AWS log sources, seconds."""
    text = (os.environ.get("SLOWLOG_AWS_MAX_BACKOFF") or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0:
        raise ValueError(f"SLOWLOG_AWS_MAX_BACKOFF must be a number of seconds >= 0, not {text!r}")
    return value


def parse_workers() -> int:
    """Processes that parse one unit of work (``$SLOWLOG_PARSE_WORKERS``, default: every core)."""
    return max(1, int(os.environ.get("SLOWLOG_PARSE_WORKERS") or os.cpu_count() or 1))


def parallel_min_bytes() -> int:
    """Below this many input bytes a unit is parsed in its own process (forking workers costs more
    than it saves); ``$SLOWLOG_PARALLEL_MIN_BYTES``, default 32 MB."""
    return int(os.environ.get("SLOWLOG_PARALLEL_MIN_BYTES") or 32 << 20)


def parse_steps() -> int:
    """Parse steps the multiprocess executor runs at once (``$SLOWLOG_PARSE_STEPS``, default one per
    core: a big unit uses every core itself, a small one a core each)."""
    return max(1, int(os.environ.get("SLOWLOG_PARSE_STEPS") or os.cpu_count() or 1))


def download_steps() -> int:
    """Download steps the multiprocess executor runs at once (``$SLOWLOG_DOWNLOAD_STEPS``, 8); a
    run's download budget (the log source's ``max_concurrent_downloads``) is shared among them."""
    return max(1, int(os.environ.get("SLOWLOG_DOWNLOAD_STEPS") or 8))


def opensearch_transport() -> dict:
    """TLS options of the default OpenSearch resource, as its fields: ``$OPENSEARCH_CA_CERTS``,
    ``$OPENSEARCH_CLIENT_CERT``, ``$OPENSEARCH_CLIENT_KEY`` (PEM files) and
    ``$OPENSEARCH_ALLOW_INSECURE_CREDENTIALS`` (``1``: send credentials over plain http anyway)."""
    fields = {"ca_certs": "OPENSEARCH_CA_CERTS", "client_cert": "OPENSEARCH_CLIENT_CERT",
              "client_key": "OPENSEARCH_CLIENT_KEY"}
    options: dict = {field: os.environ[var] for field, var in fields.items() if os.environ.get(var)}
    text = (os.environ.get("OPENSEARCH_ALLOW_INSECURE_CREDENTIALS") or "0").strip().lower()
    if text not in ("0", "1", "true", "false", "yes", "no"):
        raise ValueError(f"OPENSEARCH_ALLOW_INSECURE_CREDENTIALS must be 1 or 0, not {text!r}")
    options["allow_insecure_credentials"] = text in ("1", "true", "yes")
    return options
