"""Every ``bridge`` command in README.md's shell blocks names a command and options that exist, and parses:
the README cannot drift from the command line (a renamed flag, a removed command).

Each command line is parsed by the real click command (``make_context``), which checks the command,
every option and its value type, without running it. Alternatives written as ``a | b`` and optional
parts in ``[...]`` are parsed one by one.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from bridge.cli import main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _command_lines() -> list[str]:
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.DOTALL):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split("  #", 1)[0].strip()
            for part in line.split(";"):
                part = part.strip()
                if part.startswith("bridge "):
                    lines.append(part)
    return lines


def _variants(line: str) -> list[list[str]]:
    """The command with each ``[optional]`` part left out and put in, and each ``a | b`` alternative alone."""
    required = re.sub(r"\[[^\]]*\]", "", line)
    optional = re.sub(r"\[([^\]]*)\]", r"\1", line)
    out = []
    for text in {required, optional}:
        head, _, alternatives = text.partition(" | ")
        out.append(shlex.split(head))
        if alternatives:
            words = shlex.split(head)
            # `retry 12 13 | --all`: the alternative replaces the arguments after the command.
            command = [w for w in words if not w[0].isdigit()]
            out.append(command + shlex.split(alternatives))
    return out


def _parse(words: list[str]) -> None:
    assert words[0] == "bridge"
    args = words[1:]
    command: click.Command = main
    ctx = click.Context(main, info_name="bridge")
    while isinstance(command, click.Group):
        options, args = _split_group_options(command, args)
        if not args or args[0] in ("--help", "-h"):
            return
        sub = command.get_command(ctx, args[0])
        assert sub is not None, f"no command {args[0]!r}"
        command, args = sub, args[1:]
    if "--help" in args:
        return
    command.make_context(command.name, list(args), resilient_parsing=False)


def _split_group_options(group: click.Group, args: list[str]) -> tuple[list[str], list[str]]:
    """A group's own options (``bridge --log-level info consume ...``) before its subcommand."""
    taken = []
    while args and args[0].startswith("-") and args[0] not in ("--help", "-h"):
        flag = args[0]
        option = next((p for p in group.params if flag in getattr(p, "opts", ())), None)
        assert option is not None, f"no option {flag!r} for {group.name!r}"
        consume = 1 if getattr(option, "is_flag", False) else 2
        taken, args = taken + args[:consume], args[consume:]
    return taken, args


LINES = _command_lines()


def test_the_readme_has_command_lines():
    assert len(LINES) >= 15
    assert any(line.startswith("bridge consume") for line in LINES)


@pytest.mark.parametrize("line", LINES)
def test_each_readme_command_parses(line, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # paths in the examples need not exist to parse
    monkeypatch.setenv("DATAHUB_GMS_TOKEN", "t")
    monkeypatch.setenv("BRIDGE_TOKEN", "t")
    for words in _variants(line):
        try:
            _parse(words)
        except click.exceptions.BadParameter as exc:
            # A path argument that must exist is fine; a misspelt option or a bad value is not.
            assert "does not exist" in str(exc), f"{line}: {exc}"
        except click.UsageError as exc:
            pytest.fail(f"README command does not parse: {' '.join(words)}: {exc}")
