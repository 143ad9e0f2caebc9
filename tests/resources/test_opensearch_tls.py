"""OpenSearch transport security: no credentials in clear, and TLS with a private CA.

Real sockets on 127.0.0.1 (tests/support/tls.py): a server that records every connection and byte,
plain or TLS with a CA and certificates generated here (``cryptography``), optionally requiring a
client certificate (``ssl.CERT_REQUIRED``). The refusals are proved by the server having seen no
connection at all; the same server with the opt-in sees the credentials arrive.
"""
from __future__ import annotations

import base64
import io
import logging
import uuid
from urllib.parse import urlsplit

import dagster as dg
import pytest

from dagster_project.resources.opensearch import (
    OpenSearchResource,
    OpenSearchSettingsError,
    OpenSearchUnreachableError,
)
from tests.support.dagster_results import event_log_text, failure_message
from tests.support.tls import RecordingServer, TlsTerminator, make_pki, server_context

pytestmark = pytest.mark.usefixtures("no_ambient_aws", "no_tls_environment")
PASSWORD = "tls-test-s3cret-pw"
AWS_KEY_ID = "AKIAFAKETLSTEST00001"
AWS_SECRET = "fakeTlsTestSecretKey0123456789abcdefABCD"
ENVIRONMENT = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "OPENSEARCH_URL",
               "OPENSEARCH_AUTH", "OPENSEARCH_USERNAME", "OPENSEARCH_PASSWORD", "OPENSEARCH_CA_CERTS",
               "OPENSEARCH_CLIENT_CERT", "OPENSEARCH_CLIENT_KEY", "OPENSEARCH_ALLOW_INSECURE_CREDENTIALS")
HINT = " (a private CA? set ca_certs / $OPENSEARCH_CA_CERTS to its bundle)"


