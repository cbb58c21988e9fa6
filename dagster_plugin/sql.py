"""SQL in asset metadata -> the tables it reads and writes (pure; sqlglot, from the ``sql`` extra).

As DataHub's plugin does with ``enable_asset_query_metadata_parsing``: an asset whose
metadata carries its SQL (the ``Query`` key by default) gets the tables the SQL reads as
upstreams, and the tables an ``INSERT``/``CREATE ... AS``/``MERGE``/``UPDATE`` writes as
outputs of its step. The dialect is the asset's platform (its kind, storage kind, table or
the plugin's ``table_platform``). A query sqlglot cannot parse adds no lineage (logged at
DEBUG); it never fails the run's report.

Table names are taken as written (``db.schema.table``), lower-cased except on BigQuery,
as DataHub's own SQL parser names tables on case-insensitive platforms.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import attrs

from bridge.errors import MissingDependencyError

__all__ = ["SqlTables", "parse_tables", "sqlglot_available"]

logger = logging.getLogger("dagster_plugin")

# DataHub platform -> sqlglot dialect, where the names differ
_DIALECTS = {"mssql": "tsql", "mariadb": "mysql", "postgresql": "postgres", "awsathena": "athena"}
_KNOWN = {
    "athena", "bigquery", "clickhouse", "databricks", "duckdb", "hive", "mysql", "oracle", "postgres",
    "redshift", "snowflake", "spark", "sqlite", "teradata", "trino", "presto", "tsql",
}  # fmt: skip
_WRITES = ("Insert", "Create", "Merge", "Update", "Delete", "Copy")


@attrs.frozen
class SqlTables:
    """What one query reads and writes: table names as written (``db.schema.table``)."""

    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()


@functools.cache
def sqlglot_available() -> bool:
    try:
        import sqlglot  # noqa: F401
    except ImportError:
        return False
    return True


def _require() -> Any:
    try:
        import sqlglot
    except ImportError as exc:
        raise MissingDependencyError("sqlglot", "sql") from exc
    return sqlglot


def dialect_of(platform: str | None) -> str | None:
    """The sqlglot dialect of a DataHub platform (None: sqlglot's generic SQL)."""
    if not platform:
        return None
    name = _DIALECTS.get(platform.lower(), platform.lower())
    return name if name in _KNOWN else None


def _name(table: Any, lower: bool) -> str:
    parts = [p for p in (table.catalog, table.db, table.name) if p]
    text = ".".join(parts)
    return text.lower() if lower else text


def parse_tables(sql: str, platform: str | None) -> SqlTables:
    """The tables ``sql`` reads and writes, in the dialect of ``platform``.

    Raises:
        MissingDependencyError: sqlglot is not installed.
    """
    sqlglot = _require()
    from sqlglot import exp

    dialect = dialect_of(platform)
    lower = (platform or "").lower() != "bigquery"
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        logger.debug("cannot parse the asset's SQL (%s): %s", dialect or "generic", exc)
        return SqlTables()
    inputs: dict[str, None] = {}
    outputs: dict[str, None] = {}
    for statement in statements:
        ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
        target = None
        if type(statement).__name__ in _WRITES:
            node = statement.this
            target = node if isinstance(node, exp.Table) else node.find(exp.Table) if node is not None else None
            if target is not None and target.name:
                outputs[_name(target, lower)] = None
        for table in statement.find_all(exp.Table):
            if table is target or not table.name or (not table.db and table.name.lower() in ctes):
                continue
            inputs[_name(table, lower)] = None
    return SqlTables(inputs=tuple(t for t in inputs if t not in outputs), outputs=tuple(outputs))
