"""Nothing secret is kept: one redaction (``bridge.secrets``) for DataHub and the status page.

The issue's case: ``capture_raw_facets=true`` put a Debezium config's ``database.password=postgres``
into DataHub. The same rules, with ``[translator] secret_keys`` added, apply to what the translator
writes and to what the status page's journal keeps.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from bridge.config import BridgeConfig
from bridge.errors import ConfigError
from bridge.secrets import DEFAULT_SECRETS, Secrets
from bridge.ui import Journal
from translators.datahub import DataHubTranslator, TranslatorConfig
from translators.openlineage import parse_event

EVENT = {
    "eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:00Z", "producer": "https://debezium.io/x",
    "run": {"runId": "01900000-0000-7000-8000-000000000001", "facets": {
        "debezium_connector": {"config": {"database.hostname": "db", "database.user": "cdc",
                                          "database.password": "postgres", "customer_ssn_salt": "pepper"}},
        "environment-variables": {"environmentVariables": [{"name": "CUSTOMER_SSN", "value": "123-45-6789"},
                                                           {"name": "HOME", "value": "/home/cdc"}]}}},
    "job": {"namespace": "cdc", "name": "orders", "facets": {"custom": {"apiKey": "k-1", "owner": "team"}}},
    "outputs": [{"namespace": "kafka://broker:9092", "name": "orders",
                 "facets": {"debezium_source": {"sasl.jaas.config": "user=u password=p", "topic": "orders"}}}],
}


def translated(config: TranslatorConfig) -> tuple[str, dict[str, dict[str, str]]]:
    """(every MCP as JSON text, customProperties by aspect name)."""
    mcps = DataHubTranslator(config).translate(parse_event(json.loads(json.dumps(EVENT))))
    props: dict[str, dict[str, str]] = {}
    for mcp in mcps:
        value = mcp.aspect_value if mcp.change_type != "PATCH" else {
            "customProperties": {op["path"].split("/")[-1].replace("~1", "/"): op["value"]
                                 for op in mcp.patch_ops if op["path"].startswith("/customProperties/")}}
        if isinstance(value, dict) and value.get("customProperties"):
            props.setdefault(mcp.aspect_name, {}).update(value["customProperties"])
    return json.dumps([m.to_obj() for m in mcps]), props


def test_raw_facets_keep_no_password():
    text, props = translated(TranslatorConfig(capture_raw_facets=True))
    assert "postgres" not in text and "k-1" not in text and "user=u password=p" not in text
    connector = json.loads(props["dataProcessInstanceProperties"]["facet.debezium_connector"])
    assert connector["config"] == {"database.hostname": "db", "database.user": "cdc", "database.password": "***",
                                   "customer_ssn_salt": "pepper"}
    assert json.loads(props["dataJobInfo"]["facet.custom"]) == {"apiKey": "***", "owner": "team"}
    assert json.loads(props["datasetProperties"]["facet.debezium_source"]) == {"sasl.jaas.config": "***",
                                                                               "topic": "orders"}
    assert props["dataProcessInstanceProperties"]["env.CUSTOMER_SSN"] == "123-45-6789"  # not a default name...


def test_secret_keys_extend_the_defaults():
    config = TranslatorConfig.from_dict({"capture_raw_facets": True, "secret_keys": ["ssn"]})
    assert config.secret_keys == ("ssn",)
    text, props = translated(config)
    assert "123-45-6789" not in text and "pepper" not in text and "postgres" not in text  # ...until named
    run = props["dataProcessInstanceProperties"]
    assert run["env.CUSTOMER_SSN"] == "***" and run["env.HOME"] == "/home/cdc"
    assert json.loads(run["facet.debezium_connector"])["config"]["customer_ssn_salt"] == "***"


@pytest.mark.parametrize("key", ["api_key", "apiKey", "API-KEY", "x.api.key", "db_Password", "SASL_JAAS"])
def test_separators_and_case_do_not_matter(key):
    assert DEFAULT_SECRETS.is_secret(key)


@pytest.mark.parametrize("key", ["key", "primaryKey", "partition_key", "value", "name", "tag"])
def test_plain_keys_are_not_secrets(key):
    assert not DEFAULT_SECRETS.is_secret(key)
    assert DEFAULT_SECRETS.redact({"key": "env", "value": "prod"}) == {"key": "env", "value": "prod"}


def test_secret_keys_setting_is_checked():
    assert TranslatorConfig.from_dict({"secret_keys": "ssn, pin"}).secret_keys == ("ssn", "pin")
    with pytest.raises(ConfigError) as info:
        TranslatorConfig.from_dict({"secret_keys": [1]})
    assert info.value.key == "secret_keys"


def test_the_status_page_journal_uses_the_same_rules(tmp_path):
    """The journal bridge serve keeps is redacted by the translator's rules, secret_keys included."""
    secrets = Secrets.from_settings(BridgeConfig.from_dict({"translator": {"secret_keys": ["ssn"]}}).translator)
    journal = Journal(tmp_path / "journal.sqlite3", secrets=secrets)
    journal.record([("k", json.dumps(EVENT))])
    journal.flush()
    (body,) = sqlite3.connect(tmp_path / "journal.sqlite3").execute("SELECT body FROM events").fetchone()
    kept = json.loads(body)
    assert kept["run"]["facets"]["debezium_connector"]["config"]["database.password"] == "***"
    assert kept["run"]["facets"]["environment-variables"]["environmentVariables"][0] == {
        "name": "CUSTOMER_SSN", "value": "***"}
    assert kept["job"]["facets"]["custom"] == {"apiKey": "***", "owner": "team"}
    assert kept["run"]["facets"]["debezium_connector"]["config"]["database.user"] == "cdc"
    assert secrets.redact(EVENT) == kept  # one function: the translator's
    assert DataHubTranslator(TranslatorConfig(secret_keys=("ssn",))).secrets == secrets


