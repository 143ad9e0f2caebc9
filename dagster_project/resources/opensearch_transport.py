"""How the OpenSearch client reaches the cluster: no credentials in clear, and the TLS options.

Credentials (basic auth, ``user:password@`` in a host URL, SigV4 signatures) are sent over https
only: over plain http anyone on the path reads the password (basic auth is base64, not encryption)
or replays the signed requests. ``allow_insecure_credentials`` (``$OPENSEARCH_ALLOW_INSECURE_CREDENTIALS=1``
for the default definitions) is the explicit opt-in, for a cluster reached through a tunnel or a
trusted network; it is logged as a warning. No credentials over http (the local development node)
is allowed, as it always was.

TLS: ``ca_certs`` (a private CA bundle), ``client_cert`` / ``client_key`` (mutual TLS) and
``verify_certs`` go to opensearch-py's own client options. ``verify_certs=False`` keeps
opensearch-py's own warning (``ssl_show_warn`` is never turned off) and logs one of ours.

Every check here runs before the client exists, so a refused configuration sends no byte. The
messages name hosts without their userinfo and never carry a secret.
"""
from __future__ import annotations

import logging
import os
import re
from typing import Any, Optional
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
_warned: set[str] = set()  # warnings already logged by this process (each is logged once)


class TransportSettingsError(ValueError):
    """Settings that would leak credentials or cannot work; the message is one line, secret-free."""


def strip_userinfo(url: str) -> str:
    """``url`` without ``user:password@`` (for messages, reprs and logs)."""
    return _USERINFO.sub(r"\1", url)


def _split(host: str):
    return urlsplit(host if "://" in host else "//" + host)  # "host:9200" is an http host to opensearch-py


def _is_https(host: str) -> bool:
    return _split(host).scheme.lower() == "https"


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)


def check_credentials_transport(hosts: list[str], auth: str, allow_insecure: bool) -> None:
    """Refuse credentials bound for a plain-http host (unless ``allow_insecure``, then warn once)."""
    clear = [h for h in hosts if not _is_https(h)]
    sent = []
    if auth == "basic":
        sent.append("basic-auth credentials")
    elif auth == "sigv4":
        sent.append("SigV4-signed requests")
    if any(_split(h).username is not None or _split(h).password is not None for h in clear):
        sent.append("the credentials in the URL")
    if not clear or not sent:
        return
    what = f"{' and '.join(sent)} over plain http to {', '.join(strip_userinfo(h) for h in clear)}"
    if not allow_insecure:
        raise TransportSettingsError(
            f"OpenSearch: refusing to send {what}: use an https:// URL, or opt in with "
            "allow_insecure_credentials=True ($OPENSEARCH_ALLOW_INSECURE_CREDENTIALS=1)"
        )
    _warn_once(f"OpenSearch: sending {what} (allow_insecure_credentials is set): "
               "anyone on the network path can read them")


def _existing_file(setting: str, path: Optional[str]) -> Optional[str]:
    if path is None:
        return None
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise TransportSettingsError(f"OpenSearch {setting}: no such file: {path}")
    return path


def tls_options(hosts: list[str], *, verify_certs: bool, ca_certs: Optional[str] = None,
                client_cert: Optional[str] = None, client_key: Optional[str] = None) -> dict[str, Any]:
    """opensearch-py client options for TLS (``{}`` when no host is https)."""
    named = [name for name, value in (("ca_certs", ca_certs), ("client_cert", client_cert),
                                      ("client_key", client_key)) if value]
    https = [h for h in hosts if _is_https(h)]
    if not https:
        if named:  # the user expects TLS: do not go on in clear
            raise TransportSettingsError(f"OpenSearch {', '.join(named)} set but no host is https:// "
                                         f"({', '.join(strip_userinfo(h) for h in hosts)})")
        return {}
    if client_key and not client_cert:
        raise TransportSettingsError("OpenSearch client_key is set without client_cert")
    if not verify_certs and named:
        # opensearch-py's urllib3 connection drops them when verification is off, its requests one refuses
        raise TransportSettingsError(f"OpenSearch {', '.join(named)} set with verify_certs=False: "
                                     "turn verification on, or unset them")
    options: dict[str, Any] = {"verify_certs": verify_certs}  # TLS itself: per host, by its https:// scheme
    for name, value in (("ca_certs", ca_certs), ("client_cert", client_cert), ("client_key", client_key)):
        path = _existing_file(name, value)
        if path:
            options[name] = path
    if not verify_certs:
        _warn_once(f"OpenSearch at {', '.join(strip_userinfo(h) for h in https)}: TLS certificates are not "
                   "verified (verify_certs=False): anyone on the network path can impersonate the cluster; "
                   "use ca_certs for a private CA instead")
    return options


def tls_hint(reason: str) -> str:
    """What to do about a TLS failure, appended to the unreachable error."""
    if "certificate verify failed" in reason:
        return " (a private CA? set ca_certs / $OPENSEARCH_CA_CERTS to its bundle)"
    if "certificate required" in reason:
        return " (the cluster wants a client certificate: set client_cert / $OPENSEARCH_CLIENT_CERT)"
    return ""
