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


@pytest.mark.parametrize(("text", "kept"), [
    # spaces around '=' (a config dump, SQL, Python source)
    ("password = hunter2", "password = ***"),
    ("db_password =  'a b' # x", "db_password =  *** # x"),
    ("UPDATE users SET password = 'x' WHERE id = 1", "UPDATE users SET password = *** WHERE id = 1"),
    # any case
    ("ALTER USER x IDENTIFIED by tiger", "ALTER USER x IDENTIFIED by ***"),
    ("alter user x identified BY tiger", "alter user x identified BY ***"),
    ("create role r login PassWord 'x'", "create role r login PassWord ***"),
    ("jdbc:oracle:THIN:scott/tiger@ora:1521/orcl", "jdbc:oracle:THIN:scott/***@ora:1521/orcl"),
    # an ODBC / SQL Server braced value, ; and }} inside, goes whole
    ("Driver={ODBC Driver 18 for SQL Server};Server=h;Uid=sa;Pwd={p;w};Database=dw",
     "Driver={ODBC Driver 18 for SQL Server};Server=h;Uid=sa;Pwd=***;Database=dw"),
    ("Server=h;Password={a;b}}c};Encrypt=yes", "Server=h;Password=***;Encrypt=yes"),
    ("jdbc:sqlserver://h:1433;user=sa;password={p;w};encrypt=true", "jdbc:sqlserver://h:1433;user=sa;password=***;encrypt=true"),
    ("Server=h; PWD=abc;", "Server=h; PWD=***;"),
    ("Pwd=abc;Server=h", "Pwd=***;Server=h"),
    # a quote left open still hides what follows
    ("password='abc", "password=***"),
])
def test_more_forms_of_secrets_inside_text(text, kept):
    assert DEFAULT_SECRETS.redact_text(text) == kept


@pytest.mark.parametrize(("text", "kept"), [
    ("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=bXk=;EndpointSuffix=core.windows.net",
     "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=***;EndpointSuffix=core.windows.net"),
    ("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=c2s=",
     "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=***"),
    ("https://acct.blob.core.windows.net/c/f.csv?sv=2022-11-02&sp=r&sig=abc%3D",
     "https://acct.blob.core.windows.net/c/f.csv?sv=2022-11-02&sp=r&sig=***"),
    ("https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=f00d",
     "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=***"),
    ("jdbc:snowflake://a.snowflakecomputing.com/?private_key_file=/k.p8&private_key_file_pwd=zz",
     "jdbc:snowflake://a.snowflakecomputing.com/?private_key_file=/k.p8&private_key_file_pwd=***"),
    ("jdbc:mysql://my/db?password=pw", "jdbc:mysql://my/db?password=***"),
    ("host=db user=u password=p dbname=x", "host=db user=u password=*** dbname=x"),
    ("ALTER USER u IDENTIFIED WITH caching_sha2_password BY 'x'",
     "ALTER USER u IDENTIFIED WITH caching_sha2_password BY ***"),
    ("GRANT ALL ON *.* TO u IDENTIFIED BY PASSWORD '*2470C0C06DEE'", "GRANT ALL ON *.* TO u IDENTIFIED BY PASSWORD ***"),
    ('ALTER USER scott IDENTIFIED BY "new" REPLACE "old"', "ALTER USER scott IDENTIFIED BY *** REPLACE ***"),
    ("SET PASSWORD FOR 'u'@'localhost' = 'x'", "SET PASSWORD FOR 'u'@'localhost' = ***"),
    ("SET PASSWORD = PASSWORD('x')", "SET PASSWORD = ***)"),
])
def test_the_same_family_in_other_connection_strings_urls_and_sql(text, kept):
    assert DEFAULT_SECRETS.redact_text(text) == kept


@pytest.mark.parametrize("text", [
    "token_count=5", "tokenCount=5", "passwordless=true", "password-less=true", "password_length=12",
    "max_tokens=100", "private_key_file=/keys/rsa.p8", "token_url=https://idp/token",
    "UPDATE accounts SET pwd_reset=1 WHERE id=7", "SELECT cwd, pwd=1 FROM shell_history",
    "PWD=/home/airflow", "cd /data && PWD=/data ./run.sh", "x = y == password", "if password == x: pass",
    "Driver={ODBC Driver 18 for SQL Server};Server=h;Uid=sa", "SELECT signature FROM t WHERE sig=1",
])
def test_a_parameter_about_a_secret_or_a_pwd_outside_a_connection_string_is_kept(text):
    assert DEFAULT_SECRETS.redact_text(text) == text


def test_through_the_translator_a_count_is_kept_and_a_braced_password_goes():
    event = json.loads(json.dumps(EVENT))
    event["run"]["facets"]["spark_properties"]["properties"].update({
        "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net": "S3CRET-9", "llm.token_count": "1234",
        "spark.odbc": "Driver={ODBC Driver 18 for SQL Server};Server=h;Pwd={S3CRET;10}"})
    text = _mcps(event)
    assert "S3CRET" not in text and "10}" not in text
    assert '"llm.token_count": "1234"' in text
    assert '"spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net": "***"' in text
    assert "Server=h;Pwd=***" in text


