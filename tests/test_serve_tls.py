"""``bridge serve`` over HTTPS: openlineage-python's HTTP transport with a CA and a token; clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from bridge.errors import ConfigError
from bridge.intake import ServeSettings

CORPUS = Path(__file__).parent / "corpus" / "openlineage"


def test_openlineage_http_transport_over_https_with_a_token(bridge_serve, tls_files):
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    server = bridge_serve(token="s3cret", tls_cert=str(tls_files.server_cert), tls_key=str(tls_files.server_key))
    assert server.url.startswith("https://")
    config = HttpConfig.from_dict({"url": server.url, "auth": {"type": "api_key", "apiKey": "s3cret"},
                                   "verify": str(tls_files.ca_cert)})
    client = OpenLineageClient(transport=HttpTransport(config))
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

    client.emit(RunEvent(eventType=RunState.START, eventTime="2024-10-16T17:00:00Z",
                         run=Run(runId="0191e6f1-1a57-7d5c-8a53-6b5c2f1e0a02"),
                         job=Job(namespace="tls", name="over_https"), producer="https://example.com/t"))
    assert server.service.metrics.get("spooled") == 1
    # Without the CA the client refuses the server's certificate: it really is TLS with that certificate.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(server.url + "/healthz", timeout=5)
    assert requests.get(server.url + "/healthz", timeout=5, verify=str(tls_files.ca_cert)).status_code == 200


def test_tls_settings_are_checked_with_clear_errors(tls_files, tmp_path):
    with pytest.raises(ConfigError, match="both tls_cert and tls_key"):
        ServeSettings(tls_cert=str(tls_files.server_cert))
    with pytest.raises(ConfigError, match="no such file"):
        ServeSettings(tls_cert=str(tmp_path / "missing.pem"), tls_key=str(tls_files.server_key))
    from bridge.intake._server import build_server

    # A certificate with somebody else's key.
    mismatched = ServeSettings(tls_cert=str(tls_files.server_cert), tls_key=str(tls_files.client_key))
    with pytest.raises(ConfigError, match="cannot use .* for HTTPS"):
        build_server(object(), mismatched)


def test_cli_says_what_is_missing(tls_files, tmp_path):
    from bridge.cli import main

    result = CliRunner().invoke(main, ["serve", "--state-dir", str(tmp_path / "s"),
                                       "--tls-cert", str(tls_files.server_cert)])
    assert result.exit_code != 0
    assert "tls_cert and tls_key" in result.output


def test_token_in_clear_text_off_loopback_is_warned_about(tmp_path):
    from tests.servers.bridge_process import BridgeProcess

    with BridgeProcess(tmp_path / "state", "--host", "0.0.0.0", "--bridge-token", "s3cret") as bridge:
        event = json.loads(next((CORPUS / "simple_run_event").glob("*.json")).read_text())
        answer = requests.post(bridge.url + "/api/v1/lineage", json=event, timeout=10,
                               headers={"Authorization": "Bearer s3cret"})
        assert answer.status_code == 201
        log = bridge.log_tail(20_000)
    assert "bearer token in clear text" in log
    assert "s3cret" not in log  # and the token itself is never logged


def test_bridge_send_to_an_https_bridge_with_its_ca(bridge_serve, tls_files):
    from bridge.cli import main

    server = bridge_serve(token="s3cret", tls_cert=str(tls_files.server_cert), tls_key=str(tls_files.server_key))
    folder = str(CORPUS / "simple_run_event")
    refused = CliRunner().invoke(main, ["send", folder, "--to", server.url, "--bridge-token", "s3cret"])
    assert refused.exit_code != 0  # the system CAs do not know ours, and it is said what to do
    assert f"TLS handshake with {server.url}/api/v1/lineage failed" in refused.output
    assert "give the CA that signed the bridge's certificate (--bridge-ca)" in refused.output
    sent = CliRunner().invoke(main, ["send", folder, "--to", server.url, "--bridge-token", "s3cret",
                                     "--bridge-ca", str(tls_files.ca_cert)])
    assert sent.exit_code == 0, sent.output
    assert server.service.metrics.get("spooled") == len(list((CORPUS / "simple_run_event").glob("*.json")))
