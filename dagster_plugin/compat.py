"""URNs as DataHub's own Dagster plugin (acryl-datahub-dagster-plugin) writes them (pure).

Someone moving from DataHub's plugin wants the flows, jobs and runs it wrote to be the ones this
plugin writes to, not duplicates beside them. With ``urn_scheme="datahub-dagster-plugin"`` the
translator names them by the plugin's rule (``DagsterGenerator.generate_dataflow`` /
``generate_datajob`` / ``emit_job_run`` / ``emit_op_run``, open-source Dagster):

* prefix: the code location's Python module (``dagster -m <module>``), else the deployment
  name (``prod``, what the plugin reads from ``DAGSTER_CLOUD_DEPLOYMENT_NAME`` by default);
* flow ``urn:li:dataFlow:(dagster,<prefix>/<job>,<env>)``; with a platform instance the flow id
  is ``<instance>.<prefix>/<job>`` (``DataFlowUrn.create_from_ids``);
* job ``urn:li:dataJob:(<flow>,<prefix>/<op definition name>)``, named by the op definition
  after its last ``__``;
* the run ``urn:li:dataProcessInstance:<guid of {cluster: env, orchestrator: dagster, id: run id}>``;
  an op's run the same with id ``<run id>.<prefix>/<op definition name>``. A mapped (dynamic)
  step keeps the bridge's own run URN: the plugin has one run per op and cannot tell them apart.

Dagster+ (cloud) deployments, where the plugin writes ``<deployment>/<module>/<job>``, are not
covered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from translators.datahub.urns import datahub_guid, make_data_process_instance_urn

__all__ = ["BRIDGE", "DATAHUB_PLUGIN", "URN_SCHEMES", "PluginNames"]

BRIDGE = "bridge"
DATAHUB_PLUGIN = "datahub-dagster-plugin"
#: The values ``urn_scheme`` takes.
URN_SCHEMES = (BRIDGE, DATAHUB_PLUGIN)
DEFAULT_DEPLOYMENT = "prod"


class PluginNames:
    """Ids of flows, jobs and runs under DataHub's plugin's rule.

    Args:
        env: the DataHub environment (the flow's cluster).
        deployment: the prefix used when the code location has no module (``prod``).
    """

    def __init__(self, env: str, deployment: str = DEFAULT_DEPLOYMENT) -> None:
        self.env = env
        self.deployment = deployment

    def prefix(self, facet: Mapping[str, Any]) -> str:
        return str(facet.get("codeModule") or self.deployment)

    def flow_id(self, facet: Mapping[str, Any], job_name: str) -> str:
        """``<prefix>/<Dagster job>``; ``job_name`` may be an op's ``<job>.<op>``."""
        return f"{self.prefix(facet)}/{job_name.split('.', 1)[0]}"

    def job_id(self, facet: Mapping[str, Any]) -> str:
        return f"{self.prefix(facet)}/{facet.get('opDefinition') or facet.get('opName')}"

    @staticmethod
    def job_name(facet: Mapping[str, Any]) -> str:
        return str(facet.get("opDefinition") or facet.get("opName")).split("__")[-1]

    def run_urn(self, run_id: str) -> str:
        """The process instance of ``run_id`` (a Dagster run id, or ``<run id>.<job id>``)."""
        return make_data_process_instance_urn(
            datahub_guid({"cluster": self.env, "orchestrator": "dagster", "id": run_id}))
