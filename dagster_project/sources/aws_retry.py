"""AWS calls that survive throttling: which errors are worth retrying, and a bounded, jittered
loop-level retry on top of botocore's own (shared by the RDS and CloudWatch Logs sources)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .base import LogSourceError

__all__ = ["BotocoreSource", "CallCounters", "DEFAULT_LOOP_RETRIES", "RetryingCaller", "is_retryable_error", "error_code"]

# Loop-level retries after botocore's own gave up (its attempts spent, or its client's retry quota,
# as in a throttling storm): waits of 0.5, 1, 2, 4, 8, 16, 20, 20 s (each jittered to 50-100%), so
# a call rides out a throttle of 40-70 s on top of botocore's short retries (see
# aws_client.DEFAULT_MAX_BACKOFF_S) before it fails and its unit is reported.
DEFAULT_LOOP_RETRIES = 8

_THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)



def error_code(exc: BaseException) -> tuple[str, int]:
    resp = getattr(exc, "response", None) or {}
    code = str((resp.get("Error") or {}).get("Code") or "")
    status = int((resp.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    return code, status


class _HTTPRetryable(Exception):
    """A 429/5xx or connection failure of the DownloadCompleteDBLogFile GET (retried)."""

    response = {"Error": {"Code": "ServiceUnavailable"}, "ResponseMetadata": {"HTTPStatusCode": 503}}


def is_retryable_error(exc: BaseException) -> bool:
    """Throttling, 5xx, and transient connection errors."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        IncompleteReadError,
        ReadTimeoutError,
    )
    from botocore.parsers import ResponseParserError
    from urllib3.exceptions import ProtocolError

    if isinstance(exc, _HTTPRetryable):
        return True
    # A response cut mid-body: botocore disables urllib3's length check, so it surfaces as a parse
    # error. Asking again with the same Marker is safe.
    if isinstance(exc, (ResponseParserError, IncompleteReadError, ProtocolError)):
        return True
    if isinstance(exc, ClientError):
        code, status = error_code(exc)
        return code in _THROTTLE_CODES or status == 429 or status >= 500
    return isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectTimeoutError))


def _retry_attempts(resp: Any) -> int:
    try:
        return int((resp.get("ResponseMetadata") or {}).get("RetryAttempts") or 0)
    except Exception:  # noqa: BLE001 - metadata is best effort
        return 0


@dataclass
class CallCounters:
    """What one download's calls cost: retried calls, botocore's own retries included."""

    retries: int = 0


class RetryingCaller:
    """Calls a boto3 operation with bounded, jittered loop-level retries on top of botocore's own."""

    def __init__(
        self,
        max_retries: int = DEFAULT_LOOP_RETRIES,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.sleep = sleep

    def __call__(self, fn: Callable[..., Any], counters: CallCounters, **kwargs: Any) -> Any:
        attempt = 0
        while True:
            try:
                resp = fn(**kwargs)
            except Exception as exc:  # noqa: BLE001 - filtered below
                counters.retries += _retry_attempts(getattr(exc, "response", None) or {})
                if attempt >= self.max_retries or not is_retryable_error(exc):
                    if exc.__class__.__name__ == "ResponseParserError":
                        # its message quotes the raw response: log lines, i.e. unredacted SQL
                        raise LogSourceError(
                            f"{getattr(fn, '__name__', 'AWS call')}: the response was cut or unreadable "
                            f"{attempt + 1} times in a row") from None
                    raise
                attempt += 1
                counters.retries += 1
                delay = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
                self.sleep(delay * random.uniform(0.5, 1.0))
                continue
            counters.retries += _retry_attempts(resp)
            return resp


class BotocoreSource:
    """Mixin of the log sources whose downloads are botocore calls through ``self.client`` (RDS,
    CloudWatch Logs): the run's shared budget gates each HTTP attempt (see ``LogSource.gate_calls``)."""

    client: Any
    _slots: Any = None  # the run's DownloadSlots, when shared
    _detach_slots: Callable[[], None] | None = None

    def gate_calls(self, slots: Any) -> bool:
        if self._detach_slots is not None:
            self._detach_slots()
            self._detach_slots = None
        self._slots = slots
        if slots is not None:
            self._detach_slots = slots.attach(self.client)  # each HTTP attempt holds a slot
        return True
