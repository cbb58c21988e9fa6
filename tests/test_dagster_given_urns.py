"""A dataset URN the user wrote out in full is written as given, as DataHub's plugin writes it.

``env``, ``platform_instance`` and the platform rules name the datasets the bridge names itself; a URN in
``datahub.inputs``/``datahub.outputs`` metadata or from ``asset_keys_to_dataset_urn_converter`` is the
user's word. Runs are real (a temporary Dagster instance); the sensor is ticked as the daemon ticks it.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import dagster as dg
import pytest

from bridge.errors import InvalidEventError
from bridge.testing import RecordingEmitter
from dagster_plugin import DagsterPluginConfig, DatasetUrn, build_events, make_datahub_sensor, read_run
from dagster_plugin.datasets import dataset_from_urn, key_of, name_only
from dagster_plugin.translator import DagsterTranslator
from tests.dagster_helpers import dataset, execute, last, tick, validate_all, values
from translators.datahub import TranslatorConfig
from translators.datahub.explain import explain_event
from translators.datahub.platform_config import dataset_ref_of
from translators.datahub.urn_parsing import parse_dataset_urn

TABLE_A = dataset("snowflake", "tableA")  # PROD, while the sensor says env="DEV"
TABLE_B = dataset("snowflake", "tableB")
RAW = dataset("snowflake", "db.raw")  # named by the converter
CLEAN_TABLE = dataset("snowflake", "db.clean", "DEV")  # named by the bridge: the configured env
CLEAN = dataset("dagster", "clean", "DEV")


@dg.op
def extract() -> list:
    return [1, 2]


@dg.op(ins={"data": dg.In(metadata={"datahub.inputs": [TABLE_A]})},
       out=dg.Out(metadata={"datahub.outputs": [TABLE_B]}))
def transform(data: list) -> list:
    return data


@dg.op
def load(data: list) -> None:
    return None


@dg.job
def do_stuff():
    load(transform(extract()))


@dg.asset(key=["raw"])
def raw() -> int:
    return 1


@dg.asset_check(asset=raw)
def raw_not_empty() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset(deps=[raw], kinds={"snowflake"}, metadata={"dagster/table_name": "db.clean"})
def clean() -> None:
    return None


def converter(key: list[str]) -> str | None:
    return RAW if key == ["raw"] else None


OPTIONS = {"env": "DEV", "platform_instance": "inst", "asset_keys_to_dataset_urn_converter": converter,
           "translator": {"lowercase_urns": True}}


def mentioned(mcps: list) -> set[str]:
    """Every dataset URN the MCPs name, as entity or anywhere in a value."""
    text = json.dumps([[m.entity_urn, m.aspect_value] for m in mcps])
    return set(re.findall(r"urn:li:dataset:\(urn:li:dataPlatform:[^,]+,[^,]+,[A-Z_]+\)", text))


def test_urns_written_out_are_written_as_given_everywhere():
    recorder = RecordingEmitter()
    config = DagsterPluginConfig(datahub_client_config={"kind": "console"}, backfill=True, **OPTIONS)
    sensor = make_datahub_sensor(config, emitter=lambda: recorder)
    defs = dg.Definitions(assets=[raw, clean], asset_checks=[raw_not_empty], jobs=[do_stuff, dg.define_asset_job("tables", [raw, clean])],
                          sensors=[sensor])
    with dg.instance_for_test() as instance:
        runs = [execute(defs, instance, job).run_id for job in ("do_stuff", "tables")]
        assert tick(sensor, defs, instance, None).skip_message.startswith("reported 2 run(s)")
        events = build_events(read_run(instance, runs[0]), config, now=dt.datetime.now(dt.UTC))
    mcps = recorder.mcps
    validate_all(mcps)
    named = mentioned(mcps)
    # as given: no DEV copy, no platform instance, no case change of the URNs the user wrote
    assert {TABLE_A, TABLE_B, RAW} <= named
    assert not [u for u in named if re.search(r"(?i)tablea|tableb|db\.raw", u) and u not in (TABLE_A, TABLE_B, RAW)]
    assert {CLEAN_TABLE, CLEAN} <= named  # the bridge's own names still follow its config

    jobs = {m.entity_urn for m in mcps if m.entity_type == "dataJob"}
    transform_job = next(u for u in jobs if u.endswith(".transform)"))
    load_job = next(u for u in jobs if u.endswith(".load)"))
    io = last(mcps, transform_job, "dataJobInputOutput")
    assert TABLE_A in io["inputDatasets"] and io["outputDatasets"] == [TABLE_B]
    assert TABLE_B in last(mcps, load_job, "dataJobInputOutput")["inputDatasets"]  # an upstream op's output
    run_io = [v for m in mcps if m.aspect_name in ("dataProcessInstanceInput", "dataProcessInstanceOutput")
              for v in [m.aspect_value] for v in (v.get("inputs") or v.get("outputs") or [])]  # fmt: skip
    assert {TABLE_A, TABLE_B} <= set(run_io)
    # the converter's URN: the asset's own dataset, the upstream of the next asset, the input of its step
    assert values(mcps, RAW, "subTypes")
    assert {m.aspect_value["customAssertion"]["entity"] for m in mcps if m.aspect_name == "assertionInfo"} == {RAW}
    assert [u["dataset"] for u in last(mcps, CLEAN, "upstreamLineage")["upstreams"]] == [RAW]
    assert last(mcps, CLEAN, "siblings")["siblings"] == [CLEAN_TABLE]
    clean_step = next(u for u in jobs if u.endswith(".clean)"))
    assert RAW in last(mcps, clean_step, "dataJobInputOutput")["inputDatasets"]

    # bridge explain (and the status page, which asks the same hook) shows the URN that is written
    translator = DagsterTranslator(TranslatorConfig.from_dict({"env": "DEV", "platform_instance": "inst",
                                                               "lowercase_urns": True}))
    step = next(e for e in events if getattr(e, "job", None) and e.job.name.endswith(".transform")
                and e.outputs)  # fmt: skip
    shown = [(role, x.urn) for role, x in explain_event(translator, step) if role in ("input", "output")]
    assert shown == [("input", TABLE_A), ("output", TABLE_B)]


@pytest.mark.parametrize("urn", [
    TABLE_A, "urn:li:dataset:(urn:li:dataPlatform:hive,inst.db.t%2C1,dev)",
    "urn:li:dataset:(snowflake,t,PROD)", "urn:li:dataset:(urn:li:dataPlatform:,t,PROD)",
    "urn:li:corpuser:x", "urn:li:dataset:(urn:li:dataPlatform:hive,t)", "snowflake.db.t",
])
def test_every_reader_of_a_dataset_urn_reads_it_alike(urn):
    """``DatasetUrn``, the datasets a URN names and the translator's identities take one parser's word: the same
    parts, or the same error (naming the URN and what is wrong)."""
    try:
        expected: object = parse_dataset_urn(urn, arg="x")
    except InvalidEventError as exc:
        expected = exc.reason
    readers = {
        "DatasetUrn": lambda: (lambda d: (d.platform.removeprefix("urn:li:dataPlatform:"), d.name, d.env))(
            DatasetUrn.from_string(urn)),
        "dataset_from_urn": lambda: (lambda d: (d.namespace, d.name, d.facets["datahubUrn"]["env"]))(
            dataset_from_urn(urn)),
        "dataset_ref_of": lambda: (lambda r: (r.platform, r.name, r.env))(dataset_ref_of(urn)),
    }
    for reader, read in readers.items():
        try:
            got: object = read()
        except InvalidEventError as exc:
            got = exc.reason
        assert got == expected, reader


def test_a_dataset_urn_is_parsed_once(monkeypatch):
    """``DatasetUrn``'s parts are read when it is made, and a dataset named by a URN keeps it by name only
    without reading the URN again."""
    urns = [DatasetUrn.from_string(TABLE_A), DatasetUrn("snowflake", "db.t", "dev")]
    named = dataset_from_urn(TABLE_A)

    def no_parsing(*args, **kwargs):
        raise AssertionError("a URN parsed again")

    for module in ("dagster_plugin.urns", "dagster_plugin.datasets"):
        for parser in ("parse_dataset_urn", "split_urn"):
            monkeypatch.setattr(f"{module}.{parser}", no_parsing, raising=False)
    assert [(u.platform, u.name, u.env) for u in urns] == [
        ("urn:li:dataPlatform:snowflake", "tableA", "PROD"), ("urn:li:dataPlatform:snowflake", "db.t", "DEV")]
    assert key_of(name_only(named)) == key_of(named) == ("snowflake", "tableA", TABLE_A)
