"""Credentials inside values are not kept either: a URL's ``user:password@``, a ``password=``
parameter, SQL's ``IDENTIFIED BY``. Real events, through the translator and ``bridge serve``'s status
page; a password in a dataset's namespace is in no URN (DataHub's own converter keeps it there).
"""

from __future__ import annotations

import json

import pytest
import requests

from bridge.secrets import DEFAULT_SECRETS
from tests.waiting import wait_until
from translators.datahub import DataHubTranslator, TranslatorConfig
from translators.openlineage import parse_event

RUN_ID = "01900000-0000-7000-8000-0000000000aa"
EVENT = {
    "eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:00Z",
    "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.23.0/integration/spark",
    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    "run": {"runId": RUN_ID, "facets": {
        "spark_properties": {"_producer": "x", "_schemaURL": "y", "properties": {
            "spark.app.name": "load", "spark.jdbc.url": "jdbc:postgresql://etl:S3CRET-1@db:5432/sales?ssl=true"}},
        "environment-properties": {"_producer": "x", "_schemaURL": "y", "environment-properties": {
            "SQLSERVER_URL": "jdbc:sqlserver://mssql:1433;databaseName=dw;user=sa;password=S3CRET-2;encrypt=true"}},
        "debezium": {"_producer": "x", "_schemaURL": "y", "config": {
            "connection": "postgres://admin:S3CRET-3@db:5432/x",
            "mysql": "jdbc:mysql://my/db?user=a&password=S3CRET-4&useSSL=true"}},
        "errorMessage": {"_producer": "x", "_schemaURL": "y", "programmingLanguage": "JAVA",
                         "message": "cannot connect to jdbc:oracle:thin:scott/S3CRET-5@ora:1521/orcl"}}},
    "job": {"namespace": "spark", "name": "load", "facets": {
        "sql": {"_producer": "x", "_schemaURL": "y", "query": "CREATE USER bob IDENTIFIED BY 'S3CRET-6'"}}},
    "inputs": [{"namespace": "postgres://etl:S3CRET-7@db:5432", "name": "sales.public.orders"}],
    "outputs": [{"namespace": "s3://AKIAEXAMPLE:S3CRET-8@bucket", "name": "/warehouse/orders"}],
}
#: What each kept value becomes: the user and the rest stay, the password goes.
KEPT = ["jdbc:postgresql://etl:***@db:5432/sales?ssl=true", ";user=sa;password=***;encrypt=true",
        "postgres://admin:***@db:5432/x", "?user=a&password=***&useSSL=true", "jdbc:oracle:thin:scott/***@ora",
        "CREATE USER bob IDENTIFIED BY ***"]


def _mcps(event: dict) -> str:
    translator = DataHubTranslator(TranslatorConfig(capture_raw_facets=True))
    return json.dumps([m.to_obj() for m in translator.translate(parse_event(json.loads(json.dumps(event))))])


def _urns(text: str) -> set[str]:
    return {obj["entityUrn"] for obj in json.loads(text) if obj["entityType"] == "dataset"}


def test_no_password_inside_a_value_reaches_datahub():
    text = _mcps(EVENT)
    assert "S3CRET" not in text
    for kept in KEPT:
        assert kept.replace('"', '\\"') in text or json.dumps(kept)[1:-1] in text, kept


def test_a_password_in_a_namespace_is_in_no_urn_and_the_urns_are_those_without_it():
    plain = json.loads(json.dumps(EVENT))
    plain["inputs"][0]["namespace"] = "postgres://db:5432"
    plain["outputs"][0]["namespace"] = "s3://bucket"
    assert _urns(_mcps(EVENT)) == _urns(_mcps(plain)) == {
        "urn:li:dataset:(urn:li:dataPlatform:postgres,sales.public.orders,PROD)",
        "urn:li:dataset:(urn:li:dataPlatform:s3,bucket/warehouse/orders,PROD)"}


@pytest.mark.parametrize(("text", "kept"), [
    ("jdbc:postgresql://user:pa:ss@w@host/db", "jdbc:postgresql://user:***@host/db"),
    ("alter user x identified by tiger;", "alter user x identified by ***;"),
    ("CREATE ROLE r LOGIN PASSWORD 'it''s'", "CREATE ROLE r LOGIN PASSWORD ***"),
    ("https://h/cb?token=abc&x=1", "https://h/cb?token=***&x=1"),
    ("Server=x;Pwd=abc", "Server=x;Pwd=***"),
])
def test_forms_of_secrets_inside_text(text, kept):
    assert DEFAULT_SECRETS.redact_text(text) == kept


@pytest.mark.parametrize("text", [
    "abfss://container@account.dfs.core.windows.net/path",  # a user without a password: no secret
    "owner@example.com", "SELECT * FROM users WHERE password_hash = x AND a = 1", "primaryKey=id",
    "spark.sql.shuffle.partitions=200",
])
def test_what_holds_no_secret_is_kept_as_it_is(text):
    assert DEFAULT_SECRETS.redact_text(text) == text


def test_the_status_page_shows_no_password_and_the_urns_delivered(bridge_serve, tmp_path):
    server = bridge_serve(emitter="file", emitters={"file": {"filename": str(tmp_path / "mcps.json")}})
    assert requests.post(server.url + "/api/v1/lineage", json=EVENT, timeout=10).status_code == 201
    server.service.spool.wake()
    wait_until(lambda: server.service.metrics.get("delivered") == 1)
    page = wait_until(lambda: (r := requests.get(f"{server.url}/ui/api/runs/{RUN_ID}", timeout=10)).ok and r)
    assert "S3CRET" not in page.text
    (shown,) = page.json()["events"]
    assert shown["event"]["inputs"][0]["namespace"] == "postgres://etl:***@db:5432"
    assert shown["event"]["run"]["facets"]["spark_properties"]["properties"]["spark.jdbc.url"] == KEPT[0]
    delivered = (tmp_path / "mcps.json").read_text()
    assert "S3CRET" not in delivered
    assert {d["urn"] for d in shown["datasets"]} == _urns(delivered)
    # nor is one on disk anywhere in the state (the journal's searchable names included), nor found by a search
    found = requests.get(f"{server.url}/ui/api/search", params={"q": "S3CRET"}, timeout=10)
    assert found.ok and found.json()["runs"] == [] and RUN_ID not in found.text
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file() and path.name.startswith("journal"):
            assert b"S3CRET" not in path.read_bytes(), path
