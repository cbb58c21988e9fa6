"""``bridge emit`` / ``bridge send`` / ``bridge check`` with the REST emitter against the GMS test server."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from click.testing import CliRunner

from bridge.cli import main
from bridge.mcp import MetadataChangeProposalWrapper
from tests.servers.gms import GmsServer
from translators.datahub.urns import make_dataset_urn

CORPUS = Path(__file__).parent / "corpus" / "openlineage"
# The environment must not point the bridge anywhere else during these tests.
CLEAN_ENV = {name: None for name in (
    "DATAHUB_GMS_URL", "DATAHUB_GMS_HOST", "DATAHUB_GMS_TOKEN", "BRIDGE_CONFIG", "BRIDGE_EMITTER", "BRIDGE_STATE_DIR",
)}


def run(tmp_path: Path, *args: str):
    # In an empty folder, so no ./bridge.toml is picked up.
    workdir = tmp_path / "cwd"
    workdir.mkdir(exist_ok=True)
    with contextlib.chdir(workdir):
        return CliRunner().invoke(main, list(args), env=CLEAN_ENV, catch_exceptions=False)


def mcp_file(tmp_path: Path, n: int) -> tuple[Path, list[dict]]:
    mcps = [
        MetadataChangeProposalWrapper(
            entity_urn=make_dataset_urn("postgres", f"shop.public.t{i}"), aspect_name="datasetProperties",
            aspect={"name": f"t{i}", "customProperties": {"i": str(i)}},
        ).to_obj()
        for i in range(n)
    ]
    path = tmp_path / "mcps.json"
    path.write_text(json.dumps(mcps))
    return path, mcps


def test_emit_mcp_file(tmp_path):
    path, mcps = mcp_file(tmp_path, 30)
    with GmsServer(token="tok", validate_aspects=True) as gms:
        result = run(tmp_path, "emit", str(path), "--emitter", "rest", "--gms-server", gms.url, "--gms-token", "tok")
        assert result.exit_code == 0, result.output
        assert [p["entityUrn"] for p in gms.proposals] == [m["entityUrn"] for m in mcps]
    assert "tok" not in result.output.replace("token", "")


def test_emit_reports_a_rejected_mcp_and_delivers_the_rest_with_background_delivery(tmp_path):
    path, mcps = mcp_file(tmp_path, 12)
    config = tmp_path / "bridge.toml"
    with GmsServer() as gms:
        config.write_text(f'emitter = "rest"\n[emitters.rest]\ngms_server = "{gms.url}"\ndelivery = "background"\n')
        gms.reject_urns.add(mcps[4]["entityUrn"])
        result = run(tmp_path, "emit", str(path), "--config", str(config))
        assert result.exit_code == 1
        assert mcps[4]["entityUrn"] in result.output
        assert len(gms.proposals) == 11


def test_emit_with_flags_only_keeps_going_after_a_rejected_mcp(tmp_path):
    path, mcps = mcp_file(tmp_path, 12)
    with GmsServer() as gms:
        gms.reject_urns.add(mcps[4]["entityUrn"])
        result = run(tmp_path, "emit", str(path), "--emitter", "rest", "--gms-server", gms.url)
        assert result.exit_code == 1
        assert len(gms.proposals) == 11


def test_send_translates_and_delivers_what_datahub_accepts(tmp_path):
    events = sorted((CORPUS / "spark_dataproc_simple_producer_test").glob("*.json"))
    assert events
    with GmsServer(validate_aspects=True) as gms:
        result = run(tmp_path, "send", *map(str, events), "--emitter", "rest", "--gms-server", gms.url)
        assert result.exit_code == 0, result.output
        assert gms.proposals
        assert {p["entityType"] for p in gms.proposals} >= {"dataJob", "dataFlow"}


def test_check_ok(tmp_path):
    with GmsServer(token="tok") as gms:
        result = run(tmp_path, "check", "--emitter", "rest", "--gms-server", gms.url, "--gms-token", "tok")
    assert result.exit_code == 0, result.output
    assert "ok: rest emitter" in result.output and gms.version in result.output
    assert "auth=accepted" in result.output


def test_check_wrong_token(tmp_path):
    with GmsServer(token="right") as gms:
        result = run(tmp_path, "check", "--emitter", "rest", "--gms-server", gms.url, "--gms-token", "wrong-token")
    assert result.exit_code != 0
    assert "refused the token" in result.output
    assert "wrong-token" not in result.output


def test_the_old_token_flag_still_works_and_says_what_to_use(tmp_path):
    with GmsServer(token="right") as gms:
        old = run(tmp_path, "check", "--emitter", "rest", "--gms-server", gms.url, "--token", "right")
    assert old.exit_code == 0, old.output
    assert "warning: --token is deprecated here: use --gms-token (the bridge's own token is --bridge-token)" in (
        old.output)
    import socket

    with socket.socket() as holder:  # serve stops at once on the port in use: only the flags are looked at
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        serve = run(tmp_path, "serve", "--token", "s3cret", "--port", str(holder.getsockname()[1]),
                    "--state-dir", str(tmp_path / "s"))
    assert serve.exit_code != 0 and "Address already in use" in serve.output
    assert "warning: --token is deprecated here: use --bridge-token (DataHub's token is --gms-token)" in serve.output


def test_check_frontend_url(tmp_path):
    with GmsServer(pretend="frontend") as frontend:
        result = run(tmp_path, "check", "--emitter", "rest", "--gms-server", frontend.url)
    assert result.exit_code != 0
    assert "frontend" in result.output and "/api/gms" in result.output


def test_check_nothing_listening(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run(tmp_path, "check", "--emitter", "rest", "--gms-server", f"http://127.0.0.1:{port}")
    assert result.exit_code != 0
    assert "nothing is listening" in result.output
    assert "Traceback" not in result.output
