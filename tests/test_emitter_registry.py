"""Emitters are found by kind; third parties register through entry points like the built-ins."""

from __future__ import annotations

import json
import textwrap

from click.testing import CliRunner

from bridge.cli import main
from emitters import emitter_kinds
from emitters.base import emitter_class

CORPUS_EVENT = "tests/corpus/openlineage/simple_run_event/simple_run_event.json"


def _install_plugin(tmp_path, monkeypatch) -> None:
    """A real installed distribution (dist-info on sys.path) declaring an emitter entry point."""
    (tmp_path / "pigeon_emitter.py").write_text(textwrap.dedent('''
        import json
        import attrs
        from emitters import Emitter

        @attrs.frozen(kw_only=True)
        class PigeonConfig:
            loft: str

            @classmethod
            def from_dict(cls, data):
                return cls(loft=data["loft"])

        class PigeonEmitter(Emitter):
            kind = "pigeon"
            config_class = PigeonConfig

            def __init__(self, config):
                self.config = config

            def emit(self, item, callback=None):
                with open(self.config.loft, "a") as f:
                    f.write(json.dumps(item.to_obj()) + "\\n")
                if callback:
                    callback(None, "flown")
    '''))
    dist = tmp_path / "pigeon_emitter-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pigeon-emitter\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[lineage_bridge.emitters]\npigeon = pigeon_emitter:PigeonEmitter\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_a_registered_emitter_is_usable_from_the_cli(tmp_path, monkeypatch):
    _install_plugin(tmp_path, monkeypatch)
    assert "pigeon" in emitter_kinds()
    assert emitter_class("pigeon").__name__ == "PigeonEmitter"
    loft = tmp_path / "loft.jsonl"
    config = tmp_path / "bridge.toml"
    config.write_text(f'[emitters.pigeon]\nloft = "{loft}"\n')
    result = CliRunner().invoke(main, ["send", CORPUS_EVENT, "--emitter", "pigeon", "--config", str(config)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in loft.read_text().splitlines()]
    assert lines and {o["entityType"] for o in lines} >= {"dataJob", "dataset"}


def test_an_unknown_emitter_is_a_usage_error_listing_the_known_ones():
    result = CliRunner().invoke(main, ["send", CORPUS_EVENT, "--emitter", "pigeon"])
    assert result.exit_code == 2
    assert "'pigeon' is not an emitter; known: console, file, kafka, rest" in result.output