@pytest.fixture
def no_tls_environment(monkeypatch):
    """No CA bundle nor OpenSearch setting from the environment: only what a test passes counts."""
    for key in ENVIRONMENT:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def aws_keys(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def with_credentials(url: str, how: str, **kwargs) -> OpenSearchResource:
    """A resource for ``url`` carrying credentials ``how``: basic auth, in the URL, or SigV4."""
    args: dict = {"timeout_s": 5}
    if how == "basic":
        args.update(auth="basic", username="publisher", password=PASSWORD)
    elif how == "url":
        url = url.replace("://", f"://publisher:{PASSWORD}@", 1)
    elif how == "sigv4":
        args.update(auth="sigv4", aws_region="eu-west-1")
    return OpenSearchResource(hosts=[url], **args, **kwargs)


def _no_secret(text: str) -> None:
    for secret in (PASSWORD, AWS_SECRET, base64.b64encode(f"publisher:{PASSWORD}".encode()).decode()):
        assert secret not in text


# ------------------------------------------------------------------ credentials over plain http
@pytest.mark.parametrize("how", ["basic", "url", "sigv4"])
def test_credentials_over_http_are_refused_before_any_byte_is_sent(how, aws_keys, caplog):
    with RecordingServer() as server:
        res = with_credentials(server.url, how)
        for call in (res.ping, res.ensure_templates, lambda: res.publish_digest([], "2026-11-24")):
            with pytest.raises(OpenSearchSettingsError) as err:
                call()
            msg = str(err.value)
            assert msg.startswith("OpenSearch: refusing to send ") and "\n" not in msg
            assert msg.endswith(f"over plain http to http://127.0.0.1:{server.port}: use an https:// URL, or opt "
                                "in with allow_insecure_credentials=True ($OPENSEARCH_ALLOW_INSECURE_CREDENTIALS=1)")
            assert err.value.__cause__ is None and err.value.__suppress_context__
            _no_secret(msg + repr(err.value))
    assert server.connections == 0 and server.received == b""  # not even a TCP connection
    _no_secret(caplog.text)


@pytest.mark.parametrize("how, scheme", [("basic", "Basic"), ("url", "Basic"), ("sigv4", "AWS4-HMAC-SHA256")])
def test_credentials_over_http_with_the_opt_in_are_sent_and_warned_once(how, scheme, aws_keys, caplog):
    caplog.set_level(logging.WARNING)
    with RecordingServer() as server:
        assert with_credentials(server.url, how, allow_insecure_credentials=True).ping()["version"]["number"]
        with_credentials(server.url, how, allow_insecure_credentials=True).ping()  # another resource, same host
    assert len(server.requests) == 2
    for request in server.requests:
        kind, value = request["authorization"].split(" ", 1)
        assert kind == scheme
        if scheme == "Basic":
            assert base64.b64decode(value).decode() == f"publisher:{PASSWORD}"  # in clear, as warned
        else:
            assert f"Credential={AWS_KEY_ID}/" in value
    warned = [r.getMessage() for r in caplog.records if "over plain http" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith("OpenSearch: sending ")
    assert "(allow_insecure_credentials is set)" in warned[0]
    _no_secret(caplog.text)


def test_no_credentials_over_http_stays_allowed_without_warning(caplog):
    caplog.set_level(logging.WARNING)
    with RecordingServer() as server:
        assert OpenSearchResource(hosts=[server.url], timeout_s=5).ping()["cluster_name"] == "tls-test"
    assert len(server.requests) == 1 and "authorization" not in server.requests[0]
    assert not [r for r in caplog.records if r.name.startswith("dagster_project")]


def test_refusal_in_a_dagster_run_is_one_line_naming_the_error(monkeypatch):
    monkeypatch.setenv("TLS_TEST_OPENSEARCH_PASSWORD", PASSWORD)

    @dg.asset
    def pinged(opensearch: OpenSearchResource) -> None:
        opensearch.ping()

    instance = dg.DagsterInstance.ephemeral()
    with RecordingServer() as server:
        res = OpenSearchResource(hosts=[server.url], auth="basic", username="publisher",
                                 password=dg.EnvVar("TLS_TEST_OPENSEARCH_PASSWORD"))
        result = dg.materialize([pinged], resources={"opensearch": res}, instance=instance, raise_on_error=False)
    assert not result.success and server.connections == 0
    assert ("dagster_project.resources.opensearch.OpenSearchSettingsError: OpenSearch: refusing to send "
            f"basic-auth credentials over plain http to http://127.0.0.1:{server.port}") in failure_message(result)
    _no_secret(event_log_text(result, instance))


def test_environment_opt_in_of_the_default_definitions(monkeypatch):
    from dagster_project.definitions import default_opensearch

    with RecordingServer() as server:
        for key, value in {"OPENSEARCH_URL": server.url, "OPENSEARCH_AUTH": "basic",
                           "OPENSEARCH_PASSWORD": PASSWORD}.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(OpenSearchSettingsError, match="refusing to send basic-auth credentials"):
            with dg.build_resources({"opensearch": default_opensearch()}) as resources:  # EnvVar resolved
                resources.opensearch.ping()
        assert server.connections == 0
        monkeypatch.setenv("OPENSEARCH_ALLOW_INSECURE_CREDENTIALS", "1")
        with dg.build_resources({"opensearch": default_opensearch()}) as resources:
            assert resources.opensearch.ping()["cluster_name"] == "tls-test"
    assert server.requests[0]["authorization"].startswith("Basic ")
    monkeypatch.setenv("OPENSEARCH_ALLOW_INSECURE_CREDENTIALS", "sure")
    with pytest.raises(ValueError, match="^OPENSEARCH_ALLOW_INSECURE_CREDENTIALS must be 1 or 0, not 'sure'$"):
        default_opensearch()


# ------------------------------------------------------------------------------------------ TLS
@pytest.mark.parametrize("how", ["none", "basic", "sigv4"])  # sigv4 goes through opensearch-py's requests connection
def test_private_ca_bundle_verifies_the_cluster(pki, how, aws_keys, caplog):
    caplog.set_level(logging.WARNING)
    with RecordingServer(server_context(pki)) as server:
        res = with_credentials(server.url, how, ca_certs=str(pki.ca))
        assert res.ping()["cluster_name"] == "tls-test"
    assert server.handshake_errors == [] and len(server.requests) == 1
    assert ("authorization" in server.requests[0]) == (how != "none")  # credentials over https: no opt-in
    assert not [r for r in caplog.records if r.name.startswith("dagster_project")]


@pytest.mark.parametrize("how", ["none", "sigv4"])
@pytest.mark.parametrize("trusted", ["default", "other CA"])
def test_without_the_private_ca_verification_fails_with_a_clear_error(pki, how, trusted, aws_keys):
    with RecordingServer(server_context(pki)) as server:
        ca_certs = None if trusted == "default" else str(pki.other_ca)
        with pytest.raises(OpenSearchUnreachableError) as err:
            with_credentials(server.url, how, ca_certs=ca_certs).ping()
    assert str(err.value) == f"OpenSearch at {server.url} is unreachable: certificate verify failed{HINT}"
    assert server.requests == [] and server.handshake_errors  # nothing sent to an unverified server


@pytest.mark.parametrize("how", ["none", "sigv4"])
def test_client_certificate_required_by_the_cluster(pki, how, aws_keys):
    with RecordingServer(server_context(pki, require_client_cert=True)) as server:
        with pytest.raises(OpenSearchUnreachableError) as err:
            with_credentials(server.url, how, ca_certs=str(pki.ca)).ping()
        assert str(err.value) == (f"OpenSearch at {server.url} is unreachable: certificate required (the cluster "
                                  "wants a client certificate: set client_cert / $OPENSEARCH_CLIENT_CERT)")
        assert server.requests == []
        mutual = with_credentials(server.url, how, ca_certs=str(pki.ca), client_cert=str(pki.client_cert),
                                  client_key=str(pki.client_key))
        assert mutual.ping()["cluster_name"] == "tls-test"
    assert server.client_cns == ["slowlog-publisher"] and len(server.requests) == 1


def test_tls_settings_from_the_environment(pki, monkeypatch):
    from dagster_project.definitions import default_opensearch

    with RecordingServer(server_context(pki, require_client_cert=True)) as server:
        for key, value in {"OPENSEARCH_URL": server.url, "OPENSEARCH_CA_CERTS": str(pki.ca),
                           "OPENSEARCH_CLIENT_CERT": str(pki.client_cert),
                           "OPENSEARCH_CLIENT_KEY": str(pki.client_key)}.items():
            monkeypatch.setenv(key, value)
        res = default_opensearch()
        assert (res.ca_certs, res.client_cert, res.client_key) == (str(pki.ca), str(pki.client_cert),
                                                                     str(pki.client_key))
        assert res.ping()["cluster_name"] == "tls-test"
    assert server.client_cns == ["slowlog-publisher"]


def test_verify_certs_false_keeps_opensearch_py_warning_and_logs_ours(pki, caplog):
    caplog.set_level(logging.WARNING)
    with RecordingServer(server_context(pki)) as server:
        res = OpenSearchResource(hosts=[server.url], verify_certs=False, timeout_s=5)
        with pytest.warns(UserWarning, match=r"using SSL with verify_certs=False is insecure"):
            assert res.ping()["cluster_name"] == "tls-test"
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("dagster_project")]
    assert ours == [f"OpenSearch at {server.url}: TLS certificates are not verified (verify_certs=False): anyone "
                    "on the network path can impersonate the cluster; use ca_certs for a private CA instead"]


@pytest.mark.parametrize("hosts, settings, message", [
    (["https://127.0.0.1:9"], {"ca_certs": "{missing}"}, "OpenSearch ca_certs: no such file: {missing}"),
    (["https://127.0.0.1:9"], {"ca_certs": "{ca}", "client_cert": "{missing}"},
     "OpenSearch client_cert: no such file: {missing}"),
    (["http://127.0.0.1:9"], {"ca_certs": "{ca}"},
     "OpenSearch ca_certs set but no host is https:// (http://127.0.0.1:9)"),
    (["https://127.0.0.1:9"], {"client_key": "{key}"}, "OpenSearch client_key is set without client_cert"),
    (["https://127.0.0.1:9"], {"ca_certs": "{ca}", "verify_certs": False},
     "OpenSearch ca_certs set with verify_certs=False: turn verification on, or unset them"),
])
def test_unusable_tls_settings_are_one_clear_line(pki, tmp_path, hosts, settings, message):
    paths = {"missing": str(tmp_path / "nope.pem"), "ca": str(pki.ca), "key": str(pki.client_key)}
    settings = {k: v.format(**paths) if isinstance(v, str) else v for k, v in settings.items()}
    with pytest.raises(OpenSearchSettingsError) as err:
        OpenSearchResource(hosts=hosts, timeout_s=1, **settings).ping()
    assert str(err.value) == message.format(**paths)


@pytest.mark.integration
def test_publish_to_a_real_node_over_mutual_tls(pki, opensearch_url, caplog):
    """The real node behind TLS (private CA, client certificate required): the digest of real slow
    logs goes in whole; basic auth over https needs no opt-in and logs no warning."""
    from dagster_project.opensearch.documents import digest_documents
    from dagster_project.slowlog.digest import Digest
    from dagster_project.slowlog.parse import parse_log
    from tests.support.ingest import DAY, rds_log

    caplog.set_level(logging.WARNING)
    digest = Digest(group_by=("instance", "checksum"), hourly=True)
    for hour in (2, 9):
        digest.add(parse_log(io.BytesIO(rds_log(hour)), instance="db-1", engine="mysql",
                             source_file=f"mysql-slowquery.log.{hour}").read_all())
    table = digest.to_table(DAY)
    ids = {_id for _id, _ in digest_documents(table, DAY)}
    assert table.num_rows > 10 and len(ids) > table.num_rows  # daily + hourly documents
    tag = f"tls-{uuid.uuid4().hex[:8]}-"
    with TlsTerminator(urlsplit(opensearch_url).port, server_context(pki, require_client_cert=True)) as tls:
        res = OpenSearchResource(hosts=[tls.url], auth="basic", username="publisher", password=PASSWORD,
                                 ca_certs=str(pki.ca), client_cert=str(pki.client_cert),
                                 client_key=str(pki.client_key), index_prefix=f"{tag}digest-",
                                 events_index_prefix=f"{tag}events-", timeout_s=30)
        client = res.get_client()
        try:
            assert res.publish_digest(table, DAY)["documents"] == len(ids)
            hits = client.search(index=res.digest_index(DAY), body={"query": {"match_all": {}}, "size": 10000,
                                                                     "_source": False})["hits"]["hits"]
            assert {h["_id"] for h in hits} == ids and len(hits) == len(ids)
        finally:
            client.indices.delete(index=f"{tag}*", ignore_unavailable=True, expand_wildcards="all")
            for name in res.templates():
                client.indices.delete_index_template(name=name, ignore=[404])
    assert tls.client_cns and set(tls.client_cns) == {"slowlog-publisher"}
    assert not [r for r in caplog.records if r.name.startswith("dagster_project")]
