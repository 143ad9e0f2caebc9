"""Slack for the daily report: dagster-slack's ``SlackResource`` with what a scheduled upload needs.

    slack = SlackReportResource()                       # token: $SLACK_BOT_TOKEN, channel: $SLACK_CHANNEL_ID
    slack = SlackReportResource(token=dg.EnvVar("SLACK_BOT_TOKEN"), channel_id="C0123456789")
    result = slack.send_report("*Slow query report*", [("top_classes.png", png_bytes, "Top classes")])

* Files go up with ``files_upload_v2`` (``files.getUploadURLExternal`` -> upload URL ->
  ``files.completeUploadExternal``; the old ``files.upload`` is retired), to a channel **ID**
  (``C…``, ``G…`` or ``D…``): a ``#name`` is refused with a message saying where to find the ID.
  With no file, the text goes with ``chat.postMessage``.
* Retries: slack_sdk's retry handlers on every API call (HTTP 429 honouring ``Retry-After``, 5xx,
  connection resets), and a bounded loop around the whole upload (the upload URL step has no
  handler in slack_sdk; a rate limit that outlasts the handlers is waited out too).
* Permanent errors (``invalid_auth``, ``channel_not_found``, ``not_in_channel``, ``missing_scope``,
  ...) fail at once with a one-line :class:`SlackSendError`; no message produced here ever includes
  the token.
* No token configured (the demo, a laptop): :meth:`skip_reason` says so and nothing is sent.
* ``base_url`` points slack_sdk elsewhere (tests use a local server).
"""
from __future__ import annotations

import os
import random
import re
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.error import HTTPError, URLError

from dagster_slack import SlackResource
from pydantic import Field
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from dagster_project.resources.masking import mask_secrets

__all__ = ["SlackReportResource", "SlackSendError", "validate_channel_id", "TOKEN_ENV", "CHANNEL_ENV"]

TOKEN_ENV = "SLACK_BOT_TOKEN"
CHANNEL_ENV = "SLACK_CHANNEL_ID"
DEFAULT_BASE_URL = "https://slack.com/api/"

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,20}$")
_TRANSIENT = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
                        "request_timeout", "team_added_to_org"})
_HINTS = {
    "invalid_auth": "the token is invalid; check {token_env}",
    "not_authed": "no token was sent; check {token_env}",
    "token_revoked": "the token was revoked; issue a new bot token and update {token_env}",
    "token_expired": "the token has expired; refresh it and update {token_env}",
    "account_inactive": "the token belongs to a deactivated user or app; update {token_env}",
    "channel_not_found": "the bot cannot see channel {channel}; check the channel ID and the workspace",
    "not_in_channel": "the bot is not a member of {channel}; invite it with /invite @<your app>",
    "is_archived": "channel {channel} is archived",
    "missing_scope": "the token lacks a scope ({needed}); add it to the Slack app and reinstall",
    "restricted_action": "the workspace does not allow this app to post in {channel}",
    "invalid_channel": "{channel} is not a channel the bot can upload to",
}


class SlackSendError(RuntimeError):
    """Sending to Slack failed (one line, never the token)."""


def validate_channel_id(channel: str | None) -> str:
    """The channel ID, stripped; a clear ``ValueError`` for a name or anything that is not an ID."""
    value = (channel or "").strip()
    if not value:
        raise ValueError(f"no Slack channel configured: set {CHANNEL_ENV} or channel_id to a channel ID like C0123456789")
    if value.startswith("#") or not _CHANNEL_ID.match(value):
        kind = "a channel name" if value.startswith("#") or value.islower() else "not a channel ID"
        raise ValueError(
            f"Slack channel {value!r} is {kind}; files_upload_v2 needs the channel ID (C…, G… or D…, e.g. "
            f"C0123456789): in Slack open the channel's details, the ID is at the bottom of the About tab"
        )
    return value


