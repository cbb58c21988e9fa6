"""``bridge explain``: which URN each job, run and dataset of some events gets, and which rule chose it."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from bridge.cli.options import config_from_options, gms_flags, handle_errors, translator_options, with_options
from bridge.cli.report import Report, iter_events
from bridge.mcp import entity_type_of

__all__ = ["explain"]


def _entities(translator: Any, events: Any) -> dict[str, dict[str, Any]]:
    """Each distinct job and dataset of the events once (by URN), with the roles it had, in order seen."""
    from translators.datahub.explain import explain_event

    seen: dict[str, dict[str, Any]] = {}
    for event in events:
        for role, explanation in explain_event(translator, event):
            entry = explanation.to_dict()
            key = entry["urn"] or entry.get("flow_urn")
            held = seen.setdefault(key, {**entry, "roles": []})
            if role not in held["roles"]:
                held["roles"].append(role)
    return seen


def _missing(config: Any, urns: list[str]) -> tuple[str, set[str]]:
    """(the GMS asked, shown without credentials; the URNs it does not hold)."""
    from emitters.rest import RestEmitterConfig
    from emitters.rest.client import GmsClient
    from emitters.rest.connection import check_connection
    from emitters.rest.exists import missing_urns
    from translators.datahub.registry import entity_registry

    keys = entity_registry().key_aspects
    client = GmsClient(RestEmitterConfig.from_dict(config.emitters["rest"]))
    try:
        check_connection(client)  # the URL is GMS's and the token is taken, said plainly if not
        return client.display_url, set(missing_urns(client, urns, lambda urn: keys[entity_type_of(urn)]))
    finally:
        client.close()


def _urns(entity: dict[str, Any]) -> list[str]:
    """The URNs of an entity to look up in DataHub (not a parent run that delivery names by another URN)."""
    parent = None if entity.get("parent_renamed") else entity.get("parent_urn")
    return [u for u in (entity.get("flow_urn"), entity["urn"], parent) if u]


def _mark(urn: str, missing: set[str] | None) -> str:
    if missing is None:
        return urn
    return f"{urn}  (not in DataHub yet)" if urn in missing else f"{urn}  (in DataHub)"


def _text(entity: dict[str, Any], missing: set[str] | None) -> list[str]:
    roles = ", ".join(entity["roles"])
    if entity["kind"] == "job":
        lines = [f"{roles}: {entity['namespace']} / {entity['name']}",
                 f"  flow  {_mark(entity['flow_urn'], missing)}",
                 f"        orchestrator {entity['orchestrator']}: {entity['orchestrator_rule']}",
                 f"        flow id {entity['flow_id']}: {entity['flow_rule']}",
                 f"        cluster {entity['cluster']}: {entity['cluster_rule']}"]
        if entity["urn"]:
            lines.append(f"  job   {_mark(entity['urn'], missing)}")
        lines.append(f"        job id {entity['job_id']}: {entity['job_rule']}" if entity["job_id"]
                     else f"        no job: {entity['job_rule']}")
        return lines
    if entity["kind"] == "run":
        parent = (f"  parent {_mark(entity['parent_urn'], missing)}" if entity["parent_urn"] else "  no parent")
        return [f"run: {entity['namespace']} / {entity['name']} (run id {entity['run_id']})",
                f"  run   {_mark(entity['urn'], missing)}", f"        {entity['rule']}",
                parent, f"        {entity['parent_rule']}"]
    lines = [f"{roles}: {entity['namespace']} / {entity['name']}", f"  urn   {_mark(entity['urn'], missing)}"]
    if entity["platform"] is None:  # a customised translator: the rules did not choose it
        return [*lines, f"        {entity['rule']}"]
    return [*lines,
            f"        platform {entity['platform']}, name {entity['dataset_name']}: {entity['rule']}",
            f"        env {entity['env']}: {entity['env_rule']}",
            f"        platform instance {entity['platform_instance']}: {entity['instance_rule']}"
            if entity["platform_instance"] else "        no platform instance"]


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="EVENT...")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for machines) instead of text.")
@click.option("--offline", is_flag=True, help="Do not ask GMS which URNs exist, even if one is configured.")
@lambda func: with_options(func, gms_flags())
@translator_options
@handle_errors
def explain(paths: tuple[str, ...], as_json: bool, offline: bool, **options: Any) -> None:
    """Say which URN each job, run and dataset of some events gets, and why.

    EVENT is as PATH for `bridge translate`: a file (one event, a JSON array or
    JSON Lines), a folder, or - for standard input. Nothing is sent anywhere.

    For each dataset: its platform, name, platform instance, env and URN, and
    the rule that chose them (a TABLE symlink, a URI scheme, a path, the
    namespace as platform, a namespace override, a path spec, the fallback),
    then where env and platform instance came from. For each job: its flow and
    job URNs, and why (orchestrator, flow_naming or dbt_flow_naming, compat,
    cluster). For each run: its process instance URN and its parent run's. Datasets
    named only in an output's column lineage are listed too. Each appears once, however many events name it, with the
    translator settings of --config and the flags.

    With a GMS configured (--gms-server, $DATAHUB_GMS_URL or [emitters.rest]
    gms_server in the config file), each URN is also looked up in DataHub, and
    those it does not hold yet are listed: lineage to a URN nothing wrote dangles
    in DataHub's graph. The token is sent, never printed. The exit status is 1
    if an event was rejected.

    \b
    Examples:
      bridge explain events/
      bridge explain spark-events.jsonl --config bridge.toml --json
      bridge explain events/ --gms-server http://localhost:8080 --gms-token "$TOKEN"
    """
    from translators.datahub import DataHubTranslator, TranslatorConfig

    asked = options.get("gms_server") is not None
    config = config_from_options(options)
    translator = DataHubTranslator(TranslatorConfig.from_dict(config.translator))
    report = Report()
    entities = _entities(translator, iter_events(paths, report))
    urns = list(dict.fromkeys(u for e in entities.values() for u in _urns(e)))  # each once, in order seen
    missing: set[str] | None = None
    gms = None
    configured = asked or bool(config.emitters.get("rest", {}).get("gms_server"))
    if configured and not offline:
        gms, missing = _missing(config, urns)
    absent = None if missing is None else [u for u in urns if u in missing]
    if as_json:
        for entity in entities.values():
            entity["exists"] = None if missing is None else entity["urn"] not in missing if entity["urn"] else None
            if entity["kind"] == "job":
                entity["flow_exists"] = None if missing is None else entity["flow_urn"] not in missing
        click.echo(json.dumps({"entities": list(entities.values()), "gms": gms, "missing": absent,
                               "events": report.read, "rejected": report.rejected}, indent=2))  # fmt: skip
    else:
        for entity in entities.values():
            click.echo("\n".join(_text(entity, missing)))
        if absent is None:
            click.echo(f"\n{len(urns)} URNs; not looked up in DataHub (no GMS configured, or --offline)")
        elif absent:
            click.echo(f"\n{len(absent)} of {len(urns)} URNs are not in DataHub at {gms} yet; lineage to them "
                       "dangles until something writes them:")
            click.echo("\n".join(f"  {u}" for u in absent))
        else:
            click.echo(f"\nall {len(urns)} URNs are in DataHub at {gms}")
    click.echo(f"events read: {report.read}, rejected: {report.rejected}", err=True)
    if report.rejected:
        sys.exit(1)
