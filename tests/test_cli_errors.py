"""Errors and the command line (issue 14, part 3): one clear line, the right exit status, no traceback.

Each test runs the real command (click's runner, or ``make`` in a subprocess) on real files,
a real spool and the GMS test server.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import BridgeConfig, load_config
from bridge.errors import ConfigError
from bridge.spool import Settlement, Spool
from tests.servers.gms import GmsServer
from translators.datahub import TranslatorConfig

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "openlineage"
EVENT = CORPUS / "simple_run_event" / "simple_run_event.json"
CLEAN_ENV = {name: None for name in (
    "DATAHUB_GMS_URL", "DATAHUB_GMS_HOST", "DATAHUB_GMS_TOKEN", "BRIDGE_CONFIG", "BRIDGE_EMITTER", "BRIDGE_STATE_DIR",
    "BRIDGE_LOG_LEVEL", "BRIDGE_SCHEMA_REGISTRY_URL",
)}


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None):
    workdir = tmp_path / "cwd"  # an empty folder: no ./bridge.toml is picked up
    workdir.mkdir(exist_ok=True)
    with contextlib.chdir(workdir):
        return CliRunner().invoke(main, list(args), env={**CLEAN_ENV, **(env or {})}, input=input)


def one_error_line(result) -> str:
    """The ``Error: ...`` line; fails on a traceback (an exception the command did not turn into a message)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


# -- 1. URLs are checked before anything is sent -------------------------------------------


def test_a_gms_url_with_a_bad_port_is_a_usage_error_naming_the_option_and_value(tmp_path):
    result = run(tmp_path, "check", "--emitter", "rest", "--gms-server", "http://127.0.0.1:99999")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "'--gms-server'" in line and "'http://127.0.0.1:99999'" in line and "port" in line


@pytest.mark.parametrize("url", ["127.0.0.1:99999", "ftp://127.0.0.1:5000", "http://", "http://a b:5000"])
def test_a_bad_bridge_url_for_send_to_is_a_usage_error(tmp_path, url):
    result = run(tmp_path, "send", str(EVENT), "--to", url)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "'--to'" in line and repr(url) in line


def test_send_to_without_a_scheme_is_given_http_as_gms_server_is(tmp_path):
    # Nothing listens there: the error is about connecting to http://..., not about the scheme.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run(tmp_path, "send", str(EVENT), "--to", f"127.0.0.1:{port}")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert f"http://127.0.0.1:{port}/" in line and "InvalidSchema" not in result.output


def test_a_bad_gms_url_from_the_environment_is_one_line_naming_the_setting(tmp_path):
    result = run(tmp_path, "check", "--emitter", "rest", env={"DATAHUB_GMS_URL": "http://127.0.0.1:99999"})
    assert result.exit_code == 1
    assert "gms_server: 'http://127.0.0.1:99999'" in one_error_line(result)


def test_a_bad_schema_registry_url_is_a_usage_error(tmp_path):
    result = run(tmp_path, "check", "--emitter", "kafka", "--schema-registry-url", "http://registry:0")
    assert result.exit_code == 2
    assert "'--schema-registry-url'" in one_error_line(result)


# -- 2. translate -o replaces the file; an empty input is said --------------------------------


def test_translate_of_an_empty_input_replaces_the_output_and_warns(tmp_path):
    empty, out = tmp_path / "empty.json", tmp_path / "out.json"
    empty.write_text("")
    out.write_text(json.dumps([{"older": "output"}]))
    result = run(tmp_path, "translate", str(empty), "-o", str(out))
    assert result.exit_code == 0
    assert json.loads(out.read_text()) == []
    assert f"warning: {empty} holds no events" in result.stderr
    assert "events read: 0" in result.stderr


def test_translate_help_says_what_happens_to_the_output(tmp_path):
    text = " ".join(run(tmp_path, "translate", "--help").output.split())
    assert "An existing file is replaced, with an empty array if no MCPs come out" in text


def test_translate_does_not_touch_the_output_when_an_input_is_missing(tmp_path):
    out = tmp_path / "out.json"
    out.write_text("[]\n")
    result = run(tmp_path, "translate", str(tmp_path / "nope.json"), "-o", str(out))
    assert result.exit_code == 2 and "no such file or folder" in result.output
    assert out.read_text() == "[]\n"


