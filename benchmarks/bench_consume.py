"""``bridge consume`` throughput: 1, 2 and 4 worker processes in one consumer group vs a raw consumer.

All processes on loopback, one real broker (tansu), one 8-partition topic holding ``--events`` OpenLineage
events: copies of the corpus's pipelines (``tests/corpus/openlineage``), each with its own job names and
run ids, keyed as openlineage-python's ``KafkaTransport`` keys them (``run:<namespace>/<root or parent
job>``), so a pipeline copy stays in one partition and the copies spread over all eight. Each case is a
fresh consumer group reading the whole topic, timed from its processes' start (imports, group join and
rebalances included, as an operator sees them):

* ``raw``: 1, 2, 4 confluent-kafka consumer processes, the floor: batches of 500 and a synchronous commit
  per batch, like the bridge, and nothing else; done when the committed offsets reach every partition's end;
* a bridge: 1, 2, 4 ``bridge consume`` processes (the real CLI, each with its own state directory and
  ``--metrics-port``) delivering to a GMS test server process (``--emitter rest``, the default) or to a
  DataHub file each (``--emitter file``); done when the workers' ``/metrics`` count every event delivered
  *and* the committed offsets reach the end (offsets committed on spooling do not mean delivered).

psutil reads the CPU seconds of the worker processes (and children), the GMS test server, the broker and
the host, from the start and from the first event on, to tell what limits scaling. Cases are interleaved
by round (``--rounds``); each reports its best round.

``--bridge [LABEL=]PATH`` (repeatable) picks the bridges measured side by side, the first being the
reference (default: this tree, as ``current``): a source tree, run with this interpreter and
``PYTHONPATH=PATH`` (this venv's dependencies), or a ``bridge`` executable (its own venv). Before/after::

    git worktree add --detach /tmp/bench-before 05746cf
    python benchmarks/bench_consume.py --bridge before=/tmp/bench-before --bridge after=.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus" / "openlineage"
PARTITIONS = 8
# tansu holds a group join for session.timeout.ms before the first assignment (45 s by default).
GROUP_TIMING = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}

__all__ = ["main", "run"]

Case = tuple[Callable[[], list[subprocess.Popen[bytes]]], Callable[[], tuple[int, bool]], dict[str, int]]


# -- the workload -------------------------------------------------------------------------------


def _message_key(event: dict[str, Any]) -> str:
    """openlineage-python ``KafkaTransport._get_run_message_key``: the root job, else the parent job, else the job."""
    parent = event["run"].get("facets", {}).get("parent") or {}
    job = (parent.get("root") or {}).get("job") or parent.get("job") or event["job"]
    return f"run:{job['namespace']}/{job['name']}"


def _pipeline_copy(event: dict[str, Any], copy: int) -> dict[str, Any]:
    """``event`` as in the ``copy``-th run of its pipeline: jobs renamed and run ids fresh, so it is new work."""
    event = json.loads(json.dumps(event))
    parent = event["run"].get("facets", {}).get("parent") or {}
    for ref in (event, parent, parent.get("root") or {}):
        if "job" in ref:
            ref["job"]["name"] = f"{ref['job']['name']}_{copy}"
        if "runId" in ref.get("run", {}):
            ref["run"]["runId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ref['run']['runId']}/{copy}"))
    return event


def _messages(n: int) -> list[tuple[bytes, bytes]]:
    """``n`` (key, value) messages: copies of the corpus's pipelines (one folder = one pipeline)."""
    pipelines = [
        [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"), key=lambda p: (len(p.name), p.name))]
        for folder in sorted(CORPUS.iterdir()) if folder.is_dir()
    ]
    out: list[tuple[bytes, bytes]] = []
    for copy in range(n // sum(map(len, pipelines)) + 1):
        copies = [_pipeline_copy(event, copy) for pipeline in pipelines for event in pipeline]
        out += [(_message_key(event).encode(), json.dumps(event).encode()) for event in copies]
    return out[:n]


def _fill(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> dict[int, int]:
    """Produce ``messages``; returns each partition's end offset.

    The end offsets are found by reading the topic back: tansu's high watermark lags behind.
    """
    from confluent_kafka import Consumer, Producer, TopicPartition

    # Queue limits at their maximum: the workload fits, so produce never raises BufferError.
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "queue.buffering.max.messages": 10_000_000,
                         "queue.buffering.max.kbytes": 2_147_483_647})
    for key, value in messages:
        producer.produce(topic, value, key)
    if producer.flush(120):
        raise RuntimeError("the topic could not be filled")
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-scan", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    ends, seen, deadline = dict.fromkeys(range(PARTITIONS), 0), 0, time.monotonic() + 60
    while seen < len(messages) and time.monotonic() < deadline:
        for message in consumer.consume(1000, 0.5):
            if message.error() is None:
                ends[message.partition()] = max(ends[message.partition()], message.offset() + 1)
                seen += 1
    consumer.close()
    if seen != len(messages):
        raise RuntimeError(f"the topic holds {seen} messages, not {len(messages)}")
    return ends


def _raw_consumer_main(bootstrap: str, topic: str, group: str) -> None:
    """The floor, in its own process: read and commit, nothing else, until SIGTERM."""
    from confluent_kafka import Consumer

    stop: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", **GROUP_TIMING})
    consumer.subscribe([topic])
    while not stop:
        messages = consumer.consume(num_messages=500, timeout=0.5)
        if any(message.error() is None for message in messages):
            consumer.commit(asynchronous=False)
    consumer.close()


# -- measuring ----------------------------------------------------------------------------------


def _uncommitted(probe: Any, wanted: list[Any], ends: dict[int, int]) -> int:
    """Messages the probe's group has not committed yet (read with OffsetFetch: the probe joins nothing)."""
    return sum(ends[tp.partition] - max(tp.offset, 0) for tp in probe.committed(wanted, timeout=10))


def _metrics(session: Any, urls: list[str]) -> dict[str, int]:
    """Events delivered and MCPs emitted, summed over the workers' ``/metrics``."""
    names = {"bridge_events_delivered_total": "delivered", "bridge_mcps_emitted_total": "mcps"}
    out = dict.fromkeys(names.values(), 0)
    for url in urls:
        try:
            text = session.get(url + "/metrics", timeout=5).text
        except OSError:
            continue  # not listening yet
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in names:
                out[names[name]] += int(float(value))
    return out


def _cpu_seconds(processes: list[Any]) -> dict[int, float]:
    """User + system CPU seconds of ``processes`` and their live descendants, by pid."""
    import psutil

    out = {}
    for process in processes:
        try:
            for each in (process, *process.children(recursive=True)):
                times = each.cpu_times()
                out[each.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return out


def _measure(case: Case, others: dict[str, Any], timeout: float) -> dict[str, float]:
    """Start the case's processes and wait until its progress says done.

    Returns the wall time, the time to the first event and how many were through then, and CPU seconds
    (the workers together and their busiest process, each of ``others``, the host) over the whole run
    (``cpu_*``) and after the first event (``steady_*``).
    """
    import psutil

    start, progress, _ = case
    handles: list[Any] = []
    per_process: dict[int, float] = {}  # the last reading of every worker process ever seen

    def cpu() -> dict[str, Any]:
        per_process.update(_cpu_seconds(handles))
        t = psutil.cpu_times()
        return {"host": t.user + t.nice + t.system + t.irq + t.softirq + t.steal, "per_process": dict(per_process),
                **{name: sum(_cpu_seconds([p]).values()) for name, p in others.items()}}

    def since(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
        spent = [seconds - before["per_process"].get(pid, 0.0) for pid, seconds in after["per_process"].items()]
        return {"workers": sum(spent), "busiest": max(spent, default=0.0), "host": after["host"] - before["host"],
                **{name: after[name] - before[name] for name in others}}

    began, at_start = time.perf_counter(), cpu()
    processes = start()
    handles.extend(psutil.Process(p.pid) for p in processes)
    first, at_first, count_first = None, at_start, 0
    try:
        while True:
            count, done = progress()
            now = time.perf_counter()
            if first is None and count > 0:
                first, at_first, count_first = now, cpu(), count
            if done:
                break
            if now - began > timeout:
                raise RuntimeError(f"not done after {timeout:.0f}s")
            if any(p.poll() is not None for p in processes):
                raise RuntimeError("a worker exited early (see its log)")
            time.sleep(0.1)
        ended, at_end = time.perf_counter(), cpu()
    finally:
        for p in processes:
            p.send_signal(signal.SIGTERM)
        for p in processes:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return {"seconds": ended - began, "first": (first or ended) - began, "count_first": count_first,
            **{f"cpu_{name}": seconds for name, seconds in since(at_start, at_end).items()},
            **{f"steady_{name}": seconds for name, seconds in since(at_first, at_end).items()}}


def _bridge_command(path: str) -> tuple[list[str], dict[str, str], str | None]:
    """How to start ``bridge`` from ``path``: (argv prefix, extra environment, working directory)."""
    tree = Path(path).resolve()
    if tree.is_dir():
        # With -c, sys.path starts with the working directory, then PYTHONPATH: the tree's own packages
        # win over this venv's editable install (whose finder comes after them).
        return [sys.executable, "-c", "from bridge.cli import main; main()"], {"PYTHONPATH": str(tree)}, str(tree)
    return [str(tree)], {}, None


def run(events: int = 20_000, workers: tuple[int, ...] = (1, 2, 4), rounds: int = 1, emitter: str = "rest",
        bridges: tuple[tuple[str, str], ...] = (("current", str(ROOT)),), timeout: float = 600.0) -> list[dict]:
    """Measure every case ``rounds`` times, interleaved; the best round of each (a row per case)."""
    import psutil
    import requests
    from confluent_kafka import Consumer, TopicPartition

    sys.path.insert(0, str(ROOT))
    from tests.servers.gms import GmsProcess
    from tests.servers.kafka_broker import free_port, kafka_broker

    topic = f"openlineage_{uuid.uuid4().hex[:6]}"
    messages = _messages(events)
    best: dict[tuple[str, int], dict] = {}
    with kafka_broker(topics=[topic], partitions=PARTITIONS) as broker, GmsProcess(store=False) as gms, \
            tempfile.TemporaryDirectory(prefix="bench-consume-") as tmp, requests.Session() as session:
        ends = _fill(broker.bootstrap, topic, messages)
        del messages
        others = {name: next(c for c in psutil.Process().children() if marker in " ".join(c.cmdline()))
                  for name, marker in (("broker", "tansu"), ("gms", "tests.servers.gms"))}
        settings = [arg for item in GROUP_TIMING.items() for arg in ("--consumer-config", "=".join(item))]
        destination = ["--emitter", "rest", "--gms-server", gms.url] if emitter == "rest" else ["--emitter", "file"]

        def raw_case(count: int, group: str, lag: Callable[[], int]) -> Case:
            def start() -> list[subprocess.Popen[bytes]]:
                with open(Path(tmp) / f"{group}.log", "ab") as log:
                    return [subprocess.Popen([sys.executable, __file__, "--raw-consumer", broker.bootstrap, topic,
                                              group], stdout=log, stderr=subprocess.STDOUT) for _ in range(count)]

            def progress() -> tuple[int, bool]:
                left = lag()
                return events - left, left == 0

            return start, progress, {}

        def bridge_case(path: str, count: int, group: str, lag: Callable[[], int]) -> Case:
            prefix, env, cwd = _bridge_command(path)
            ports = [free_port() for _ in range(count)]
            seen: dict[str, int] = {}

            def start() -> list[subprocess.Popen[bytes]]:
                processes = []
                for port in ports:
                    state = Path(tmp) / group / f"w{port}"
                    state.mkdir(parents=True)
                    with open(state.with_suffix(".log"), "ab") as log:
                        processes.append(subprocess.Popen(
                            [*prefix, "consume", "--topic", topic, "--kafka-bootstrap", broker.bootstrap, "--group",
                             group, "--state-dir", str(state), "--metrics-port", str(port), *settings, *destination],
                            env={**os.environ, **env}, cwd=cwd or tmp, stdout=log, stderr=subprocess.STDOUT))
                return processes

            def progress() -> tuple[int, bool]:
                seen.update(_metrics(session, [f"http://127.0.0.1:{port}" for port in ports]))
                return seen["delivered"], seen["delivered"] >= events and lag() == 0

            return start, progress, seen

        wanted = [TopicPartition(topic, p) for p in sorted(ends)]
        for round_ in range(rounds):
            cases = [("raw", "", count) for count in workers]
            cases += [(label, path, count) for label, path in bridges for count in workers]
            for label, path, count in cases:
                group = f"{label}-{count}-{round_}"
                probe = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
                lag = functools.partial(_uncommitted, probe, wanted, ends)
                case = bridge_case(path, count, group, lag) if path else raw_case(count, group, lag)
                try:
                    result = _measure(case, others, timeout)
                finally:
                    probe.close()
                if result["seconds"] < best.get((label, count), {"seconds": float("inf")})["seconds"]:
                    best[label, count] = {"case": label, "workers": count, "events": events, **result, **case[2]}
    return list(best.values())


# -- the report ---------------------------------------------------------------------------------


def _rate(row: dict) -> float:
    return row["events"] / row["seconds"]


def _steady(row: dict) -> dict[str, float] | None:
    """Events/s and cores used after the first event, or None when that phase was too short to tell."""
    span = row["seconds"] - row["first"]
    if span < 0.5:
        return None
    return {"rate": (row["events"] - row["count_first"]) / span,
            **{name: row[f"steady_{name}"] / span for name in ("workers", "busiest", "gms", "broker", "host")}}


def _report(by: dict, bridges: tuple[tuple[str, str], ...], workers: tuple[int, ...]) -> None:
    cores = os.cpu_count() or 1
    print(f"{'case':<10} {'procs':>5} {'seconds':>7} {'first':>5} {'events/s':>8} {'/raw1':>5} {'/rawN':>5} "
          f"{'scale':>5} {'MCPs':>7} {'CPU ms/ev':>9} | after 1st: {'events/s':>8} {'workers':>7} {'gms':>4} "
          f"{'broker':>6} {'host':>4} (cores)")
    for (case, count), r in by.items():
        rate, steady = _rate(r), _steady(r)
        after = (f"{steady['rate']:>8.0f} {steady['workers']:>7.2f} {steady['gms']:>4.2f} {steady['broker']:>6.2f} "
                 f"{steady['host']:>4.2f}" if steady else f"{'-':>8} (done within half a second)")
        print(f"{case:<10} {count:>5} {r['seconds']:>7.2f} {r['first']:>5.1f} {rate:>8.0f} "
              f"{rate / _rate(by['raw', workers[0]]):>5.2f} {rate / _rate(by['raw', count]):>5.2f} "
              f"{rate / _rate(by[case, workers[0]]):>5.2f} {r.get('mcps', '-'):>7} "
              f"{1000 * r['cpu_workers'] / r['events']:>9.2f} |            {after}")
    reference = bridges[0][0]
    for label, _path in bridges[1:]:
        print(f"{label} / {reference} (events/s): " + ", ".join(
            f"{count} proc(s) {_rate(by[label, count]) / _rate(by[reference, count]):.2f}x" for count in workers))
    print(f"first = seconds until the first event was delivered/committed (process start, imports, group join; "
          f"tansu holds a join for session.timeout.ms = 6 s); /raw1, /rawN = events/s over 1 raw consumer's and "
          f"over as many raw consumers'; scale = over {workers[0]} process(es) of the same case; CPU ms/ev = CPU "
          f"of the worker processes (and children) per event, startup included; after 1st: events/s and cores "
          f"(CPU seconds / wall seconds) once the first event is through; host = all busy cores, other jobs too")
    for label, _path in bridges:
        for count in workers:
            r, steady = by[label, count], _steady(by[label, count])
            startup = f"startup (imports, group join) {r['first']:.1f}s of {r['seconds']:.1f}s"
            if steady is None:
                print(f"note: {label}, {count} worker(s): {startup}; the rest took under half a second")
                continue
            if steady["host"] > 0.8 * cores:
                limit = "the host's cores are (nearly) full: more workers only share them"
            elif steady["busiest"] > 0.85:
                limit = ("one worker process is at a full core: polling, decoding, spooling, translating and "
                         "sending share one interpreter (GIL), so only more processes (and cores) go faster")
            else:
                limit = "not CPU-bound: the workers wait (fsync per batch, rebalances, GMS round trips)"
            print(f"note: {label}, {count} worker(s): {startup}; then workers {steady['workers']:.2f} cores "
                  f"(busiest process {steady['busiest']:.2f}) + GMS {steady['gms']:.2f} + broker "
                  f"{steady['broker']:.2f} (host {steady['host']:.2f} of {cores}) -> {limit}")


def _parse_bridge(value: str) -> tuple[str, str]:
    label, sep, path = value.partition("=")
    return (label, path) if sep else (Path(value).name, value)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="OpenLineage events on the topic")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (cases interleaved; best round shown)")
    parser.add_argument("--emitter", choices=("rest", "file"), default="rest",
                        help="rest: to a GMS test server process; file: a DataHub file per worker")
    parser.add_argument("--bridge", action="append", type=_parse_bridge, metavar="[LABEL=]PATH",
                        help="a bridge to measure (repeatable; side by side, the first is the reference): a source "
                             "tree or a bridge executable. Default: this tree, as 'current'")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per case")
    args = parser.parse_args(argv)
    workers = tuple(int(w) for w in args.workers.split(","))
    bridges = tuple(args.bridge or [("current", str(ROOT))])
    rows = run(args.events, workers, args.rounds, args.emitter, bridges, args.timeout)
    print(f"bridge consume: {args.events} OpenLineage events on {PARTITIONS} partitions, emitter {args.emitter}, "
          f"best of {args.rounds} round(s); clock from process start until every event is delivered (bridge) / "
          f"committed (raw)")
    _report({(r["case"], r["workers"]): r for r in rows}, bridges, workers)
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["--raw-consumer"]:
        _raw_consumer_main(*sys.argv[2:5])
    else:
        main(sys.argv[1:])
