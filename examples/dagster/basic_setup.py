"""The basic setup of DataHub's Dagster guide, the bridge's way: the ready ``datahub_sensor`` in ``Definitions``.

The ready sensor has the bridge's defaults (``DagsterPluginConfig``). The guide's own code, with
``DatahubDagsterSourceConfig`` and ``make_datahub_sensor`` imported from ``dagster_plugin``, has
DataHub's plugin's (README, "From DataHub's Dagster plugin").

The sensor reads its configuration from the environment when it first runs
(nothing connects when Dagster loads this file)::

    export DATAHUB_GMS_URL=http://localhost:8080      # or BRIDGE_DAGSTER_CLIENT_CONFIG='{"kind": "kafka", ...}'
    export BRIDGE_DAGSTER_URL=http://localhost:3000
    dagster dev -f examples/dagster/basic_setup.py    # then turn datahub_sensor on and run "hello"

Run it without a server: ``python -m examples.dagster.basic_setup`` (writes to a file).
"""

import dagster as dg

from dagster_plugin import datahub_sensor


@dg.op
def say_hello(context: dg.OpExecutionContext) -> str:
    context.log.info("hello")
    return "hello"


@dg.job
def hello():
    say_hello()


defs = dg.Definitions(jobs=[hello], sensors=[datahub_sensor])

if __name__ == "__main__":
    import os

    from examples.dagster.run_example import run_example

    if not os.environ.get("DATAHUB_GMS_URL") and not os.environ.get("BRIDGE_DAGSTER_CLIENT_CONFIG"):
        os.environ["BRIDGE_DAGSTER_CLIENT_CONFIG"] = '{"kind": "file", "filename": "dagster-example-mcps.json"}'
    run_example(defs, ["hello"])