class _Counting:
    """Mixin recording every retry a slack_sdk handler decides on."""

    def __init__(self, *args: Any, log: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._log = log

    def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:  # noqa: ANN001
        method = request.url.rstrip("/").rsplit("/", 1)[-1] if getattr(request, "url", None) else "?"
        status = response.status_code if response is not None else type(error).__name__
        self._log.append(f"{method}: {status}")
        super().prepare_for_next_attempt(state=state, request=request, response=response, error=error)


class _RateLimitHandler(_Counting, RateLimitErrorRetryHandler):
    pass


class _ServerErrorHandler(_Counting, ServerErrorRetryHandler):
    def _can_retry(self, *, state, request, response=None, error=None) -> bool:  # noqa: ANN001
        return response is not None and 500 <= response.status_code <= 599


class _ConnectionHandler(_Counting, ConnectionErrorRetryHandler):
    pass


class SlackReportResource(SlackResource):
    """dagster-slack's SlackResource plus channel, retries and a configurable API base URL."""

    token: str | None = Field(  # type: ignore[assignment]  # optional here: no token = nothing sent
        default=None,
        description=f"Bot token (xoxb-…). Default: ${TOKEN_ENV}. Without one nothing is sent. "
        "Pass it as dg.EnvVar, never as a literal.",
    )
    channel_id: str | None = Field(
        default=None, description=f"Channel ID (C…/G…/D…, not #name). Default: ${CHANNEL_ENV}."
    )
    base_url: str = Field(default=DEFAULT_BASE_URL, description="Slack Web API base URL (tests: a local server).")
    timeout: int = Field(default=30, description="HTTP timeout per request, seconds.")
    rate_limit_retries: int = Field(default=3, description="Retries of one API call answered 429 (Retry-After honoured).")
    server_error_retries: int = Field(default=2, description="Retries of one API call answered 5xx.")
    max_attempts: int = Field(default=3, description="Attempts of a whole upload (the upload URL step included).")
    backoff_seconds: float = Field(default=1.0, description="First wait between whole-upload attempts (doubles).")

    def __repr_args__(self):  # type: ignore[override]
        return mask_secrets(super().__repr_args__(), {"token"})

    # ------------------------------------------------------------------------------ config
    def resolved_token(self) -> str | None:
        return (self.token or os.environ.get(TOKEN_ENV) or "").strip() or None

    def resolved_channel(self) -> str | None:
        return (self.channel_id or os.environ.get(CHANNEL_ENV) or "").strip() or None

    def skip_reason(self) -> str | None:
        """Why nothing would be sent (no token), or None."""
        if self.resolved_token() is None:
            return f"{TOKEN_ENV} not set"
        return None

    def get_client(self, retry_log: list[str] | None = None) -> WebClient:  # type: ignore[override]
        token = self.resolved_token()
        if token is None:
            raise SlackSendError(f"{TOKEN_ENV} not set: no Slack token configured")
        log = retry_log if retry_log is not None else []
        base_url = self.base_url if self.base_url.endswith("/") else self.base_url + "/"
        return WebClient(
            token=token,
            base_url=base_url,
            timeout=self.timeout,
            retry_handlers=[
                _ConnectionHandler(max_retry_count=2, log=log),
                _RateLimitHandler(max_retry_count=self.rate_limit_retries, log=log),
                _ServerErrorHandler(max_retry_count=self.server_error_retries, log=log),
            ],
        )

    # -------------------------------------------------------------------------------- send
    def send_report(
        self,
        text: str,
        files: Sequence[tuple[str, bytes, str]] = (),
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> dict:
        """Upload ``files`` (filename, bytes, title) with ``text`` as the initial comment (or post
        ``text`` alone). Returns ``{"status": "sent", "channel", "method", "files", "file_ids",
        "attempts", "retries"}``; raises :class:`SlackSendError` (permanent error or retries spent)
        or ``ValueError`` (channel not an ID). Call :meth:`skip_reason` first."""
        channel = validate_channel_id(self.resolved_channel())
        token = self.resolved_token()
        retries: list[str] = []
        client = self.get_client(retries)
        attempts = 0
        while True:
            attempts += 1
            try:
                if files:
                    response = client.files_upload_v2(
                        file_uploads=[{"file": data, "filename": name, "title": title} for name, data, title in files],
                        channel=channel,
                        initial_comment=text,
                    )
                    ids = [f.get("id") for f in (response.get("files") or [])]
                    method = "files_upload_v2"
                else:
                    response = client.chat_postMessage(channel=channel, text=text, unfurl_links=False)
                    ids = []
                    method = "chat.postMessage"
                return {"status": "sent", "channel": channel, "method": method, "files": [f[0] for f in files],
                        "file_ids": ids, "attempts": attempts, "retries": list(retries)}
            except (SlackApiError, SlackRequestError, HTTPError, URLError, OSError) as e:
                transient, wait, message = _classify(e, channel, token)
                if not transient or attempts >= self.max_attempts:
                    if transient:
                        message += f" (gave up after {attempts} attempts)"
                    raise SlackSendError(_scrub(message, token)) from None
                retries.append(f"attempt {attempts}: {_scrub(message, token)}")
                sleep(wait if wait is not None else self.backoff_seconds * 2 ** (attempts - 1) * (1 + random.random() / 4))


def _method(url: str | None) -> str:
    return (url or "").rstrip("/").rsplit("/", 1)[-1] or "Slack API"


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == "retry-after":
            if isinstance(value, list):
                value = value[0] if value else None
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def _classify(e: Exception, channel: str, token: str | None) -> tuple[bool, float | None, str]:
    """(transient?, seconds to wait or None, one-line message)."""
    if isinstance(e, SlackApiError):
        response = e.response
        status = getattr(response, "status_code", None)
        data = response.data if isinstance(getattr(response, "data", None), dict) else {}
        error = str(data.get("error") or f"HTTP {status}")
        method = _method(getattr(response, "api_url", None))
        hint = _HINTS.get(error)
        text = f"Slack {method} failed: {error}"
        if hint:
            text += " (" + hint.format(token_env=TOKEN_ENV, channel=channel, needed=data.get("needed") or "files:write") + ")"
        if status == 429 or error in ("ratelimited", "rate_limited"):
            return True, _retry_after(getattr(response, "headers", None)) or 1.0, text
        if (status or 0) >= 500 or error in _TRANSIENT:
            return True, None, text
        return False, None, text
    if isinstance(e, HTTPError):  # the upload URL step (urllib)
        text = f"Slack file upload failed: HTTP {e.code} {e.reason}"
        if e.code == 429:
            return True, _retry_after(e.headers) or 1.0, text
        return e.code >= 500, None, text
    if isinstance(e, SlackRequestError):
        text = f"Slack request failed: {' '.join(str(e).split())[:300]}"
        return "status: 5" in str(e) or "status: 429" in str(e), None, text
    if isinstance(e, (URLError, ConnectionError, socket.timeout, TimeoutError)):
        reason = getattr(e, "reason", e)
        return True, None, f"Slack unreachable: {type(e).__name__}: {' '.join(str(reason).split())[:200]}"
    return False, None, f"Slack call failed: {type(e).__name__}: {' '.join(str(e).split())[:300]}"


def _scrub(message: str, token: str | None) -> str:
    if token:
        message = message.replace(token, "***")
    return re.sub(r"xox[abposr]-[A-Za-z0-9-]+", "xox?-***", message)
