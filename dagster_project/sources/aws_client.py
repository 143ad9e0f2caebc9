"""The one place boto3 clients are made: the CLI's fetch, the log-source resources, the CloudWatch
metrics resource and the S3 layout of the local source all call `make_client`, so retries,
endpoints and credentials behave the same everywhere."""

from __future__ import annotations

import random
import threading
from typing import Any

__all__ = ["DEFAULT_MAX_BACKOFF_S", "cap_retry_backoff", "make_boto_config", "make_client", "client_for_resource"]

RETRY_MODES = ("standard", "adaptive", "legacy")

# The longest botocore back-off before a retry: 1 s, so every retry waits rand(0, 1) s, botocore's
# own wait before a first retry. botocore's cap is 20 s (rand(0, 2**attempt) s for a throttle): right
# for a lone client, but here a call waiting to retry gives its download slot back, so its wait frees
# nothing for the other calls, and one call throttled four times in a row (up to 15 s of sleep)
# becomes the run's tail (fleet benchmark: effective concurrency 6.9-7.8 uncapped, 8.1-9.6 capped).
# A throttle that persists is left to the two slower tiers: each client's retry quota (botocore's,
# about 100 throttled retries) runs out within seconds of a storm, and then the sources' loop-level
# back-off (aws_retry.DEFAULT_LOOP_RETRIES, up to 20 s a wait) paces the calls.
DEFAULT_MAX_BACKOFF_S = 1.0

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


def cap_retry_backoff(client: Any, max_backoff_s: float) -> Any:
    """Cap the back-off of a standard- or adaptive-mode client's botocore retries at
    ``max_backoff_s`` (botocore has no setting for it). The client's retry handler is replaced by a
    fresh one made by botocore's own ``register_retry_handler`` (same max attempts, retry quota,
    throttle detection and jitter) whose delay is capped. Legacy mode is left as it is."""
    from botocore.retries import standard

    cap = float(max_backoff_s)
    if not cap >= 0:
        raise ValueError(f"max back-off must be >= 0 seconds, not {max_backoff_s!r}")
    retries = client.meta.config.retries or {}
    if retries.get("mode") not in ("standard", "adaptive"):
        return client
    name = client.meta.service_model.service_id.hyphenize()
    event, unique_id = f"needs-retry.{name}", f"retry-config-{name}"  # as botocore registers it
    events = client.meta.events
    events.unregister(event, unique_id=unique_id)
    total = retries.get("total_max_attempts")
    handler = standard.register_retry_handler(client, **({"max_attempts": total} if total is not None else {}))
    events.unregister(event, unique_id=unique_id)

    def needs_retry(**kwargs: Any) -> Any:
        delay = handler.needs_retry(**kwargs)  # None / False: no retry
        if isinstance(delay, (int, float)) and not isinstance(delay, bool) and delay > cap:
            # botocore drew rand(0, 1) * 2**attempt; one clipped to the cap would send every retry of
            # a storm at the same instant. A fresh draw below the cap keeps the full jitter: botocore's
            # draw, given it is under the cap, is uniform below it too.
            return random.uniform(0.0, cap)
        return delay

    events.register(event, needs_retry, unique_id=unique_id)
    return client


def make_client(
    service: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    max_attempts: int = 10,
    retry_mode: str = "standard",
    max_backoff_s: float = DEFAULT_MAX_BACKOFF_S,
    max_pool_connections: int = 10,
    profile_name: str | None = None,
    use_ssl: bool = True,
    verify: bool | str | None = None,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    aws_session_token: str | None = None,
) -> Any:
    """A boto3 client with botocore retries (standard mode by default, back-off capped at
    ``max_backoff_s``, see :data:`DEFAULT_MAX_BACKOFF_S`), keeping a connection open for each of
    ``max_pool_connections`` calls in flight, never fewer than botocore's default, 10 (calls beyond
    the pool open a connection, a TLS handshake against AWS, and drop it after). Credentials: the
    keys given, else the usual chain (environment, profile, instance role); endpoint: the one
    given, else what boto3 reads itself (``AWS_ENDPOINT_URL_<SERVICE>``)."""
    import boto3.session
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())
    session = boto3.session.Session(botocore_session=core, profile_name=profile_name)
    client = session.client(
        service,
        region_name=region,
        use_ssl=use_ssl,
        verify=verify,
        endpoint_url=endpoint_url,
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        aws_session_token=aws_session_token,
        config=make_boto_config(max_attempts=max_attempts, mode=retry_mode,
                                max_pool_connections=max(10, int(max_pool_connections))),
    )
    return cap_retry_backoff(client, max_backoff_s)


def client_for_resource(resource: Any, service: str, retry_mode: str = "standard") -> Any:
    """`make_client` from a dagster-aws ``ResourceWithBoto3Configuration`` (region, endpoint, keys,
    profile, SSL settings) with its ``max_attempts`` field, and ``max_backoff_s`` and
    ``max_concurrent_downloads`` (a connection for each call in flight) where it has them."""
    return make_client(
        service,
        region=resource.region_name,
        endpoint_url=resource.endpoint_url,
        max_attempts=resource.max_attempts,
        retry_mode=retry_mode,
        max_backoff_s=getattr(resource, "max_backoff_s", DEFAULT_MAX_BACKOFF_S),
        max_pool_connections=getattr(resource, "max_concurrent_downloads", 10),
        profile_name=resource.profile_name,
        use_ssl=resource.use_ssl,
        verify=resource.verify,
        aws_access_key_id=resource.aws_access_key_id,
        aws_secret_access_key=resource.aws_secret_access_key,
        aws_session_token=resource.aws_session_token,
    )
