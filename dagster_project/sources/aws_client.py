"""The one place boto3 clients are made: the CLI's fetch, the log-source resources, the CloudWatch
metrics resource and the S3 layout of the local source all call `make_client`, so retries,
endpoints and credentials behave the same everywhere."""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["make_boto_config", "make_client", "client_for_resource"]

RETRY_MODES = ("standard", "adaptive", "legacy")

_LOADER: Any = None
_LOADER_LOCK = threading.Lock()


def _shared_loader() -> Any:
    """One botocore data loader per process: service models (the RDS one is megabytes of JSON) are
    read and parsed once, not per client (47 ms -> 7 ms a client). Sessions stay per client, so
    credentials are resolved afresh each time."""
    global _LOADER
    with _LOADER_LOCK:
        if _LOADER is None:
            from botocore.loaders import create_loader

            _LOADER = create_loader()
        return _LOADER


def make_boto_config(max_attempts: int = 10, mode: str = "standard", **kwargs: Any):
    """botocore Config with the given retry mode (standard|adaptive|legacy) and max attempts."""
    from botocore.config import Config

    if mode not in RETRY_MODES:
        raise ValueError(f"retry mode must be standard, adaptive or legacy, not {mode!r}")
    return Config(retries={"mode": mode, "max_attempts": int(max_attempts)}, **kwargs)


def make_client(
    service: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    max_attempts: int = 10,
    retry_mode: str = "standard",
    profile_name: str | None = None,
    use_ssl: bool = True,
    verify: bool | str | None = None,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    aws_session_token: str | None = None,
) -> Any:
    """A boto3 client with botocore retries (standard mode by default). Credentials: the keys given,
    else the usual chain (environment, profile, instance role); endpoint: the one given, else what
    boto3 reads itself (``AWS_ENDPOINT_URL_<SERVICE>``)."""
    import boto3.session
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())
    session = boto3.session.Session(botocore_session=core, profile_name=profile_name)
    return session.client(
        service,
        region_name=region,
        use_ssl=use_ssl,
        verify=verify,
        endpoint_url=endpoint_url,
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        aws_session_token=aws_session_token,
        config=make_boto_config(max_attempts=max_attempts, mode=retry_mode),
    )


def client_for_resource(resource: Any, service: str, retry_mode: str = "standard") -> Any:
    """`make_client` from a dagster-aws ``ResourceWithBoto3Configuration`` (region, endpoint, keys,
    profile, SSL settings) with its ``max_attempts`` field."""
    return make_client(
        service,
        region=resource.region_name,
        endpoint_url=resource.endpoint_url,
        max_attempts=resource.max_attempts,
        retry_mode=retry_mode,
        profile_name=resource.profile_name,
        use_ssl=resource.use_ssl,
        verify=resource.verify,
        aws_access_key_id=resource.aws_access_key_id,
        aws_secret_access_key=resource.aws_secret_access_key,
        aws_session_token=resource.aws_session_token,
    )