@pytest.mark.parametrize(("text", "kept"), [
    ("spark.jdbc.url=jdbc:postgresql://h/db?password=abc", "spark.jdbc.url=jdbc:postgresql://h/db?password=***"),
    ("CREATE TABLE t USING jdbc OPTIONS (url='jdbc:postgresql://h/db?user=u&password=abc', dbtable='x')",
     "CREATE TABLE t USING jdbc OPTIONS (url='jdbc:postgresql://h/db?user=u&password=***', dbtable='x')"),
    ("spark-submit --conf spark.driver.extraJavaOptions=-Dpassword=abc app.py",
     "spark-submit --conf spark.driver.extraJavaOptions=-Dpassword=*** app.py"),
    ('JAVA_OPTS="-Ddb.password=abc -Xmx1g"', 'JAVA_OPTS="-Ddb.password=*** -Xmx1g"'),
    ("redirect_uri=https://h/cb?access_token=abc", "redirect_uri=https://h/cb?access_token=***"),
    ('conn="Server=h;Pwd=abc"', 'conn="Server=h;Pwd=***"'),
    # a name inside a value already replaced is not looked at again
    ("password='a token=b c' x=1", "password=*** x=1"),
])
def test_a_secret_inside_the_value_of_a_harmless_name_goes(text, kept):
    assert DEFAULT_SECRETS.redact_text(text) == kept


_PEM = "-----BEGIN PRIVATE KEY----- " + " ".join(["MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"] * 40) + " -----END PRIVATE KEY-----"


@pytest.mark.parametrize(("text", "kept"), [
    (f"private_key='{_PEM}'", "private_key=***"),
    (f'private_key="{_PEM}" next=1', "private_key=*** next=1"),
    (f"Server=h;Pwd={{{_PEM}}};Database=dw", "Server=h;Pwd=***;Database=dw"),
    (f"CREATE ROLE r LOGIN PASSWORD '{_PEM}' VALID UNTIL 'x'", "CREATE ROLE r LOGIN PASSWORD *** VALID UNTIL 'x'"),
    (f"ALTER USER x IDENTIFIED BY '{_PEM}' ACCOUNT UNLOCK", "ALTER USER x IDENTIFIED BY *** ACCOUNT UNLOCK"),
    # a quote or brace left open hides the rest of the text
    ("password='a b c", "password=***"), ('token="a b c', "token=***"), ("Server=h;Pwd={a b;c", "Server=h;Pwd=***"),
    ("CREATE ROLE r PASSWORD 'a b c", "CREATE ROLE r PASSWORD ***"),
])
def test_a_quoted_value_goes_whole_however_long(text, kept):
    assert len(_PEM) > 1000
    assert DEFAULT_SECRETS.redact_text(text) == kept


@pytest.mark.parametrize("text", [
    "password='S3CRET " + "a b " * 50_000, "x='" + "a b " * 50_000 + "' password=S3CRET",
    "a=b&" * 50_000 + "password=S3CRET", "PASSWORD 'S3CRET " + "a b " * 50_000,
    "Server=h;Pwd={S3CRET " + "a;b " * 50_000, 'password="S3CRET ' + "a\\" * 200_000,
    "IDENTIFIED BY 'S3CRET " + "a''b " * 40_000,
])
def test_a_200_kb_text_is_redacted(text):
    """Each pattern is linear (no timing asserted: a quadratic one would not end in a test's time)."""
    assert len(text) > 200_000
    assert "S3CRET" not in DEFAULT_SECRETS.redact_text(text)


@pytest.mark.parametrize(("text", "kept"), [
    ("&sig=abc&", "&sig=***&"), ("&sig=abc", "&sig=***"),
    ("true&&PWD=/data ./run.sh", "true&&PWD=/data ./run.sh"),  # a shell's &&: no URL query
])
def test_a_url_query_at_the_start_of_the_text(text, kept):
    assert DEFAULT_SECRETS.redact_text(text) == kept


@pytest.mark.parametrize(("name", "kept"), [
    ("s3://AKIA:secret@bucket", "s3://bucket"),
    ("spark://etl:s3cret@master:7077", "spark://master:7077"),
    ("postgres://u:p;w@db", "postgres://db"),  # a ';' inside a password is still the password
    ("sqlserver://h:1433;user=a@b", "sqlserver://h:1433;user=a@b"),  # a port and a property, no password
    ("abfss://container@account.dfs.core.windows.net", "abfss://container@account.dfs.core.windows.net"),
    ("kafka://b1:9092,b2:9092", "kafka://b1:9092,b2:9092"),
])
def test_a_names_password_goes_and_nothing_else(name, kept):
    from bridge.model import Job, without_credentials

    assert without_credentials(name) == kept
    assert Job(namespace=name, name="j").namespace == kept  # a job's namespace too (its flow's URN)


def test_an_ordering_key_holds_no_namespaces_password():
    """``bridge spool dead`` shows it and forwarded dead letters are keyed by it."""
    from bridge.spool import event_key

    assert event_key({"job": {"namespace": "postgres://admin:hunter2@db:5432", "name": "j"}}) == "job:postgres://db:5432/j"
    assert event_key({"dataset": {"namespace": "s3://AKIA:k@b", "name": "d"}}) == "dataset:s3://b/d"
    assert event_key({"job": {"namespace": "spark://master:7077", "name": "j"}}) == "job:spark://master:7077/j"
    assert event_key([1]) == "other"