def test_emit_warns_about_an_empty_mcp_file(tmp_path):
    empty = tmp_path / "mcps.json"
    empty.write_text("[]")
    result = run(tmp_path, "emit", str(empty), "--emitter", "console")
    assert result.exit_code == 0
    assert f"warning: {empty} holds no MCPs" in result.stderr


# -- 3. gzip inputs ----------------------------------------------------------------------------


def test_gzip_files_are_read_when_named_and_in_folders(tmp_path):
    folder = tmp_path / "events"
    (folder / "deeper").mkdir(parents=True)
    data = EVENT.read_bytes()
    (folder / "deeper" / "a.json.gz").write_bytes(gzip.compress(data))
    (folder / "b.JSONL.GZ").write_bytes(gzip.compress(data))
    named = tmp_path / "c.json.gz"
    named.write_bytes(gzip.compress(data))
    result = run(tmp_path, "translate", str(folder), str(named), "-o", str(tmp_path / "out.json"), "--resend-unchanged")
    assert result.exit_code == 0, result.output
    assert "events read: 3, rejected: 0" in result.stderr
    plain = run(tmp_path, "translate", str(EVENT), "-o", str(tmp_path / "plain.json"))
    once = json.loads((tmp_path / "plain.json").read_text())
    assert plain.exit_code == 0 and len(json.loads((tmp_path / "out.json").read_text())) == 3 * len(once)


def test_gzip_on_standard_input_is_read(tmp_path):
    result = CliRunner().invoke(main, ["translate", "-"], input=gzip.compress(EVENT.read_bytes()), env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)


