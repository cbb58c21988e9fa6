"""The one config lookup: arguments > environment > file > defaults."""

from __future__ import annotations

import json

import pytest

from bridge.config import BridgeConfig, load_config
from bridge.errors import ConfigError


def test_defaults_use_the_embedded_file_emitter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.emitter == "file"
    assert config.emitter_config == {"filename": ".bridge-state/mcps.json"}
    assert config.source == "defaults"


def test_file_then_env_then_arguments(tmp_path):
    path = tmp_path / "bridge.toml"
    path.write_text(
        'emitter = "rest"\n'
        "[emitters.rest]\n"
        'gms_server = "http://from-file:8080"\n'
        'token = "file-token"\n'
        "[translator]\n"
        'env = "DEV"\n'
    )
    env = {"DATAHUB_GMS_URL": "http://from-env:8080"}
    config = load_config(path, env=env, overrides={"translator": {"env": "QA", "platform_instance": None}})
    assert config.emitter == "rest"
    assert config.emitter_config == {"gms_server": "http://from-env:8080", "token": "file-token", "delivery": "background"}
    assert config.translator == {"env": "QA"}
    assert str(path) in config.source and "$DATAHUB_GMS_URL" in config.source


def test_config_file_from_environment_variable(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"emitter": "console"}))
    assert load_config(env={"BRIDGE_CONFIG": str(path)}).emitter == "console"


def test_datahub_token_from_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(env={"DATAHUB_GMS_TOKEN": "secret", "BRIDGE_EMITTER": "rest"})
    assert config.emitter_config["token"] == "secret"


def test_unknown_setting_is_named(tmp_path):
    path = tmp_path / "bridge.toml"
    path.write_text('emiter = "rest"\n')
    with pytest.raises(ConfigError, match="emiter"):
        load_config(path, env={})


def test_missing_and_malformed_files_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("emitter = \n")
    with pytest.raises(ConfigError, match="cannot parse config file"):
        load_config(bad, env={})


def test_sections_must_be_tables():
    with pytest.raises(ConfigError, match="translator"):
        BridgeConfig.from_dict({"translator": "DEV"})


def test_datahub_gms_host_port_and_protocol_make_the_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"DATAHUB_GMS_HOST": "gms.internal", "DATAHUB_GMS_PORT": "8443", "DATAHUB_GMS_PROTOCOL": "https"}
    config = load_config(env={**env, "BRIDGE_EMITTER": "rest"})
    assert config.emitter_config["gms_server"] == "https://gms.internal:8443"
    both = load_config(env={**env, "DATAHUB_GMS_URL": "http://gms:8080", "BRIDGE_EMITTER": "rest"})
    assert both.emitter_config["gms_server"] == "http://gms:8080"


def test_rest_through_the_bridge_batches_unless_told_to_be_synchronous(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(env={"BRIDGE_EMITTER": "rest"}).emitter_config["delivery"] == "background"
    sync = load_config(env={}, overrides={"emitter": "rest", "emitters": {"rest": {"delivery": "sync"}}})
    assert sync.emitter_config["delivery"] == "sync"


def test_datahub_emit_mode_from_the_environment_reaches_the_rest_emitter():
    from emitters.rest import RestEmitterConfig

    config = load_config(env={"DATAHUB_EMIT_MODE": "async_wait", "BRIDGE_EMITTER": "rest"})
    assert RestEmitterConfig.from_dict(config.emitter_config).emit_mode.upper() == "ASYNC_WAIT"
