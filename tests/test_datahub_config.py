"""TranslatorConfig.from_dict, native type mapping, and the exported names."""

from __future__ import annotations

import pathlib

import pytest

import translators
import translators.datahub
from bridge.errors import ConfigError
from translators.datahub import PlatformConfig, TranslatorConfig, datahub_type
from translators.datahub.schema_types import schema_field_type


def test_defaults():
    config = TranslatorConfig()
    assert (config.env, config.lowercase_urns, config.flow_naming) == ("PROD", False, "prefix")
    assert config.materialize_datasets and config.emit_column_lineage
    assert not config.emit_upstream_lineage and not config.capture_raw_facets
    assert TranslatorConfig.from_dict(None) == config == TranslatorConfig.from_dict({})


def test_flat_dataset_keys_go_to_the_platform_config():
    config = TranslatorConfig.from_dict({
        "env": "dev",
        "lowercase_urns": "true",
        "dataset_platform_instance": "lake",
        "platform_instance": "eu",
        "namespace_overrides": {"postgres://db1:5432": {"platform_instance": "db1"}},
        "emit_upstream_lineage": "yes",
        "max_property_length": "200",
    })  # fmt: skip
    assert config.platforms.env == "DEV" and config.env == "DEV"
    assert config.platforms.lowercase_urns is True and config.platforms.platform_instance == "lake"
    assert config.platform_instance == "eu"
    assert config.platforms.namespace_overrides[0].platform_instance == "db1"
    assert config.emit_upstream_lineage is True and config.max_property_length == 200


def test_nested_platforms_are_accepted():
    config = TranslatorConfig.from_dict({"platforms": {"hive_platform_alias": "glue", "use_symlinks": False}})
    assert config.platforms == PlatformConfig(hive_platform_alias="glue", use_symlinks=False)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"emit_colum_lineage": True}, "unknown setting"),
        ({"flow_naming": "dag"}, "flow_naming"),
        ({"env": "PRODUCTION"}, "not a DataHub env"),
        ({"materialize_datasets": "maybe"}, "true or false"),
        ({"max_property_length": 0}, "at least 1"),
        ({"default_owner_type": "OWNER"}, "ownership type"),
        ({"platforms": {"nope": 1}}, "unknown setting"),
    ],
)
def test_bad_settings_are_config_errors(data, message):
    with pytest.raises(ConfigError, match=message):
        TranslatorConfig.from_dict(data)


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        TranslatorConfig().env = "DEV"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("native", "kind"),
    [
        ("integer", "NumberType"), ("INT64", "NumberType"), ("decimal(10,2)", "NumberType"),
        ("NUMBER(38,0)", "NumberType"), ("double precision", "NumberType"), ("bigint unsigned", "NumberType"),
        ("string", "StringType"), ("VARCHAR(255)", "StringType"), ("uuid", "StringType"), ("jsonb", "StringType"),
        ("boolean", "BooleanType"), ("BOOL", "BooleanType"),
        ("timestamp", "TimeType"), ("TIMESTAMP_NTZ(9)", "TimeType"), ("timestamp with time zone", "TimeType"),
        ("DateTime64(3)", "TimeType"), ("date", "DateType"),
        ("binary", "BytesType"), ("BYTES", "BytesType"),
        ("array<int>", "ArrayType"), ("ARRAY<STRING>", "ArrayType"), ("integer[]", "ArrayType"),
        ("map<string,int>", "MapType"), ("VARIANT", "MapType"),
        ("struct<a:int>", "RecordType"), ("RECORD", "RecordType"),
        ("Nullable(Int32)", "NumberType"), ("enum('a','b')", "EnumType"),
        (None, "NullType"), ("", "NullType"), ("geheim", "NullType"),
    ],
)  # fmt: skip
def test_native_types(native, kind):
    assert datahub_type(native) == kind


def test_array_element_type_is_kept():
    assert schema_field_type("array<struct<a:int>>") == {
        "type": {"com.linkedin.schema.ArrayType": {"nestedType": ["struct<a:int>"]}}
    }


@pytest.mark.parametrize("module", [translators, translators.datahub])
def test_exported_names(module):
    assert len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    public = {n for n in vars(module) if not n.startswith("_")} - {"annotations"}
    submodules = {n for n in public if type(getattr(module, n)).__name__ == "module"}
    assert public - submodules == set(module.__all__)


def test_core_translator_does_not_import_acryl_datahub():
    import subprocess
    import sys

    code = (
        "import sys, json; from translators import parse_event, translate; "
        "translate(parse_event({'eventType':'START','eventTime':'2024-01-01T00:00:00Z','producer':'p',"
        "'run':{'runId':'r'},'job':{'namespace':'n','name':'j'}})); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('datahub','dagster','confluent_kafka')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=pathlib.Path(__file__).parents[1],
    )
    assert out.stdout.strip() == "[]"
