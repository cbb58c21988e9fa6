"""URN builders and the dataset-URN parser: compared with acryl-datahub's own on arbitrary text.

acryl-datahub is the reference here (tests only). For every builder, on any
input, either both implementations reject it or both return the same string,
and what we build parses with DataHub's ``Urn.from_string`` back to itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bridge.errors import InvalidEventError
from translators.datahub import urn_parsing
from translators.datahub import urns as ours

# DataHub lower-cases dataset names process-wide when this is set; the reference must run without it.
os.environ.pop("DATAHUB_DATASET_URN_TO_LOWER", None)

dh = pytest.importorskip("datahub.emitter.mce_builder")
from datahub.utilities.urns.error import InvalidUrnError  # noqa: E402
from datahub.utilities.urns.urn import Urn  # noqa: E402

# Text that often hits the interesting cases: reserved characters, parentheses, URN prefixes.
_ALPHABET = st.sampled_from(list("abcXYZ09._-/:% ,()␟éß\u00e4") + ["urn:li:", "(", ")", ","])
tricky_text = st.one_of(
    st.text(),
    st.lists(_ALPHABET, max_size=12).map("".join),
)
maybe_urn = st.one_of(
    tricky_text,
    st.tuples(
        st.sampled_from(
            ["urn:li:dataPlatform:", "urn:li:dataFlow:", "urn:li:tag:", "urn:li:corpuser:", "urn:li:"]
        ),
        tricky_text,
    ).map("".join),
    st.tuples(tricky_text, tricky_text, tricky_text).map(lambda t: f"urn:li:dataFlow:({t[0]},{t[1]},{t[2]})"),
)
optional_text = st.one_of(st.none(), tricky_text)

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(fn: Callable[..., str], *args: Any) -> tuple[str, str | None]:
    """("ok", urn) or ("error", None) — DataHub raises InvalidUrnError/AssertionError, we InvalidEventError."""
    try:
        return "ok", fn(*args)
    except (InvalidUrnError, AssertionError, InvalidEventError):
        return "error", None


def _same(ours_fn: Callable[..., str], theirs_fn: Callable[..., str], *args: Any) -> None:
    mine = _outcome(ours_fn, *args)
    theirs = _outcome(theirs_fn, *args)
    assert mine == theirs, args
    if mine[0] == "ok":
        assert mine[1] is not None
        # What we build must parse with DataHub and print back to the same string.
        if mine[1].startswith("urn:li:") and _parseable(theirs_fn):
            assert Urn.from_string(mine[1]).urn() == mine[1]


def _parseable(fn: Callable[..., str]) -> bool:
    # DataHub does not validate these verbatim builders, so their output need not parse.
    return fn not in (
        dh.make_data_process_instance_urn,
        dh.make_container_urn,
        dh.make_term_urn,
        dh.make_domain_urn,
        dh.make_dataplatform_instance_urn,
        dh.make_user_urn,
        dh.make_group_urn,
        dh.make_tag_urn,
        dh.make_schema_field_urn,
    )


@_SETTINGS
@given(maybe_urn)
@example("urn:li:dataPlatform:(,a)")
@example("urn:li:dataPlatform:(a)")
@example("urn:li:dataPlatform:())")
@example("urn:li:dataPlatform:(a,b)")
@example("urn:li:dataPlatform:")
@example("urn:li:dataset:x")
def test_data_platform_urn(platform: str) -> None:
    _same(ours.make_data_platform_urn, dh.make_data_platform_urn, platform)


@_SETTINGS
@given(maybe_urn, tricky_text, optional_text, st.sampled_from(["PROD", "dev", "qa", "", "a,b", "Prod"]))
def test_dataset_urn(platform: str, name: str, instance: str | None, env: str) -> None:
    _same(
        ours.make_dataset_urn_with_platform_instance,
        dh.make_dataset_urn_with_platform_instance,
        platform,
        name,
        instance,
        env,
    )
    _same(ours.make_dataset_urn, dh.make_dataset_urn, platform, name, env)


maybe_dataset_urn = st.one_of(
    maybe_urn,
    st.tuples(maybe_urn, tricky_text, tricky_text).map(lambda t: f"urn:li:dataset:({t[0]},{t[1]},{t[2]})"),
    st.tuples(tricky_text, tricky_text, st.sampled_from(["PROD", "dev", "BOGUS"])).map(
        lambda t: f"urn:li:dataset:(urn:li:dataPlatform:{t[0]},{t[1]},{t[2]})"),
)


def _their_dataset_parts(urn: str) -> tuple[str, str, str]:
    from datahub.utilities.urns.dataset_urn import DatasetUrn

    parsed = DatasetUrn.from_string(urn)
    return parsed.platform.removeprefix("urn:li:dataPlatform:"), parsed.name, parsed.env


@_SETTINGS
@given(maybe_dataset_urn)
@example("urn:li:dataset:(snowflake,t,PROD)")
@example("urn:li:dataset:(urn:li:dataPlatform:,t,PROD)")
@example("urn:li:dataset:(urn:li:dataPlatform:hive,db.t%281%29,PROD)")
@example("urn:li:dataset:(urn:li:dataPlatform:hive,t)")
@example("urn:li:corpuser:x")
def test_parse_dataset_urn(urn: str) -> None:
    """The one dataset-URN parser accepts what DataHub's ``DatasetUrn.from_string`` accepts, with the same parts."""
    assert _outcome(urn_parsing.parse_dataset_urn, urn) == _outcome(_their_dataset_parts, urn), urn


