"""A real Schema Registry test server speaking Confluent's REST API, on loopback.

It is an HTTP server in a background thread that implements the part of the
Confluent Schema Registry API producers and serializers use, with the same
status codes and ``{"error_code": ..., "message": ...}`` bodies:

=====================================  ==========================================
``POST /subjects/{s}/versions``        register (idempotent) -> ``{"id": n}``
``POST /subjects/{s}``                 look up -> ``{"subject","id","version","schema"}``
``GET  /schemas/ids/{id}``             schema by global id
``GET  /subjects``                     subject names
``GET  /subjects/{s}/versions``        version numbers
``GET  /subjects/{s}/versions/{v}``    one version (``latest`` too)
``DELETE /subjects/{s}``               drop a subject
``GET/PUT /config[/{s}]``              compatibility level (BACKWARD default, NONE)
``GET/PUT /mode``                      ``READWRITE`` / ``READONLY``
=====================================  ==========================================

Errors: 40401 subject not found, 40402 version not found, 40403 schema not
found (all 404), 42201 invalid schema (422), 409 incompatible schema, 42205
operation not permitted in read-only mode (422), and -- when
``deny_writes=True``, like an RBAC-restricted Confluent Cloud key -- 403 with
40301 on every write.

Schemas are validated and fingerprinted with fastavro (canonical form), so the
same schema text in different whitespace gets the same id, as in the real one.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["SchemaRegistryServer", "schema_registry"]

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class _HTTPError(Exception):
    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def _canonical(schema_str: str) -> str:
    """Parse an Avro schema and return its canonical form, or raise 42201."""
    import fastavro
    from fastavro.schema import to_parsing_canonical_form

    try:
        parsed = fastavro.parse_schema(json.loads(schema_str), _write_hint=False)
        return to_parsing_canonical_form(parsed)
    except Exception as exc:  # noqa: BLE001 - any parse failure is an invalid schema
        raise _HTTPError(422, 42201, f"Invalid schema: {exc}") from exc


def _field_map(schema: Any) -> dict[str, Any] | None:
    if isinstance(schema, dict) and schema.get("type") == "record":
        return {f["name"]: f for f in schema.get("fields", [])}
    return None


def _backward_compatible(new: str, old: str) -> list[str]:
    """Can a reader with ``new`` read data written with ``old``? Returns the problems.

    Checks top-level record fields: a field only in the new schema needs a
    default; a field in both must have the same (canonical) type. That covers
    what producers do in practice (adding optional fields) without the full
    Avro resolution rules.
    """
    new_obj, old_obj = json.loads(new), json.loads(old)
    new_fields, old_fields = _field_map(new_obj), _field_map(old_obj)
    if new_fields is None or old_fields is None:
        return [] if new == old else ["schema types differ"]
    problems = []
    for name, field in new_fields.items():
        if name not in old_fields:
            if "default" not in field:
                problems.append(f"READER_FIELD_MISSING_DEFAULT_VALUE: {name}")
        elif json.dumps(field["type"], sort_keys=True) != json.dumps(
            old_fields[name]["type"], sort_keys=True
        ):
            problems.append(f"TYPE_MISMATCH: {name}")
    return problems


class _Registry:
    """The registry's state; every method runs under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.schemas: dict[int, str] = {}  # id -> schema string as first registered
        self.ids_by_canonical: dict[str, int] = {}
        self.subjects: dict[str, list[int]] = {}  # subject -> schema ids by version (1-based)
        self.compatibility: dict[str | None, str] = {None: "BACKWARD"}
        self.mode = "READWRITE"
        self.deny_writes = False

    def _check_write(self, subject: str) -> None:
        if self.deny_writes:
            raise _HTTPError(403, 40301, f"User is denied operation Write on Subject: {subject}")
        if self.mode == "READONLY":
            raise _HTTPError(422, 42205, f"Subject {subject} is in read-only mode")

    def _subject(self, subject: str) -> list[int]:
        versions = self.subjects.get(subject)
        if not versions:
            raise _HTTPError(404, 40401, f"Subject '{subject}' not found.")
        return versions

    def register(self, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        schema_str = self._schema_of(body)
        canonical = _canonical(schema_str)
        with self.lock:
            # Like the real registry, the mode is checked before anything else:
            # a read-only registry refuses registration even of a known schema.
            self._check_write(subject)
            schema_id = self.ids_by_canonical.get(canonical)
            versions = self.subjects.get(subject, [])
            if schema_id is not None and schema_id in versions:
                return {"id": schema_id}
            level = self.compatibility.get(subject, self.compatibility[None])
            if versions and level != "NONE":
                problems = _backward_compatible(schema_str, self.schemas[versions[-1]])
                if problems:
                    raise _HTTPError(
                        409,
                        409,
                        f'Schema being registered is incompatible with an earlier schema for subject "{subject}", '
                        f"details: {problems}",
                    )
            if schema_id is None:
                schema_id = len(self.schemas) + 1
                self.schemas[schema_id] = schema_str
                self.ids_by_canonical[canonical] = schema_id
            self.subjects.setdefault(subject, []).append(schema_id)
            return {"id": schema_id}

    def lookup(self, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        canonical = _canonical(self._schema_of(body))
        with self.lock:
            versions = self._subject(subject)
            schema_id = self.ids_by_canonical.get(canonical)
            if schema_id is None or schema_id not in versions:
                raise _HTTPError(404, 40403, "Schema not found")
            version = versions.index(schema_id) + 1
            return {
                "subject": subject,
                "id": schema_id,
                "version": version,
                "schema": self.schemas[schema_id],
            }

    def by_id(self, schema_id: int) -> dict[str, Any]:
        with self.lock:
            if schema_id not in self.schemas:
                raise _HTTPError(404, 40403, f"Schema {schema_id} not found")
            return {"schema": self.schemas[schema_id]}

    def version(self, subject: str, version: str) -> dict[str, Any]:
        with self.lock:
            versions = self._subject(subject)
            if version == "latest" or version == "-1":
                number = len(versions)
            elif version.isdigit() and 1 <= int(version) <= len(versions):
                number = int(version)
            else:
                raise _HTTPError(404, 40402, f"Version {version} not found.")
            schema_id = versions[number - 1]
            return {"subject": subject, "version": number, "id": schema_id, "schema": self.schemas[schema_id]}

    def delete_subject(self, subject: str) -> list[int]:
        with self.lock:
            self._check_write(subject)
            versions = self._subject(subject)
            del self.subjects[subject]
            return list(range(1, len(versions) + 1))

    @staticmethod
    def _schema_of(body: dict[str, Any]) -> str:
        if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
            raise _HTTPError(422, 42201, "Invalid schema: request body has no 'schema' string")
        if body.get("schemaType", "AVRO") != "AVRO":
            raise _HTTPError(422, 42201, f"Invalid schema: unsupported schemaType {body['schemaType']!r}")
        return body["schema"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # keep test output clean; requests are recorded in server.requests

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise _HTTPError(400, 400, f"Unrecognized JSON: {exc}") from exc

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        self.server.requests.append((method, path))
        reg = self.server.registry
        try:
            body = self._body() if method in ("POST", "PUT") else None
            if method == "GET" and path == "/subjects":
                with reg.lock:
                    self._send(200, sorted(s for s, v in reg.subjects.items() if v))
                return
            if method in ("GET", "PUT") and (m := re.fullmatch(r"/config(?:/([^/]+))?", path)):
                subject = unquote(m.group(1)) if m.group(1) else None
                if method == "PUT":
                    level = str((body or {}).get("compatibility", "")).upper()
                    if level not in ("NONE", "BACKWARD"):
                        raise _HTTPError(422, 42203, f"Invalid compatibility level {level!r}")
                    with reg.lock:
                        reg.compatibility[subject] = level
                    self._send(200, {"compatibility": level})
                else:
                    with reg.lock:
                        level = reg.compatibility.get(subject, reg.compatibility[None])
                    self._send(200, {"compatibilityLevel": level})
                return
            if method in ("GET", "PUT") and path == "/mode":
                if method == "PUT":
                    mode = str((body or {}).get("mode", "")).upper()
                    if mode not in ("READWRITE", "READONLY"):
                        raise _HTTPError(422, 42204, f"Invalid mode {mode!r}")
                    reg.mode = mode
                self._send(200, {"mode": reg.mode})
                return
            if method == "GET" and (m := re.fullmatch(r"/schemas/ids/(\d+)", path)):
                self._send(200, reg.by_id(int(m.group(1))))
                return
            if m := re.fullmatch(r"/subjects/([^/]+)/versions", path):
                subject = unquote(m.group(1))
                if method == "POST":
                    self._send(200, reg.register(subject, body))
                    return
                if method == "GET":
                    with reg.lock:
                        self._send(200, list(range(1, len(reg._subject(subject)) + 1)))
                    return
            if method == "GET" and (m := re.fullmatch(r"/subjects/([^/]+)/versions/([^/]+)", path)):
                self._send(200, reg.version(unquote(m.group(1)), m.group(2)))
                return
            if m := re.fullmatch(r"/subjects/([^/]+)", path):
                subject = unquote(m.group(1))
                if method == "POST":
                    self._send(200, reg.lookup(subject, body))
                    return
                if method == "DELETE":
                    self._send(200, reg.delete_subject(subject))
                    return
            raise _HTTPError(404, 404, "HTTP 404 Not Found")
        except _HTTPError as err:
            self._send(err.status, {"error_code": err.error_code, "message": err.message})

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], registry: _Registry) -> None:
        super().__init__(address, _Handler)
        self.registry = registry
        self.requests: list[tuple[str, str]] = []
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    def track(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.add(conn)

    def close_connections(self) -> None:
        # Keep-alive connections would otherwise keep answering after stop().
        with self._conn_lock:
            conns, self._connections = self._connections, set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()


class SchemaRegistryServer:
    """The registry server; state survives :meth:`stop`/:meth:`start` (like a restart with a durable store).

    Args:
        port: port on 127.0.0.1 (0 picks a free one; after the first start the
            same port is reused on restart).

    Attributes:
        requests: ``(method, path)`` of every request served, in order.
    """

    def __init__(self, *, port: int = 0) -> None:
        self.port = port
        self.registry = _Registry()
        self.requests: list[tuple[str, str]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SchemaRegistryServer:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", self.port), self.registry)
        server.requests = self.requests
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="schema-registry", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(5)

    @property
    def read_only(self) -> bool:
        return self.registry.mode == "READONLY"

    @read_only.setter
    def read_only(self, value: bool) -> None:
        self.registry.mode = "READONLY" if value else "READWRITE"

    @property
    def deny_writes(self) -> bool:
        return self.registry.deny_writes

    @deny_writes.setter
    def deny_writes(self, value: bool) -> None:
        self.registry.deny_writes = value

    def register(self, subject: str, schema_str: str) -> int:
        """Register directly (test setup), bypassing mode checks. Returns the id."""
        mode, deny = self.registry.mode, self.registry.deny_writes
        self.registry.mode, self.registry.deny_writes = "READWRITE", False
        try:
            return int(self.registry.register(subject, {"schema": schema_str})["id"])
        finally:
            self.registry.mode, self.registry.deny_writes = mode, deny

    def __enter__(self) -> SchemaRegistryServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def schema_registry(*, port: int = 0) -> Iterator[SchemaRegistryServer]:
    """Run a :class:`SchemaRegistryServer` for the duration of the ``with`` block."""
    server = SchemaRegistryServer(port=port).start()
    try:
        yield server
    finally:
        server.stop()
