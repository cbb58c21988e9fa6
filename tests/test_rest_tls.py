"""TLS to GMS with a self-signed CA made in the test (tests/servers/tls.py)."""

from __future__ import annotations

import pytest

from bridge.errors import ConnectionFailedError, DeliveryError, RetriableError
from bridge.mcp import MetadataChangeProposalWrapper
from emitters.rest import RestEmitter
from tests.servers.gms import GmsServer
from translators.datahub.urns import make_dataset_urn


def mcp(i: int = 1) -> MetadataChangeProposalWrapper:
    return MetadataChangeProposalWrapper(
        entity_urn=make_dataset_urn("postgres", f"db.public.t{i}"), aspect_name="status", aspect={"removed": False}
    )


def test_https_with_the_ca_certificate(tls_files):
    with GmsServer(tls=tls_files, token="t") as gms:
        assert gms.url.startswith("https://")
        with RestEmitter(gms_server=gms.url, token="t", ca_certificate_path=str(tls_files.ca_cert)) as emitter:
            assert emitter.test_connection()["auth"] == "accepted"
            emitter.emit(mcp(1))
            emitter.emit_many([mcp(2), mcp(3)])
        assert len(gms.proposals) == 3


def test_https_without_the_ca_fails_plainly_and_is_not_retried(tls_files):
    with GmsServer(tls=tls_files) as gms:
        emitter = RestEmitter(gms_server=gms.url, retry_backoff_sec=0.001)
        with pytest.raises(DeliveryError) as info:
            emitter.test_connection()
        with pytest.raises(DeliveryError) as emitted:
            emitter.emit(mcp())
        assert gms.requests == []  # the handshake failed: nothing reached the server
    for error in (info.value, emitted.value):
        assert not isinstance(error, RetriableError)
        assert "TLS handshake" in str(error) and "ca_certificate_path" in str(error)
        assert "certificate verify failed" in str(error)


def test_disable_ssl_verification(tls_files):
    from urllib3.exceptions import InsecureRequestWarning

    with GmsServer(tls=tls_files) as gms, RestEmitter(gms_server=gms.url, disable_ssl_verification=True) as emitter:
        # Delivered, and the user is still told the connection is not verified.
        with pytest.warns(InsecureRequestWarning):
            emitter.emit(mcp())
        assert len(gms.proposals) == 1


def test_client_certificate_for_mutual_tls(tls_files):
    with GmsServer(tls=tls_files, require_client_cert=True) as gms:
        with RestEmitter(
            gms_server=gms.url,
            ca_certificate_path=str(tls_files.ca_cert),
            client_certificate_path=str(tls_files.client_cert),
            client_certificate_key_path=str(tls_files.client_key),
        ) as emitter:
            emitter.test_connection()
            emitter.emit(mcp())
        assert len(gms.proposals) == 1
        without = RestEmitter(gms_server=gms.url, ca_certificate_path=str(tls_files.ca_cert), retry_max_times=0)
        with pytest.raises((DeliveryError, ConnectionFailedError)):
            without.emit(mcp(2))
        assert len(gms.proposals) == 1