def test_kafka_client_secrets_are_the_values_scrubbed_from_broker_errors():
    from bridge.secrets import secret_values

    config = {"bootstrap.servers": "broker:9092", "group.id": "lineage-bridge", "sasl.password": "hunter2-pw",
              "ssl.key.pem": "-----BEGIN KEY-----", "sasl.oauthbearer.client.secret": "cs-123456",
              "sasl.username": "svc-lineage", "ssl.key.password": "abc"}  # (3 characters: too short to scrub)
    # every sasl.* value goes, the user name too: it says whose password to try
    assert sorted(secret_values(config)) == ["-----BEGIN KEY-----", "cs-123456", "hunter2-pw", "svc-lineage"]


# The key rule (bridge.secrets' docstring): a secret word must end a word of the key (split at _ . -
# and camelCase), a plural s or digits after it; a last word saying what about the secret it is, or a
# counting word before it, makes the key no secret.
SECRET_KEYS = ["password", "db.password", "PGPASSWORD", "clientSecret", "access_tokens", "password2", "apikey",
               "APIKey", "keyStorePassword", "ssl.key.passphrase", "SharedAccessKey", "private_key_file_pwd",
               "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net", "AZURE_STORAGE_ACCOUNT_KEY"]
PLAIN_KEYS = ["token_count", "tokenCount", "passwordless", "password-less", "tokenizer", "secretary",
              "password_length", "password_hash", "max_tokens", "token_type", "private_key_file",
              "spark.hadoop.fs.s3a.aws.credentials.provider", "SharedAccessKeyName", "db_password_secret_name",
              "PWD", "env.PWD", "OLDPWD"]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_a_secret_word_ending_a_word_of_the_key_makes_a_secret(key):
    assert DEFAULT_SECRETS.is_secret(key)
    assert DEFAULT_SECRETS.redact({key: "v", "other": "w"}) == {key: "***", "other": "w"}


@pytest.mark.parametrize("key", PLAIN_KEYS)
def test_a_key_about_secrets_or_merely_beginning_with_a_secret_word_is_kept(key):
    assert not DEFAULT_SECRETS.is_secret(key)
    assert DEFAULT_SECRETS.redact({key: 5, "password": "p"}) == {key: 5, "password": "***"}


@pytest.mark.parametrize("key", SECRET_KEYS + PLAIN_KEYS + ["api_key", "access_token", "secret", "primaryKey"])
def test_a_parameter_inside_text_is_redacted_exactly_when_its_name_as_a_key_would_be(key):
    """One rule for keys and for name=value inside values (pwd, sig: see the connection-string tests)."""
    text = f"x {key}=v1 y"
    assert DEFAULT_SECRETS.redact_text(text) == (f"x {key}=*** y" if DEFAULT_SECRETS.is_secret(key) else text)


def test_added_words_follow_the_same_rule():
    secrets = Secrets(extra=("ssn", "signingKey"))
    assert secrets.is_secret("CUSTOMER_SSN") and secrets.is_secret("customer_ssn_salt")
    assert secrets.is_secret("jwt.signing.key") and secrets.is_secret("JWT_SIGNINGKEY")
    assert not secrets.is_secret("ssn_count")
    assert secrets.is_secret("ssnumber") and not secrets.is_secret("classname")  # an added word begins or ends a word
    assert secrets.redact_text("ssn = 123-45-6789, ssn_length=11") == "ssn = ***, ssn_length=11"


# A secret word glued to more letters makes a secret too (an explicit list of English words aside).
GLUED_SECRETS = ["secretkey", "SECRETKEY", "MINIO_SECRETKEY", "secretvalue", "tokenvalue", "passwordvalue",
                 "SECRETSTRING", "PASSWORDENC", "AWSSECRETKEY", "x.accesskeyid"]


@pytest.mark.parametrize("key", GLUED_SECRETS)
def test_a_secret_word_glued_to_more_letters_makes_a_secret(key):
    assert DEFAULT_SECRETS.is_secret(key)
    assert DEFAULT_SECRETS.redact({key: "v", "other": "w"}) == {key: "***", "other": "w"}
    assert DEFAULT_SECRETS.redact_text(f"{key}=v1 y") == f"{key}=*** y"


@pytest.mark.parametrize("key", ["TOKENIZERS_PARALLELISM", "tokenization", "tokenize", "detokenizer", "secretariat",
                                 "password_hash", "passwordless_login"])
def test_the_words_made_from_a_secret_word_that_name_none_are_kept(key):
    assert not DEFAULT_SECRETS.is_secret(key)


@pytest.mark.parametrize(("word", "key"), [("auth", "authorization"), ("auth", "AUTH_HEADER"),
                                           ("conn", "connection_string"), ("conn", "spark.jdbc.connectionString")])
def test_an_added_word_covers_the_words_it_begins(word, key):
    """As before the words had to end a word: secret_keys = ["auth"] hides an Authorization header."""
    secrets = Secrets(extra=(word,))
    assert secrets.is_secret(key) and not DEFAULT_SECRETS.is_secret(key)
    assert secrets.redact_text(f"{key}=v1 y") == f"{key}=*** y"
