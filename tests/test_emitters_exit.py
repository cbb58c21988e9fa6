"""A script that emits and ends without flush() still delivers: background emitters flush at exit.

Each case runs a real Python process against a real server and checks what arrived; the
control run cancels the exit flush and shows what would be lost without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
N = 40

_MCPS = f"""
from bridge.mcp import MetadataChangeProposalWrapper
mcps = [MetadataChangeProposalWrapper(
    entity_urn=f"urn:li:dataset:(urn:li:dataPlatform:s3,exit/t{{i}},PROD)", aspect_name="status",
    aspect={{"removed": False}}) for i in range({N})]
"""


def _run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(_MCPS) + textwrap.dedent(script)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("cancel", [False, True], ids=["exit-flush", "control-without-it"])
def test_rest_background_delivers_what_is_queued_when_the_script_ends(cancel):
    from tests.servers.gms import GmsServer

    with GmsServer() as gms:
        # A long linger: the sender would still be waiting to fill its batch when the script ends.
        done = _run(f"""
            from emitters.rest import RestEmitter
            emitter = RestEmitter(gms_server={gms.url!r}, delivery="background", linger_ms=2000, max_batch_size=1000)
            for mcp in mcps:
                emitter.emit(mcp)
            if {cancel}:
                emitter._cancel_exit_flush()
        """)
        assert done.returncode == 0, done.stderr
        delivered = len(gms.proposals)
    assert delivered == (0 if cancel else N)


@pytest.mark.parametrize("cancel", [False, True], ids=["exit-flush", "control-without-it"])
def test_kafka_delivers_what_is_queued_when_the_script_ends(kafka_broker_server, schema_registry, cancel):
    pytest.importorskip("confluent_kafka")
    from tests.servers.kafka_broker import read_topic

    topic = f"exit-{uuid.uuid4().hex[:10]}"
    kafka_broker_server.create_topics([topic])
    config = {"connection": {"bootstrap": kafka_broker_server.bootstrap, "schema_registry_url": schema_registry.url,
                             "producer_config": {"linger.ms": 3000}},
              "topic_routes": {"MetadataChangeProposal": topic}}
    done = _run(f"""
        from emitters.base import create_emitter
        emitter = create_emitter("kafka", {json.dumps(config)})
        for mcp in mcps:
            emitter.emit(mcp)
        if {cancel}:
            emitter._cancel_exit_flush()
    """)
    assert done.returncode == 0, done.stderr
    messages = read_topic(kafka_broker_server.bootstrap, topic, count=N, timeout=3 if cancel else 30)
    assert len(messages) == (0 if cancel else N)


@pytest.mark.parametrize("cancel", [False, True], ids=["exit-flush", "control-without-it"])
def test_file_emitter_writes_what_is_buffered_when_the_script_ends(tmp_path, cancel):
    out = tmp_path / "mcps.json"
    done = _run(f"""
        from emitters.base import create_emitter
        emitter = create_emitter("file", {{"filename": {str(out)!r}}})  # buffers up to 1,000 MCPs
        for mcp in mcps:
            emitter.emit(mcp)
        if {cancel}:
            emitter._cancel_exit_flush()
    """)
    assert done.returncode == 0, done.stderr
    written = json.loads(out.read_text()) if out.exists() else []
    assert len(written) == (0 if cancel else N)


@pytest.mark.parametrize("cancel", [False, True], ids=["exit-close", "control-without-it"])
def test_console_array_is_a_whole_json_array_when_the_script_ends(cancel):
    done = _run(f"""
        from emitters.base import create_emitter
        emitter = create_emitter("console", {{"format": "array"}})
        for mcp in mcps:
            emitter.emit(mcp)
        if {cancel}:
            emitter._cancel_exit_close()
    """)
    assert done.returncode == 0, done.stderr
    if cancel:
        with pytest.raises(ValueError):
            json.loads(done.stdout)  # the array was never closed
    else:
        assert len(json.loads(done.stdout)) == N