@_SETTINGS
@given(tricky_text, tricky_text, tricky_text, optional_text)
def test_data_flow_and_job_urn(orchestrator: str, flow_id: str, job_id: str, instance: str | None) -> None:
    _same(ours.make_data_flow_urn, dh.make_data_flow_urn, orchestrator, flow_id, "prod", instance)
    _same(ours.make_data_flow_urn, dh.make_data_flow_urn, orchestrator, flow_id, job_id)
    _same(ours.make_data_job_urn, dh.make_data_job_urn, orchestrator, flow_id, job_id, "prod", instance)


@_SETTINGS
@given(maybe_urn, tricky_text)
def test_data_job_urn_with_flow(flow_urn: str, job_id: str) -> None:
    _same(ours.make_data_job_urn_with_flow, dh.make_data_job_urn_with_flow, flow_urn, job_id)


@_SETTINGS
@given(maybe_urn)
def test_owner_tag_and_verbatim_urns(text: str) -> None:
    _same(ours.make_user_urn, dh.make_user_urn, text)
    _same(ours.make_group_urn, dh.make_group_urn, text)
    _same(ours.make_tag_urn, dh.make_tag_urn, text)
    _same(ours.make_term_urn, dh.make_term_urn, text)
    _same(ours.make_domain_urn, dh.make_domain_urn, text)
    _same(ours.make_data_process_instance_urn, dh.make_data_process_instance_urn, text)
    _same(ours.make_container_urn, dh.make_container_urn, text)
    for mine, theirs in (
        (ours.OwnerType.USER, dh.OwnerType.USER),
        (ours.OwnerType.GROUP, dh.OwnerType.GROUP),
    ):
        assert _outcome(ours.make_owner_urn, text, mine) == _outcome(dh.make_owner_urn, text, theirs)


@_SETTINGS
@given(maybe_urn, tricky_text)
def test_platform_instance_and_schema_field_urns(platform: str, text: str) -> None:
    _same(ours.make_dataplatform_instance_urn, dh.make_dataplatform_instance_urn, platform, text)
    _same(ours.make_schema_field_urn, dh.make_schema_field_urn, text, text)
    parent = "urn:li:dataset:(urn:li:dataPlatform:hive,db.t,PROD)"
    _same(ours.make_schema_field_urn, dh.make_schema_field_urn, parent, text)


@_SETTINGS
@given(tricky_text, tricky_text)
def test_urns_with_valid_parts_roundtrip_through_datahub_parser(name: str, job: str) -> None:
    """Whatever the text, a built URN is a valid DataHub URN of the right type with the encoded parts."""
    from datahub.metadata.urns import DataJobUrn, DatasetUrn, SchemaFieldUrn, TagUrn

    name = name or "x"
    job = job or "j"
    ds = ours.make_dataset_urn("hive", name)
    parsed = DatasetUrn.from_string(ds)
    assert parsed.name == ours.encode_urn_part(name)
    assert parsed.platform == "urn:li:dataPlatform:hive"
    job_urn = ours.make_data_job_urn("spark", name, job)
    assert DataJobUrn.from_string(job_urn).job_id == ours.encode_urn_part(job)
    field = SchemaFieldUrn.from_string(ours.make_schema_field_urn(ds, job))
    assert field.parent == ds and field.field_path == ours.encode_urn_part(job)
    if not name.startswith("urn:li:"):
        assert TagUrn.from_string(ours.make_tag_urn(name)).name == ours.encode_urn_part(name)


@_SETTINGS
@given(
    st.dictionaries(
        st.text(),
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(), st.lists(st.text(), max_size=3)),
        max_size=6,
    )
)
def test_datahub_guid(obj: dict[str, Any]) -> None:
    assert ours.datahub_guid(obj) == dh.datahub_guid(obj)


def test_datahub_guid_known_value() -> None:
    # Independent check of the algorithm: md5 of '{"a":1,"b":"x"}' (keys sorted, compact).
    import hashlib

    assert ours.datahub_guid({"b": "x", "a": 1}) == hashlib.md5(b'{"a":1,"b":"x"}').hexdigest()


def test_container_urn_from_key_mapping() -> None:
    from datahub.emitter.mcp_builder import DatabaseKey

    key = DatabaseKey(platform="postgres", database="shop")
    assert ours.make_container_urn(key.guid_dict()) == dh.make_container_urn(key)


def test_reserved_characters_are_percent_encoded() -> None:
    assert ours.make_dataset_urn("hive", "db.t(1),␟") == (
        "urn:li:dataset:(urn:li:dataPlatform:hive,db.t%281%29%2C%E2%90%9F,PROD)"
    )
    assert (
        ours.make_dataset_urn("s3", "bucket/50% off")
        == "urn:li:dataset:(urn:li:dataPlatform:s3,bucket/50% off,PROD)"
    )


def test_errors_name_the_argument() -> None:
    with pytest.raises(InvalidEventError) as err:
        ours.make_dataset_urn("hive", "")
    assert err.value.field == "name"
    with pytest.raises(InvalidEventError) as err:
        ours.make_data_job_urn_with_flow("urn:li:dataJob:(a,b)", "j")
    assert err.value.field == "flow_urn"
    with pytest.raises(InvalidEventError) as err:
        ours.make_owner_urn("bob", "robot")
    assert err.value.field == "owner_type"


def test_exported_names() -> None:
    for module in (ours, urn_parsing):
        for name in module.__all__:
            assert hasattr(module, name), name
