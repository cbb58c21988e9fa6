"""Asset checks -> DataHub assertions, against real runs.

The sensor puts each asset check's evaluation on the checked asset's dataset as an
OpenLineage ``dataQualityAssertions`` input facet of the run's end event (check name,
passed, severity, column, metadata as params); the translator turns the facet into
``assertionInfo`` and one ``assertionRunEvent`` per evaluation.
"""

import datetime as dt

import dagster as dg

from bridge.testing import RecordingEmitter
from dagster_plugin import DagsterPluginConfig, build_events, make_datahub_sensor, read_run
from tests.dagster_helpers import dataset, execute, tick, validate_all


@dg.asset(check_specs=[dg.AssetCheckSpec("ids_unique", asset="payments")])
def payments():
    yield dg.Output(3)
    yield dg.AssetCheckResult(check_name="ids_unique", passed=True, metadata={"duplicates": 0})


@dg.asset_check(asset=payments, description="amounts are positive")
def amounts_positive() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"column": "amount", "negative_rows": 2})


@dg.asset
def receipts() -> int:
    return 1


RECEIPTS_JOB = dg.define_asset_job("receipts_job", selection=[receipts])
JOB = dg.define_asset_job("payments_job", selection=dg.AssetSelection.assets(payments)
                          | dg.AssetSelection.checks(amounts_positive))
CONFIG = DagsterPluginConfig(datahub_client_config={"kind": "console"}, backfill=True)
PAYMENTS = dataset("dagster", "payments")


def _defs(sensor=None) -> dg.Definitions:
    return dg.Definitions(assets=[payments, receipts], asset_checks=[amounts_positive], jobs=[JOB, RECEIPTS_JOB],
                          sensors=[sensor] if sensor else [])


def test_check_evaluations_are_a_data_quality_assertions_facet_on_the_run_end(instance):
    defs = _defs()
    result = execute(defs, instance, "payments_job")
    assert result.success
    run = read_run(instance, result.run_id, defs.get_repository_def())
    assert {(c.check_name, c.passed, c.severity) for c in run.checks} == {
        ("ids_unique", True, "ERROR"), ("amounts_positive", False, "WARN")}
    events = build_events(run, CONFIG, now=dt.datetime.now(dt.UTC))
    end = events[-1]
    assert end.run.run_id == result.run_id and end.event_type.value == "COMPLETE"
    [checked] = end.inputs
    assert (checked.namespace, checked.name) == ("dagster", "payments")
    facet = checked.input_facets["dataQualityAssertions"]
    by_name = {a["assertion"]: a for a in facet["assertions"]}
    assert by_name["ids_unique"] == {"assertion": "ids_unique", "name": "ids_unique", "success": True,
                                     "severity": "error", "params": {"duplicates": "0"}}
    assert by_name["amounts_positive"] == {
        "assertion": "amounts_positive", "name": "amounts_positive", "success": False, "column": "amount",
        "severity": "warn", "description": "amounts are positive", "params": {"negative_rows": "2"}}
    # the facet is what OpenLineage's own client says a dataQualityAssertions facet is
    from openlineage.client.generated.data_quality_assertions_dataset import Assertion

    for item in facet["assertions"]:
        Assertion(**item)
    # the other events carry no checks: only the run's end does
    assert all("dataQualityAssertions" not in d.input_facets for e in events[:-1] for d in getattr(e, "inputs", ()))


def test_a_run_without_checks_has_no_assertions(instance):
    defs = _defs()
    result = execute(defs, instance, "receipts_job")  # an asset with no checks, really run
    assert result.success
    run = read_run(instance, result.run_id, defs.get_repository_def())
    assert run.checks == ()
    assert build_events(run, CONFIG, now=dt.datetime.now(dt.UTC))[-1].inputs == ()


def test_checks_become_datahub_assertions_with_run_events(instance):
    recorder = RecordingEmitter()
    sensor = make_datahub_sensor(CONFIG, emitter=lambda: recorder)
    defs = _defs(sensor)
    result = execute(defs, instance, "payments_job")
    tick(sensor, defs, instance, None)
    validate_all(recorder.mcps)
    infos = {m.entity_urn: m.aspect_value for m in recorder.mcps if m.aspect_name == "assertionInfo"}
    runs = [m.aspect_value for m in recorder.mcps if m.aspect_name == "assertionRunEvent"]
    assert len(infos) == 2 and len(runs) == 2
    assert {i["customAssertion"]["entity"] for i in infos.values()} == {PAYMENTS}
    assert {(r["assertionUrn"] in infos, r["asserteeUrn"], r["runId"], r["result"]["type"]) for r in runs} == {
        (True, PAYMENTS, result.run_id, "SUCCESS"), (True, PAYMENTS, result.run_id, "FAILURE")}
    assert any(r["result"].get("nativeResults", {}).get("severity") == "warn" for r in runs)
