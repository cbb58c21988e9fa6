"""Logs are key=value lines; secrets never appear in them."""

from __future__ import annotations

import io
import logging

from click.testing import CliRunner

from bridge.cli import main
from bridge.logs import configure_logging, log_fields
from tests.servers.gms import GmsServer

CORPUS_EVENT = "tests/corpus/openlineage/simple_run_event/simple_run_event.json"


def test_records_are_key_value_lines_with_secrets_masked():
    stream = io.StringIO()
    configure_logging(logging.INFO, stream)
    try:
        logging.getLogger("bridge.test").info(
            "delivered", extra=log_fields(urn="urn:li:corpuser:a b", count=3, token="s3cret", api_key="k3y")
        )
    finally:
        configure_logging(logging.WARNING)
    line = stream.getvalue().strip()
    assert "level=info logger=bridge.test msg=delivered" in line
    assert 'urn="urn:li:corpuser:a b"' in line and "count=3" in line
    assert "token=***" in line and "api_key=***" in line
    assert "s3cret" not in line and "k3y" not in line
    assert line.startswith("ts=") and "\n" not in line


def test_a_secret_inside_a_message_or_a_fields_text_is_masked():
    """Every message and field value goes through the value redaction: a URL's password in a URN, a key
    or the message itself (consume logged a rejected event's key and URN with the namespace's password)."""
    stream = io.StringIO()
    configure_logging(logging.INFO, stream)
    try:
        logging.getLogger("bridge.test").warning(
            "rejected postgres://admin:hunter2@db:5432", extra=log_fields(
                key="job:postgres://admin:hunter2@db:5432/j", urn="urn:li:dataFlow:(x,j,postgres://admin:hunter2@db)"))
    finally:
        configure_logging(logging.WARNING)
    line = stream.getvalue().strip()
    assert "hunter2" not in line, line
    assert "key=job:postgres://admin:***@db:5432/j" in line and "rejected postgres://admin:***@db:5432" in line


def test_debug_logs_of_a_delivery_never_contain_the_token():
    token = "tok-do-not-print-9f8e7d"
    with GmsServer(token=token) as gms:
        result = CliRunner().invoke(
            main,
            ["--log-level", "debug", "send", CORPUS_EVENT, "--emitter", "rest", "--gms-server", gms.url, "--gms-token", token],
        )
        assert result.exit_code == 0, result.output
        assert gms.proposals
    assert "level=debug" in result.output  # the debug logs were captured, the HTTP requests' among them...
    assert "logger=urllib3.connectionpool" in result.output  # ...and the token is in none of them
    assert token not in result.output
