"""The one delivery core: the MCPs of some events -> what the destination lacks -> emitter -> memory.

Every path goes through :class:`DeliveryCore`: the Python API and ``bridge send``
(:class:`~bridge.pipeline.Pipeline`, one round per call, delivered in the
background), ``bridge serve``/``consume`` (the spool's workers, one round per
batch, flushed and settled) and the Dagster sensor (through the Python API).

A round:

1. **Coalesce** by (entity, aspect). Patches of the same aspect become one patch
   (a later operation on the same path wins). Of whole values only the newest is
   sent, so an older value can never land after a newer one; run aspects the
   translator merges (``translator.is_merged``) are first merged with the value
   the destination already holds from the run's earlier events. Timeseries
   points are all sent, identical ones once.
2. **Skip** what the destination already confirmed: a whole value with the same
   digest, a patch whose every operation it holds (or that is on its way there).
3. **Emit**; on the emitter's confirmation remember each value or operation for
   this destination, with the time it was seen (see :mod:`bridge.lineage`).

Optional stale-edge expiry (``lineage_ttl_days``): lineage edges this destination
holds from the bridge and no event carried for that long are removed with PATCH
``remove`` operations. While it is on, an edge still being seen is also re-sent
every ``lineage_ttl_days / 2`` even when unchanged, so another bridge process that
expired it (its events moved elsewhere) cannot make it vanish for good.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from bridge.errors import DeliveryError
from bridge.lineage import TIMESERIES_PATH, DestinationMemory, Entry, LineageMemory
from bridge.mcp import MetadataChangeProposalWrapper
from bridge.rounds import Round, Write, digest
from bridge.run_names import name_runs

__all__ = ["DeliveryCore"]

MCPW = MetadataChangeProposalWrapper
Callback = Callable[[BaseException | None, str], None]

_SEEN_EVERY = 3600.0  # with expiry on: at most this often is a still-seen edge's time written


class DeliveryCore:
    """Delivers MCPs to one emitter, remembering per destination what landed.

    Args:
        emitter: where MCPs go (its :meth:`~emitters.base.Emitter.destination` keys the memory).
        translator: turns events into MCPs; optional hooks ``is_merged(mcp)``/``merge(mcp, before)``
            (run aspects merged over a run's events; with ``merged_from(mcp) -> aspect name`` a
            timeseries point is merged with that aspect's value, e.g. a run's end with its start),
            ``is_timeseries(aspect)`` (points, all sent), ``is_edge(aspect, path)`` (expiry), and
            ``run_alias``/``run_references``/``resolve_run_aliases`` (runs known by two names, see
            :mod:`bridge.run_names`).
        memory: the lineage memory; an in-process one by default.
        skip_unchanged: don't send what the destination already confirmed.
        lineage_ttl_days: remove lineage edges not seen for this long (0 = never).
        run_memory_days: forget runs and timeseries points this long after they were last seen
            (a run's later events are then sent as if they were its first); 0 = keep.
        clock: epoch seconds (tests pass their own).
    """

    def __init__(
        self,
        emitter: Any,
        translator: Any,
        memory: LineageMemory | None = None,
        *,
        skip_unchanged: bool = True,
        lineage_ttl_days: float = 0.0,
        run_memory_days: float = 7.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.emitter = emitter
        self.translator = translator
        self.lineage = memory if memory is not None else LineageMemory()
        where = emitter.destination()
        self.memory: DestinationMemory = self.lineage.destination(where.key, fresh=where.fresh)
        self.skip_unchanged = skip_unchanged
        self.ttl = max(0.0, float(lineage_ttl_days)) * 86_400
        self.keep_runs = max(0.0, float(run_memory_days)) * 86_400
        self._forgot_at = 0.0
        self.clock = clock
        self._is_timeseries = getattr(translator, "is_timeseries", None)
        self._is_merged = getattr(translator, "is_merged", None)
        self._merge = getattr(translator, "merge", None)
        self._merged_from = getattr(translator, "merged_from", None)
        self._is_edge = getattr(translator, "is_edge", None)
        # (urn, aspect, path) -> (digest, write) handed to the emitter and not yet confirmed; a merged
        # run aspect's value on its way is in _values_in_flight for the next merge.
        self._in_flight: dict[tuple[str, str, str], tuple[str, Write]] = {}
        self._values_in_flight: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._expired_at = 0.0

    def is_merged(self, mcp: MCPW) -> bool:
        return self._is_merged is not None and self._merge is not None and bool(self._is_merged(mcp))

    def is_timeseries(self, aspect_name: str) -> bool:
        """Timeseries aspects are points: every distinct one is sent (``translator.is_timeseries``; none without)."""
        return self._is_timeseries is not None and bool(self._is_timeseries(aspect_name))

    # -- plan ----------------------------------------------------------------------------

    def plan(self, batch: Iterable[tuple[Hashable, list[MCPW]]]) -> Round:
        """Coalesce the MCPs of several events and decide what the destination still needs."""
        batch = name_runs(list(batch), self.translator, self.lineage.run_names, self.clock(),
                          refresh_every=_SEEN_EVERY)  # fmt: skip
        self.memory.load({m.entity_urn for _, mcps in batch for m in mcps})
        writes: dict[tuple[Any, ...], Write] = {}
        merged_values: dict[tuple[str, str], Any] = {}
        combined: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}  # patches of several events: path -> op
        for event_id, mcps in batch:
            for mcp in mcps:
                slot = (mcp.entity_urn, mcp.aspect_name)
                if mcp.is_patch:
                    value = mcp.aspect_value
                    keys = repr(sorted((value.get("arrayPrimaryKeys") or {}).items())) if isinstance(value, dict) else ""
                    key: tuple[Any, ...] = (*slot, "PATCH", keys)
                    write = writes.get(key)
                    if write is not None:  # one patch per aspect: a later operation on a path wins
                        ops = combined.get(key)
                        if ops is None:
                            ops = combined[key] = {op["path"]: op for op in write.mcp.patch_ops}
                        for op in mcp.patch_ops:
                            ops.pop(op["path"], None)
                            ops[op["path"]] = op
                        if event_id not in write.ids:
                            write.ids.append(event_id)
                        continue
                elif self.is_timeseries(mcp.aspect_name):
                    if self._merged_from is not None and self.is_merged(mcp):
                        # a point completed from another aspect of the entity (a run's end from its start)
                        base = (mcp.entity_urn, self._merged_from(mcp))
                        before = merged_values.get(base)
                        mcp = self._merge(mcp, before if before is not None else self._value_held(*base))  # type: ignore[misc]
                    key = (*slot, mcp.change_type, digest(mcp.aspect_json))
                else:
                    key = (*slot, mcp.change_type)
                    if self.is_merged(mcp):
                        before = merged_values.get(slot)
                        if before is None:
                            before = self._value_held(*slot)
                        mcp = self._merge(mcp, before)  # type: ignore[misc]
                        merged_values[slot] = mcp.aspect_value
                write = writes.get(key)
                if write is None:
                    writes[key] = Write(mcp=mcp, ids=[event_id], slots=[], merged=slot in merged_values)
                else:
                    write.mcp = mcp  # the newer value (or the combined patch) replaces the older
                    if event_id not in write.ids:
                        write.ids.append(event_id)
        for key, ops in combined.items():
            writes[key].mcp = writes[key].mcp.with_patch_ops(list(ops.values()))
        now = self.clock()
        for write in writes.values():
            mcp = write.mcp
            if mcp.is_patch:
                write.slots = self._patch_slots(mcp)
            elif self.is_timeseries(mcp.aspect_name):
                # the last point sent: a repeated identical one (a duplicate event) is not sent again
                write.slots = [(TIMESERIES_PATH, digest(mcp.aspect_json))]
            else:
                write.slots = [("", digest(mcp.aspect_json))]
            write.held = self.memory.get_many(mcp.entity_urn, mcp.aspect_name, [path for path, _ in write.slots])
            write.skipped = self.skip_unchanged and self._held(write, now)
        return Round(writes=list(writes.values()), ids=[i for i, _ in batch])

    def _patch_slots(self, mcp: MCPW) -> list[tuple[str, str]]:
        """A patch's slots: one per lineage edge (each edge is remembered, and expires, on its own), and
        one (path ``""``) for all its other operations together (a description, properties, tags...)."""
        aspect, is_edge = mcp.aspect_name, self._is_edge
        slots, others = [], []
        value = mcp.aspect_value
        for op in value["patch"] if isinstance(value, dict) else value:
            if is_edge is not None and is_edge(aspect, op["path"]):
                slots.append((op["path"], digest(_op_text(op))))
            else:
                others.append(op)
        if others:
            slots.append(("", digest(_op_text(others))))
        return slots

    def _value_held(self, urn: str, aspect: str) -> Any:
        with self._lock:
            value = self._values_in_flight.get((urn, aspect))
        if value is not None:
            return value
        entry = self.memory.get(urn, aspect, "")
        if entry is None or entry.value is None:
            return None
        return json.loads(entry.value)

    def _held(self, write: Write, now: float) -> bool:
        """Whether the destination holds (or another write is bringing it) every slot of ``write``.

        Refreshes when each edge (with expiry on) and each run's merged value was last seen.
        """
        mcp = write.mcp
        urn, aspect = mcp.entity_urn, mcp.aspect_name
        seen: list[tuple[str, Entry]] = []
        flying: dict[str, Write] = {}  # slots another write is bringing with this very value
        with self._lock:
            for path, value_digest in write.slots:
                other = self._in_flight.get((urn, aspect, path))
                if other is not None:
                    if other[0] != value_digest:
                        # another value is on its way and will land after what the memory says the
                        # destination holds: this one must follow it, or the older value would stay
                        # (and be remembered when it lands: the memory will say the other value by then)
                        write.held = [None] * len(write.slots)
                        return False
                    flying[path] = other[1]
        for (path, value_digest), entry in zip(write.slots, write.held, strict=True):
            if path in flying:
                continue
            if entry is None or entry.digest != value_digest:
                return False
            if self.ttl and entry.edge:
                if now - entry.sent > self.ttl / 2:
                    return False  # refresh: another process may have expired it
                if now - entry.seen > min(_SEEN_EVERY, self.ttl / 24):
                    seen.append((path, entry))
            elif entry.value is not None and now - entry.seen > _SEEN_EVERY:
                seen.append((path, entry))  # a long run stays remembered while its events come
        if seen:
            self.memory.put_many(urn, aspect, [(path, entry._replace(seen=now)) for path, entry in seen])
        write.depends = list({id(w): w for w in flying.values()}.values())
        return True

    # -- send ----------------------------------------------------------------------------

    def send(self, round_: Round, callback: Callback | None = None) -> list[BaseException]:
        """Hand the round's writes to the emitter; each is remembered once the emitter confirms it.

        Returns:
            The errors ``emit`` raised (a synchronous emitter's failures); each is also recorded on
            its write (``write.error``) and given to ``callback``. The rest of the round is still sent.
        """
        raised: list[BaseException] = []
        for write in round_.writes:
            if write.skipped:
                write.settled = True
                continue
            self._mark_in_flight(write)
            try:
                self.emitter.emit(write.mcp, callback=self._on_delivery(write, callback))
            except Exception as exc:  # noqa: BLE001 - this write failed; the caller decides what that means
                raised.append(exc)
                self._on_delivery(write, callback)(exc, str(exc))
        return raised

    def settle_unconfirmed(self, round_: Round) -> None:
        """After a flush: any write the emitter never confirmed counts as failed (it is sent again)."""
        for write in round_.writes:
            if not write.settled:
                self._on_delivery(write, None)(
                    DeliveryError("the emitter did not confirm the proposal", urn=write.mcp.entity_urn,
                                  aspect=write.mcp.aspect_name), "unconfirmed")  # fmt: skip

    def _mark_in_flight(self, write: Write) -> None:
        urn, aspect = write.mcp.entity_urn, write.mcp.aspect_name
        with self._lock:
            for path, value_digest in write.slots:
                self._in_flight[(urn, aspect, path)] = (value_digest, write)
            if write.merged:
                self._values_in_flight[(urn, aspect)] = write.mcp.aspect_value

    def _on_delivery(self, write: Write, user: Callback | None) -> Callback:
        def done(error: BaseException | None, message: str) -> None:
            mcp = write.mcp
            urn, aspect = mcp.entity_urn, mcp.aspect_name
            with self._lock:
                if write.settled:  # a callback runs once, whoever calls it first
                    return
                write.settled, write.error = True, error
                for path, _ in write.slots:
                    if self._in_flight.get((urn, aspect, path), (None, None))[1] is write:
                        del self._in_flight[(urn, aspect, path)]
                if write.merged and self._values_in_flight.get((urn, aspect)) is mcp.aspect_value:
                    del self._values_in_flight[(urn, aspect)]
            if error is None:
                self._remember(write)
            if user is not None:
                user(error, message)

        return done

    def _remember(self, write: Write) -> None:
        mcp, now = write.mcp, self.clock()
        urn, aspect = mcp.entity_urn, mcp.aspect_name
        slots = write.slots
        if not self.ttl:  # times matter only to expiry: what the destination already held stays as it is
            slots = [s for s, e in zip(slots, write.held, strict=True) if e is None or e.digest != s[1]]
            if not slots:
                return
        value = mcp.aspect_json if write.merged else None
        # in a patch's slots, every path but "" is a lineage edge (see _patch_slots)
        self.memory.put_many(urn, aspect, [
            (path, Entry(value_digest, mcp.is_patch and path != "", now, now, value))
            for path, value_digest in slots])  # fmt: skip

    def commit(self) -> None:
        """Write what was remembered to the memory's file."""
        self.memory.commit()

    # -- housekeeping ------------------------------------------------------------------------

    def housekeeping(self) -> tuple[int, int]:
        """Now and then: forget old runs and points, expire stale edges. Returns (rows forgotten, edges expired).

        Cheap when nothing is due; call it after rounds (one caller per core).
        """
        forgotten = 0
        now = self.clock()
        if self.keep_runs and now - self._forgot_at >= min(_SEEN_EVERY, self.keep_runs / 2):
            self._forgot_at = now
            forgotten = self.lineage.forget_old(now - self.keep_runs)
        return forgotten, self.expire()

    def expire(self, *, force: bool = False) -> int:
        """Remove lineage edges not seen for ``lineage_ttl_days`` (at most hourly unless ``force``).

        Returns how many removals were handed to the emitter; each is forgotten once confirmed.
        """
        now = self.clock()
        if not self.ttl or (not force and now - self._expired_at < min(_SEEN_EVERY, self.ttl / 24)):
            return 0
        self._expired_at = now
        stale = self.memory.stale_edges(now - self.ttl)
        by_aspect: dict[tuple[str, str], list[str]] = {}
        for urn, aspect, path in stale:
            by_aspect.setdefault((urn, aspect), []).append(path)
        for (urn, aspect), paths in by_aspect.items():
            ops = [{"op": "remove", "path": p, "value": {}} for p in paths]
            mcp = MCPW(entity_urn=urn, aspect_name=aspect, change_type="PATCH", aspect=ops)
            # Forgotten before the removal is sent: an event carrying the edge meanwhile adds it again,
            # after the removal (the emitter keeps order). A removal that fails is remembered again.
            entries = dict(zip(paths, self.memory.get_many(urn, aspect, paths), strict=True))
            for path in paths:
                self.memory.drop(urn, aspect, path)

            def removed(error: BaseException | None, message: str, urn: str = urn, aspect: str = aspect,
                        entries: dict[str, Entry | None] = entries) -> None:  # fmt: skip
                if error is not None:
                    self.memory.put_many(urn, aspect, [(p, e) for p, e in entries.items()
                                                       if e is not None and self.memory.get(urn, aspect, p) is None])

            try:
                self.emitter.emit(mcp, callback=removed)
            except Exception as exc:  # noqa: BLE001 - tried again at the next expiry pass
                removed(exc, str(exc))
        return len(stale)


try:  # optional (kafka/serve extras): ~10x faster than json.dumps for the per-operation digests
    from orjson import dumps as _orjson_dumps

    def _op_text(op: Any) -> str:
        try:
            return _orjson_dumps(op).decode("utf-8")
        except TypeError:  # what orjson refuses (huge ints, odd keys) the json module writes
            return json.dumps(op, separators=(",", ":"), ensure_ascii=False)
except ImportError:  # pragma: no cover - exercised only without the extras

    def _op_text(op: Any) -> str:
        return json.dumps(op, separators=(",", ":"), ensure_ascii=False)