def rejected_input(result) -> str:
    """The one ``rejected:`` line of an input that could not be read; no traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("rejected:")]
    return line


def test_a_broken_gzip_file_is_named_and_the_files_after_it_are_read(tmp_path):
    broken = tmp_path / "cut.json.gz"
    broken.write_bytes(gzip.compress(EVENT.read_bytes())[:20])
    result = run(tmp_path, "translate", str(broken), str(EVENT))
    assert result.exit_code == 1
    line = rejected_input(result)
    assert str(broken) in line and "gzip" in line and "cut short" in line
    assert "events read: 1, rejected: 1" in result.stderr


def test_a_gzip_bomb_is_refused_at_the_limit_and_the_files_after_it_are_read(tmp_path):
    """1 GiB of spaces in a few MB of gzip: refused once it passes the input limit (here 16 MiB), named,
    without inflating the rest; the good file named after it is translated."""
    bomb = tmp_path / "bomb.json.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as out:
        block = b" " * (1 << 20)
        for _ in range(1024):
            out.write(block)
    assert bomb.stat().st_size < 8 << 20
    result = run(tmp_path, "translate", str(bomb), str(EVENT), "-o", str(tmp_path / "out.json"),
                 env={"BRIDGE_MAX_INPUT_BYTES": str(16 << 20)})  # fmt: skip
    assert result.exit_code == 1, result.output
    line = rejected_input(result)
    assert str(bomb) in line and "decompresses to over the 16777216-byte input limit" in line
    assert "BRIDGE_MAX_INPUT_BYTES" in line
    assert json.loads((tmp_path / "out.json").read_text()), "the good file after the bomb was not translated"


def test_a_plain_file_over_the_input_limit_is_refused_by_name(tmp_path):
    big = tmp_path / "big.jsonl"
    big.write_bytes(EVENT.read_bytes().replace(b"\n", b"") + b"\n")
    limit = big.stat().st_size - 1
    result = run(tmp_path, "translate", str(big), env={"BRIDGE_MAX_INPUT_BYTES": str(limit)})
    assert result.exit_code == 1
    assert f"holds over the {limit}-byte input limit" in rejected_input(result)
    fits = run(tmp_path, "translate", str(big), env={"BRIDGE_MAX_INPUT_BYTES": str(limit + 1)})
    assert fits.exit_code == 0, fits.output


def test_reading_a_small_input_sets_aside_no_more_than_it_holds(tmp_path):
    """The 1 GiB limit is a ceiling, not a reservation: under a 1 GiB address-space limit (less than the
    process plus the limit) a small file still translates."""
    import resource
    import sys

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    out = tmp_path / "out.json"
    done = subprocess.run([sys.executable, "-c", "from bridge.cli import main; main()", "translate", str(EVENT), "-o",
                           str(out)],
                          capture_output=True, text=True, timeout=120, preexec_fn=limited, cwd=tmp_path,
                          env={k: v for k, v in os.environ.items() if k not in CLEAN_ENV})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rejected: 0" in done.stderr and json.loads(out.read_text())


def test_a_bad_input_limit_is_a_config_error(tmp_path):
    result = run(tmp_path, "translate", str(EVENT), env={"BRIDGE_MAX_INPUT_BYTES": "1GB"})
    assert result.exit_code != 0 and "BRIDGE_MAX_INPUT_BYTES" in result.output
    assert "Traceback" not in result.output


# -- 5. config errors: one form, with "did you mean" ---------------------------------------------


def test_an_unknown_top_level_setting_suggests_the_right_one(tmp_path):
    config = tmp_path / "bridge.toml"
    config.write_text('emiter = "file"\n')
    with pytest.raises(ConfigError) as info:
        load_config(config, env={})
    assert f"unknown setting 'emiter' (did you mean 'emitter'?) in {config}" in str(info.value)
    result = run(tmp_path, "send", str(EVENT), "--config", str(config))
    assert result.exit_code == 1 and "(did you mean 'emitter'?)" in one_error_line(result)


def test_an_unknown_translator_setting_suggests_the_right_one_in_the_same_form():
    with pytest.raises(ConfigError) as info:
        TranslatorConfig.from_dict({"platform_instanse": "x"})
    text = str(info.value)
    assert text.startswith("translator: unknown setting 'platform_instanse' (did you mean 'platform_instance'?); known: ")
    assert "[" not in text  # names, not a Python list


def test_unknown_settings_elsewhere_use_the_same_form():
    with pytest.raises(ConfigError, match=r"unknown setting 'ttl_dyas' \(did you mean 'ttl_days'\?\)"):
        BridgeConfig.from_dict({"lineage": {"ttl_dyas": 3}})
    from emitters.kafka.config import KafkaEmitterConfig
    from emitters.rest.config import RestEmitterConfig

    with pytest.raises(ConfigError, match=r"unknown setting 'gms_sever' \(did you mean 'gms_server'\?\)"):
        RestEmitterConfig.from_dict({"gms_sever": "http://x"})
    with pytest.raises(ConfigError, match=r"unknown setting 'bootstrp' \(did you mean 'bootstrap'\?\)"):
        KafkaEmitterConfig.from_dict({"connection": {"bootstrp": "x:1"}})


def test_a_bad_emitter_from_the_environment_says_it_came_from_there(tmp_path):
    result = run(tmp_path, "send", str(EVENT), env={"BRIDGE_EMITTER": "kafak"})
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "$BRIDGE_EMITTER" in line and "'kafak'" in line and "(did you mean 'kafka'?)" in line
    flag = one_error_line(run(tmp_path, "send", str(EVENT), "--emitter", "kafak"))
    assert "$BRIDGE_EMITTER" not in flag and "'--emitter'" in flag and "(did you mean 'kafka'?)" in flag


# -- 6. --log-level after the subcommand -----------------------------------------------------------


def test_log_level_is_accepted_after_the_subcommand_and_wins(tmp_path):
    no_producer = json.loads(EVENT.read_text())
    no_producer.pop("producer", None)
    path = tmp_path / "event.json"
    path.write_text(json.dumps(no_producer))
    out = str(tmp_path / "out.json")
    quiet = run(tmp_path, "--log-level", "warning", "translate", "--log-level", "error", str(path), "-o", out)
    assert quiet.exit_code == 0, quiet.output
    assert "level=warning" not in quiet.stderr
    loud = run(tmp_path, "--log-level", "error", "translate", str(path), "-o", out, "--log-level", "warning")
    assert loud.exit_code == 0 and "level=warning" in loud.stderr
    for args in (["spool", "retry"], ["memory"], ["check"]):
        assert "--log-level" in run(tmp_path, *args, "--help").output


# -- 7. spool retry / purge of an id that is no dead letter --------------------------------------


def _spool_with_one_dead_letter(state: Path) -> int:
    with Spool(state) as spool:
        spool.append([("job:ns/j", json.dumps({"job": {"namespace": "ns", "name": "j"}}))]).result(5)
        spool.settle(Settlement(dead=[(spool.pending(limit=1)[0], "refused", None, None, 422)])).result(5)
        return spool.dead_letters()[0].id


def test_spool_retry_of_an_unknown_id_says_so_and_fails(tmp_path):
    state = tmp_path / "state"
    known = _spool_with_one_dead_letter(state)
    missing = run(tmp_path, "spool", "retry", "--state-dir", str(state), "99")
    assert missing.exit_code == 1
    assert "no dead letter with id 99" in one_error_line(missing) and "re-queued" not in missing.output
    both = run(tmp_path, "spool", "retry", "--state-dir", str(state), str(known), "99")
    assert both.exit_code == 1 and "re-queued 1 event(s)" in both.output and "id 99" in both.output
    purge = run(tmp_path, "spool", "purge", "--state-dir", str(state), "98", "--yes")
    assert purge.exit_code == 1 and "no dead letter with id 98" in purge.output


# -- 8. a /api/gms URL that is not GMS -------------------------------------------------------------


@pytest.mark.parametrize("pretend", ["gms", "frontend", "frontend-html"])
def test_a_wrong_api_gms_url_does_not_suggest_api_gms_twice(tmp_path, pretend):
    with GmsServer(pretend=pretend) as server:
        result = run(tmp_path, "check", "--emitter", "rest", "--gms-server", f"{server.url}/api/gms")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "/api/gms/api/gms" not in line and "http://<gms-host>:8080" in line


# -- 9. make lint from the README's set-up; the license as SPDX ------------------------------------


def test_the_test_extra_installs_ruff_for_make_lint_and_the_license_is_an_spdx_string():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(req.startswith("ruff") for req in project["project"]["optional-dependencies"]["test"])
    assert "$(VENV)/bin/ruff check" in (ROOT / "Makefile").read_text()
    assert project["project"]["license"] == "Apache-2.0"  # a table is deprecated (setuptools, Feb 2027)
    assert "setuptools>=77" in project["build-system"]["requires"]  # the first that reads the string


# -- 10. make demo twice --------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_second_make_demo_gives_the_same_output(tmp_path):
    """Run the real Makefile in a copy of the project's layout, with the project's virtualenv."""
    (tmp_path / "tests" / "corpus").mkdir(parents=True)
    (tmp_path / "tests" / "corpus" / "openlineage").symlink_to(CORPUS)
    venv = ROOT / ".venv"
    if not (venv / "bin" / "bridge").exists():
        pytest.skip("needs the project's .venv")
    command = ["make", "-s", "-f", str(ROOT / "Makefile"), f"VENV={venv}", "-o", f"{venv}/.installed", "demo"]

    def demo() -> tuple[str, int]:
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        summary = next(line for line in done.stderr.splitlines() if line.startswith("events read:"))
        return summary, len(json.loads((tmp_path / ".bridge-state" / "demo" / "mcps.json").read_text()))

    first, second = demo(), demo()
    assert first == second
    summary, written = first
    assert f"MCPs: {written}," in summary
    assert "skipped as unchanged: " in summary and "already holds them, from earlier events or runs" in summary


def test_a_port_in_use_is_said_once_before_anything_claims_to_listen(tmp_path):
    import socket
    import sys

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        done = subprocess.run([sys.executable, "-c", "from bridge.cli import main; main()", "--log-level", "info",
                               "serve", "--port", str(port), "--state-dir", str(tmp_path / "state")],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        holder.close()
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use: another process listens there" in done.stderr
    assert "listening" not in done.stderr.replace("another process listens there", "")
    assert "Traceback" not in done.stderr and "Errno" not in done.stderr
