"""RestEmitterConfig: the one door in from dicts and the environment."""

from __future__ import annotations

import pytest

import emitters.rest
from bridge.errors import ConfigError
from emitters.base import create_emitter
from emitters.rest import RestEmitter, RestEmitterConfig, normalize_gms_url


def test_exported_names():
    assert sorted(emitters.rest.__all__) == ["DEFAULT_GMS_SERVER", "DatahubRestEmitter", "EmitMode", "RestEmitter",
                                             "RestEmitterConfig", "normalize_gms_url"]
    for name in emitters.rest.__all__:
        assert hasattr(emitters.rest, name)


def test_defaults_match_datahub_limits():
    cfg = RestEmitterConfig()
    assert cfg.gms_server == "http://localhost:8080"
    assert cfg.max_batch_size == 200
    assert cfg.max_batch_bytes == 15 * 1024 * 1024
    assert cfg.retry_status_codes == frozenset({429, 500, 502, 503, 504})
    assert cfg.mode == "sync" and cfg.async_flag is False
    assert cfg.timeout == (30.0, 30.0)


def test_from_dict_accepts_datahub_names_and_strings():
    cfg = RestEmitterConfig.from_dict({
        "server": "gms.example.com:8080/",
        "token": "abc",
        "extra_headers": {"X-Team": "data"},
        "async_flag": "true",
        "timeout_sec": "5",
        "read_timeout_sec": 60,
        "retry_max_times": "2",
        "retry_status_codes": "429, 503",
        "disable_ssl_verification": "false",
        "kind": "rest",
        "ca_certificate_path": None,
    })
    assert cfg.gms_server == "http://gms.example.com:8080"
    assert cfg.token == "abc"
    assert dict(cfg.extra_headers) == {"X-Team": "data"}
    assert cfg.mode == "async" and cfg.async_flag is True
    assert cfg.timeout == (5.0, 60.0)
    assert cfg.retry_max_times == 2
    assert cfg.retry_status_codes == frozenset({429, 503})
    assert cfg.disable_ssl_verification is False


@pytest.mark.parametrize("mode,expected", [("SYNC_PRIMARY", "sync"), ("ASYNC", "async"), ("sync_wait", "sync")])
def test_datahub_emit_modes(mode, expected):
    assert RestEmitterConfig.from_dict({"emit_mode": mode}).mode == expected


@pytest.mark.parametrize("data,key", [
    ({"gms_sever": "http://x"}, "gms_sever"),
    ({"gms_server": "ftp://x"}, "gms_server"),
    ({"timeout_sec": "soon"}, "timeout_sec"),
    ({"retry_status_codes": [404, 200]}, "retry_status_codes"),
    ({"mode": "eventually"}, "mode"),
    ({"client_key_path": "/nonexistent/key.pem"}, "client_key_path"),
    ({"ca_certificate_path": "/nonexistent/ca.pem"}, "ca_certificate_path"),
    ({"server": "http://a", "gms_server": "http://b"}, "gms_server"),
])
def test_bad_settings_name_the_setting(data, key):
    with pytest.raises(ConfigError) as info:
        RestEmitterConfig.from_dict(data)
    assert info.value.key == key


def test_acryl_cloud_url_gets_gms_path():
    assert normalize_gms_url("https://acme.acryl.io") == "https://acme.acryl.io/gms"
    assert normalize_gms_url("https://acme.acryl.io/gms/") == "https://acme.acryl.io/gms"
    assert normalize_gms_url("http://frontend:9002/api/gms/") == "http://frontend:9002/api/gms"


def test_from_env_reads_datahub_variables():
    cfg = RestEmitterConfig.from_env({"DATAHUB_GMS_URL": "http://gms:8080", "DATAHUB_GMS_TOKEN": "tok"})
    assert (cfg.gms_server, cfg.token) == ("http://gms:8080", "tok")
    cfg = RestEmitterConfig.from_env(
        {"DATAHUB_GMS_HOST": "gms", "DATAHUB_GMS_PORT": "8443", "DATAHUB_GMS_PROTOCOL": "https"}
    )
    assert cfg.gms_server == "https://gms:8443" and cfg.token is None
    cfg = RestEmitterConfig.from_env({"DATAHUB_GMS_URL": "http://gms:8080"}, gms_server="http://other:8080")
    assert cfg.gms_server == "http://other:8080"
    assert RestEmitterConfig.from_env({}).gms_server == "http://localhost:8080"


def test_token_is_never_shown():
    cfg = RestEmitterConfig.from_dict({"gms_server": "http://gms:8080", "token": "very-secret-token"})
    emitter = RestEmitter(cfg)
    assert "very-secret-token" not in repr(cfg)
    assert "very-secret-token" not in repr(emitter)


def test_create_emitter_by_kind():
    emitter = create_emitter("rest", {"gms_server": "http://gms:8080", "token": "t"})
    assert isinstance(emitter, RestEmitter)
    assert emitter.config.gms_server == "http://gms:8080"
    # DataHub's constructor shape works too, and constructing does no IO (nothing listens at gms:8080).
    emitter = RestEmitter(gms_server="http://gms:8080", token="t", extra_headers={"X-A": "1"})
    assert emitter.config.extra_headers["X-A"] == "1"
    with pytest.raises(TypeError):
        RestEmitter(RestEmitterConfig(), token="x")
