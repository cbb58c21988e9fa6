"""Regenerate ``translators/datahub/entity_registry.json`` from acryl-datahub.

The translator may not import acryl-datahub, so the list of aspects each
DataHub entity type accepts is shipped as a small JSON file built from
DataHub's own code-generated entity registry. ``tests/test_datahub_registry.py``
fails when the shipped file and the installed acryl-datahub disagree; run

    /work/venv/bin/python -m tests.tools.gen_entity_registry

to bring it back in sync.
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

TARGET = pathlib.Path(__file__).resolve().parents[2] / "translators" / "datahub" / "entity_registry.json"


def build() -> dict[str, Any]:
    """Build the registry document from the installed acryl-datahub.

    Returns:
        ``{"source": ..., "entities": {type: {"key": name, "aspects": [...]}}, "timeseries": [...]}``.
    """
    import datahub
    from datahub.metadata import schema_classes as sc

    entities: dict[str, Any] = {}
    for entity_type in sorted(sc.ENTITY_TYPE_TO_ASPECT_NAMES):
        entities[entity_type] = {
            "key": sc.KEY_ASPECTS[entity_type].ASPECT_NAME,
            "aspects": sorted(set(sc.ENTITY_TYPE_TO_ASPECT_NAMES[entity_type])),
        }
    timeseries = sorted(
        name for name, cls in sc.ASPECT_NAME_MAP.items() if getattr(cls, "ASPECT_TYPE", "") == "timeseries"
    )
    return {"source": f"acryl-datahub {datahub.__version__}", "entities": entities, "timeseries": timeseries}


def render(doc: dict[str, Any]) -> str:
    """Serialise deterministically (one entity per line keeps diffs readable)."""
    lines = ["{", f'  "source": {json.dumps(doc["source"])},', '  "entities": {']
    items = list(doc["entities"].items())
    for i, (name, entry) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        lines.append(f"    {json.dumps(name)}: {json.dumps(entry, separators=(', ', ': '))}{comma}")
    lines.append("  },")
    lines.append(f'  "timeseries": {json.dumps(doc["timeseries"])}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    TARGET.write_text(render(build()), encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
