"""Values never written anywhere: those of keys that look like secrets (``[translator] secret_keys``).

Producers put credentials where the bridge may keep them: Spark properties
(``spark.hadoop.fs.s3a.secret.key``), environment variables, raw facets (a Debezium config's
``database.password``). Wherever the bridge keeps such values -- custom properties in DataHub
(``capture_raw_facets``, ``env.<NAME>``, Spark properties) and the status page's journal of the
events received -- the value of a key that looks like a secret is replaced by ``***``.

A key looks like a secret when it contains one of :data:`DEFAULT_SECRET_KEYS` or of the configured
``secret_keys`` (case-insensitive; ``_``, ``.``, ``-`` or nothing between words: ``api_key``
matches ``apiKey``, ``API-KEY`` and ``x.api.key``). A ``{"name": ..., "value": ...}`` pair whose
name looks like a secret (how OpenLineage lists environment variables) has its value replaced.

Secrets inside values go too (:meth:`Secrets.redact_text`, part of :meth:`Secrets.redact`): a URL's
``user:password@`` password, a ``password=...`` (or other secret-looking) parameter, SQL's
``IDENTIFIED BY ...``. A dataset's name never holds a password (:func:`without_credentials`).

The same test decides which log fields are masked (:mod:`bridge.logs`, plus ``authorization``) and
which Kafka client settings' values are scrubbed from broker error texts (:func:`secret_values`).

A bare ``key`` is not in the defaults: tags (``{"key": ..., "value": ...}``), ``primaryKey`` and
``partitionKey`` are not secrets. Add the names your producers use (``signing_key``, ``ssn``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from bridge.errors import ConfigError

__all__ = ["DEFAULT_SECRET_KEYS", "DEFAULT_SECRETS", "MAX_DEPTH", "REDACTED", "TOO_DEEP", "Secrets", "check_secret_keys",
           "secret_values", "without_credentials"]

#: What a secret-looking key contains, unless configured otherwise (``secret_keys`` adds to these).
DEFAULT_SECRET_KEYS = ("passw", "secret", "token", "credential", "private_key", "access_key", "api_key",
                       "jaas", "sasl")
#: What a secret value becomes.
REDACTED = "***"
#: Objects and arrays nested deeper than this in a redacted value are replaced by :data:`TOO_DEEP`:
#: redaction cannot look into them without unbounded recursion, so they are not kept.
MAX_DEPTH = 100
#: What an object or array nested deeper than :data:`MAX_DEPTH` becomes.
TOO_DEEP = f"*** (nested deeper than {MAX_DEPTH} levels)"

_SEPARATOR = re.compile(r"\\[._-]|_")


def _word(key: str) -> str:
    return _SEPARATOR.sub("[._-]?", re.escape(key.strip()))


def check_secret_keys(value: Any) -> tuple[str, ...]:
    """The ``secret_keys`` setting as a tuple of non-empty words (a list, or text separated by commas).

    Raises:
        ConfigError: not a list of text.
    """
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise ConfigError(f"must be a list of key names, got {value!r}", key="secret_keys")
    words = []
    for item in value:
        if not isinstance(item, str):
            raise ConfigError(f"must be a list of key names, got {item!r} in it", key="secret_keys")
        if item.strip():
            words.append(item.strip())
    return tuple(words)


# Secrets inside a value. Each has a cheap substring test before any regex (this runs on every string
# of every event): scheme://user:password@host (a password may hold ':' or '@'; the host part has none);
# Oracle's jdbc:oracle:thin:user/password@host; name=value parameters (;password=..., ?password=...&)
# whose name looks like a secret; SQL's IDENTIFIED BY <password> and PASSWORD '<password>'.
_USERINFO = re.compile(r"(://)([^/?#@\s:]*):[^/?#\s]*@")
_ORACLE_THIN = re.compile(r"(:thin:[^/@\s:]*)/[^@\s]*@", re.IGNORECASE)
_SQL_PASSWORD = re.compile(r"(\bIDENTIFIED\s+BY\s+)(?:'(?:[^']|''){0,1000}'|\"[^\"]{0,1000}\"|[^\s;,)]+)"
                           r"|(\bPASSWORD\s+)'(?:[^']|''){0,1000}'", re.IGNORECASE)
_VALUE = r"=(?:'[^']*'|\"[^\"]*\"|[^;&\s,'\")]*)"


def _param_pattern(words: Iterable[str]) -> re.Pattern[str]:
    # name=value (no spaces: a parameter, not SQL's "password = x") where the name contains a secret
    # word (or pwd); the value quoted, or up to ; & , ) or a space
    name = r"[\w.-]{0,60}?(?:" + "|".join(_word(w) for w in (*words, "pwd")) + r")[\w.-]{0,60}"
    return re.compile(r"(?<![\w.-])(" + name + r")" + _VALUE, re.IGNORECASE)


def without_credentials(uri: str) -> str:
    """``uri`` without a ``user:password@`` (``s3://AKIA..:secret@bucket`` -> ``s3://bucket``): what
    names a dataset in a URN. A user without a password (``abfss://container@account``) stays."""
    return _USERINFO.sub(r"\1", uri) if "@" in uri else uri


def _is_map(value: Any) -> bool:
    # Facets decoded from JSON are dicts; the abstract check is only the fallback (it is slow).
    return type(value) is dict or isinstance(value, Mapping)


@attrs.frozen
class Secrets:
    """Which keys look like secrets, and redaction of the values they hold.

    Args:
        extra: words to add to :data:`DEFAULT_SECRET_KEYS` (``[translator] secret_keys``).
    """

    extra: tuple[str, ...] = attrs.field(default=(), converter=check_secret_keys)
    _pattern: re.Pattern[str] = attrs.field(init=False, repr=False, eq=False)
    _params: re.Pattern[str] = attrs.field(init=False, repr=False, eq=False)
    # what any secret-looking parameter name holds, lower-cased: the cheap test before _params
    _hints: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False)
    # key -> is_secret: the same property names (Spark's, Airflow's) come in every event
    _known: dict[str, bool] = attrs.field(init=False, repr=False, eq=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        words = dict.fromkeys(DEFAULT_SECRET_KEYS + self.extra)
        object.__setattr__(self, "_pattern", re.compile("|".join(_word(w) for w in words), re.IGNORECASE))
        object.__setattr__(self, "_params", _param_pattern(words))
        object.__setattr__(self, "_hints", tuple(dict.fromkeys(
            _SEPARATOR.split(re.escape(w.strip().lower()))[0].replace("\\", "") for w in (*words, "pwd"))))

    def is_secret(self, key: str) -> bool:
        """Whether values under ``key`` are never kept."""
        known = self._known.get(key)
        if known is None:
            if len(self._known) >= 4096:
                self._known.clear()
            known = self._known[key] = self._pattern.search(key) is not None
        return known

    def redact_text(self, text: str) -> str:
        """``text`` with the secrets inside it replaced by ``***``: the password of a URL's
        ``user:password@`` (``jdbc:postgresql://u:***@h/db``, Oracle's ``thin:u/***@h``), the value
        of a parameter whose name looks like a secret (``;password=***``, ``?password=***&``) and
        SQL's ``IDENTIFIED BY ***`` and ``PASSWORD ***``."""
        if "@" in text:
            text = _USERINFO.sub(rf"\1\2:{REDACTED}@", text)
            if ":thin:" in text or ":THIN:" in text:
                text = _ORACLE_THIN.sub(rf"\1/{REDACTED}@", text)
        if "=" in text or "DENTIFIED" in text or "dentified" in text or "ASSWORD" in text or "assword" in text:
            low = text.lower()
            if "=" in text and any(hint in low for hint in self._hints):
                text = self._params.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
            if "identified" in low or "password" in low:
                text = _SQL_PASSWORD.sub(lambda m: f"{m.group(1) or m.group(2)}{REDACTED}", text)
        return text

    def redact(self, value: Any, _depth: int = 0) -> Any:
        """``value`` (any JSON) with what secret-looking keys hold, at any depth, replaced by ``***``,
        and the secrets inside its text too (:meth:`redact_text`).

        An object or array nested deeper than :data:`MAX_DEPTH` levels becomes :data:`TOO_DEEP`.
        """
        if type(value) is str:
            return self.redact_text(value)
        if _is_map(value):
            if _depth >= MAX_DEPTH:
                return TOO_DEEP
            name = value.get("name")
            pair = isinstance(name, str) and "value" in value and self.is_secret(name)
            return {k: REDACTED if (isinstance(k, str) and self.is_secret(k)) or (pair and k == "value")
                    else self.redact(v, _depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            if _depth >= MAX_DEPTH:
                return TOO_DEEP
            return [self.redact(v, _depth + 1) for v in value]
        return value

    @classmethod
    def from_settings(cls, translator: Mapping[str, Any] | None) -> Secrets:
        """From the ``[translator]`` settings (only ``secret_keys`` is read)."""
        return cls((translator or {}).get("secret_keys"))


#: The default rules.
DEFAULT_SECRETS = Secrets()


# Kafka client settings: a PEM, an ssl.key.* or a SASL setting may hold a secret too.
_CLIENT_SECRETS = Secrets(extra=("pem", "key"))


def secret_values(client_config: Mapping[str, Any]) -> list[str]:
    """The values of a client config's secret-looking settings (longer than 3 characters), to scrub
    from the error texts librdkafka reports."""
    return [str(v) for k, v in client_config.items() if _CLIENT_SECRETS.is_secret(k) and len(str(v)) > 3]
