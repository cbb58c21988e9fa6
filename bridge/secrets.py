"""Values never written anywhere: those of keys that look like secrets (``[translator] secret_keys``).

Producers put credentials where the bridge may keep them: Spark properties
(``spark.hadoop.fs.s3a.secret.key``), environment variables, raw facets (a Debezium config's
``database.password``). Wherever the bridge keeps such values -- custom properties in DataHub
(``capture_raw_facets``, ``env.<NAME>``, Spark properties) and the status page's journal of the
events received -- the value of a key that looks like a secret is replaced by ``***``.

When a key looks like a secret (:meth:`Secrets.is_secret`): the key is cut into lower-case words at
``_``, ``.``, ``-`` (any character but a letter or a digit) and where camelCase starts a word
(``keyStorePassword`` -> ``key store password``, ``APIKey`` -> ``api key``). A key one of whose words
holds a secret word of :data:`DEFAULT_SECRET_KEYS` (cut the same way) is a secret: one ending it,
followed at most by a plural ``s`` or digits (``password``, ``db.password``, ``PGPASSWORD``,
``clientSecret``, ``access_tokens``, ``password2``), and one holding it glued to more letters
(``secretkey``, ``MINIO_SECRETKEY``, ``tokenvalue``, ``PASSWORDENC``) unless that word is one of the
few English words made from a secret word that name none (:data:`HARMLESS`: ``passwordless``,
``tokenizer``, ``secretary``, ...). A secret word of several words may be written with or without
separators (``api_key`` matches ``apiKey``, ``API-KEY``, ``x.api.key`` and ``apikey``). A word added
by ``secret_keys`` must begin or end a word of the key (``ssn`` matches ``CUSTOMER_SSN`` and
``ssnumber``, ``auth`` matches ``authorization``, not ``classname``: an added word may be short).
Compounds name what their last word names, so a key whose last word (a separate one) says what about
the secret it holds (:data:`DESCRIBING`: ``count``, ``length``, ``less``, ``hash``, ``type``,
``file``, ``url``, ``name``, ...) holds no secret: ``token_count``, ``password-less``,
``password_hash``, ``private_key_file``, ``aws.credentials.provider``; nor does one counting
secrets (``max_tokens``, ``num_secrets``: :data:`COUNTING` before the word). A
``{"name": ..., "value": ...}`` pair whose name looks like a secret (how OpenLineage lists
environment variables) has its value replaced.

Secrets inside values go too (:meth:`Secrets.redact_text`, part of :meth:`Secrets.redact`), by the
same rule: a URL's ``user:password@`` password (Oracle's ``thin:user/password@`` too); the value of a
``name=value`` parameter (``;password=...;``, ``?password=...&``, ``password = ...``, quoted however
long, an open quote to the end of the text, or an ODBC ``{braced;value}`` whole) whose name
:meth:`~Secrets.is_secret` (``token_count=5`` stays), wherever it is: in the value of another
parameter too (``spark.jdbc.url=jdbc:postgresql://h/db?password=***``, ``-Dpassword=***``); the
value of a connection string's or URL query's ``pwd``, ``sig`` or ``signature`` parameter (after
``;``, ``?`` or ``&``: ``Server=x;Pwd=***``, an Azure SAS ``&sig=***``, ``X-Amz-Signature=***``),
names that are no secret elsewhere (``PWD`` is the shell's working directory); SQL's
``IDENTIFIED [WITH plugin] BY ...`` (and its ``REPLACE ...``), ``PASSWORD '...'``,
``PASSWORD('...')`` and ``SET PASSWORD FOR u = '...'``, in any case. A dataset's name never holds a
password (:func:`without_credentials`).

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
from bridge.model import without_credentials

__all__ = ["DEFAULT_SECRET_KEYS", "DEFAULT_SECRETS", "MAX_DEPTH", "REDACTED", "TOO_DEEP", "Secrets", "check_secret_keys",
           "secret_values", "without_credentials"]

#: The words of a secret-looking key, unless configured otherwise (``secret_keys`` adds to these).
DEFAULT_SECRET_KEYS = ("password", "passwd", "passphrase", "secret", "token", "credential", "private_key",
                       "access_key", "api_key", "account_key", "jaas", "sasl")
#: A key whose last word is one of these says something about a secret, not the secret:
#: ``token_count``, ``password_hash``, ``private_key_file``.
DESCRIBING = frozenset(("count", "counts", "num", "number", "length", "len", "size", "min", "max", "limit",
                        "less", "hash", "type", "kind", "policy", "expiry", "expires", "expiration", "ttl", "age",
                        "file", "path", "location", "dir", "url", "uri", "endpoint", "provider", "name",
                        "enabled", "required"))
#: A secret word right after one of these counts secrets: ``max_tokens``, ``num_secrets``.
COUNTING = frozenset(("max", "min", "num", "total"))
#: Words holding a secret word glued to more letters that name no secret (any other such word is a
#: secret: ``secretkey``, ``tokenvalue``, ``PASSWORDENC``): English words made from a secret word.
HARMLESS = frozenset(("passwordless", "secretary", "secretariat", "tokenize", "tokenized", "tokenizer", "tokenizers",
                      "tokenizing", "tokenization", "detokenize", "detokenizer"))
#: What a secret value becomes.
REDACTED = "***"
#: Objects and arrays nested deeper than this in a redacted value are replaced by :data:`TOO_DEEP`:
#: redaction cannot look into them without unbounded recursion, so they are not kept.
MAX_DEPTH = 100
#: What an object or array nested deeper than :data:`MAX_DEPTH` becomes.
TOO_DEEP = f"*** (nested deeper than {MAX_DEPTH} levels)"

# A key's words: a cut where camelCase starts a word, and at anything but a letter or a digit.
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
# Parameters named as secrets only in a connection string or a URL's query (PWD is a directory).
_PARAMETER_ONLY = frozenset(("pwd", "sig", "signature"))


def _words(key: str) -> str:
    """``key``'s words, lower-case, joined by ``_``: ``keyStorePassword`` -> ``key_store_password``."""
    return _NOT_ALNUM.sub("_", _CAMEL.sub("_", key)).strip("_").lower()


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
# Oracle's jdbc:oracle:thin:user/password@host; name=value parameters (;password=..., ?password=...&,
# password = ...) whose name is_secret; SQL's IDENTIFIED BY <password> and PASSWORD '<password>'.
# A quoted value has no length limit and runs to the end of the text when its quote is left open;
# each pattern is linear in the text (no nested repeats that overlap).
# A URL's user:password@ in kept text (group 2: the user): wider than a name's (bridge.model.without_credentials),
# whose password stops at a ';': here a password with ';' is masked whole.
_USERINFO = re.compile(r"(://)([^/?#@\s:]*):[^/?#\s]*@")
# (the password stops at the next ':thin:': each character is looked at from one ':thin:' only, so a text
# of many is linear, not quadratic)
_ORACLE_THIN = re.compile(r"(:thin:[^/@\s:]*)/(?:(?!:thin:)[^@\s])*@", re.IGNORECASE)
_SQL_TEXT = r"'[^']*(?:''[^']*)*'?"
_SQL_VALUE = rf"(?:{_SQL_TEXT}|\"[^\"]*\"?|[^\s;,)]+)"
_SQL_PASSWORD = re.compile(
    rf"(\bIDENTIFIED\s+(?:WITH\s+['\"]?\w+['\"]?\s+)?BY\s+(?:PASSWORD\s+)?){_SQL_VALUE}(?:(\s+REPLACE\s+){_SQL_VALUE})?"
    rf"|(\bSET\s+PASSWORD\s+FOR\s+[^=;]{{1,200}}?=\s*|\bPASSWORD(?:\s+|\s*\(\s*)){_SQL_TEXT}", re.IGNORECASE)
# name=: the name and the spaces around '=' (not '=='). Only a secret's value is taken in (_VALUE, at
# the match's end), so the value of any other name is still searched for parameters (url=...?password=).
_PARAM = re.compile(r"(?<![\w.-])([\w.-]{1,100})[ \t]*=(?!=)[ \t]*")
# a parameter's value: quoted ('' or \" inside; to the end of the text if left open), an ODBC {braced}
# value (}} inside; the same), or up to ; & , ) a quote or a space
_VALUE = re.compile(r"'[^']*(?:''[^']*)*'?|\"[^\"\\]*(?:\\.[^\"\\]*)*\"?|\{[^}]*(?:\}\}[^}]*)*\}?"
                    r"|[^;&\s,'\")]*", re.DOTALL)


def _value_end(text: str, start: int) -> int:
    found = _VALUE.match(text, start)
    return found.end() if found else start


def _in_connection_string(text: str, start: int, end: int) -> bool:
    # the parameter text[start:end] is a URL query's (right after ? or a single &: not a shell's &&), a
    # connection string's (after ;, spaces aside), or the first of a connection string (followed by ;)
    i = start - 1
    if i >= 0 and (text[i] == "?" or (text[i] == "&" and not (i > 0 and text[i - 1] == "&"))):
        return True
    while i >= 0 and text[i] in " \t":
        i -= 1
    return text[i] == ";" if i >= 0 else text.startswith(";", end)


def _sql_password(match: re.Match[str]) -> str:
    if match.group(3):
        return f"{match.group(3)}{REDACTED}"
    return f"{match.group(1)}{REDACTED}{match.group(2) + REDACTED if match.group(2) else ''}"


def _is_map(value: Any) -> bool:
    # Facets decoded from JSON are dicts; the abstract check is only the fallback (it is slow).
    return type(value) is dict or isinstance(value, Mapping)


@attrs.frozen
class Secrets:
    """Which keys look like secrets, and redaction of the values they hold.

    Args:
        extra: words to add to :data:`DEFAULT_SECRET_KEYS` (``[translator] secret_keys``), matched
            where they begin or end a word of a key (``auth`` matches ``authorization``); a word of
            several words is written with separators or in camelCase (``signing_key``, ``signingKey``)
            to match all their spellings (``signingkey`` matches ``xsigningkey``, not ``signingKey``).
    """

    extra: tuple[str, ...] = attrs.field(default=(), converter=check_secret_keys)
    # a secret word in a key's _words: a default one anywhere, an added one beginning or ending a word
    _pattern: re.Pattern[str] = attrs.field(init=False, repr=False, eq=False)
    # what a text holding a secret parameter's name holds, lower-cased: the cheap test before _PARAM
    _hints: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False)
    # key -> is_secret: the same property names (Spark's, Airflow's) come in every event
    _known: dict[str, bool] = attrs.field(init=False, repr=False, eq=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        defaults = [_words(w) for w in DEFAULT_SECRET_KEYS]
        added = [w for w in dict.fromkeys(_words(w) for w in self.extra) if w and w not in defaults]
        pattern = "|".join(re.escape(w).replace("_", "_?") for w in defaults)
        if added:
            own = "|".join(re.escape(w).replace("_", "_?") for w in added)
            pattern += rf"|(?<![a-z0-9])(?:{own})|(?:{own})(?=s?[0-9]*(?:_|$))"
        object.__setattr__(self, "_pattern", re.compile(pattern))
        # the start of a word's first word is in any spelling of the name, lower-cased (apiKey -> apikey
        # holds api); a loop of `in` is the quickest test (a regex of alternatives takes longer)
        hints = {w.split("_")[0][:4] for w in defaults + added} | {w[:4] for w in _PARAMETER_ONLY}
        object.__setattr__(self, "_hints", tuple(sorted(h for h in hints if not any(o != h and o in h for o in hints))))

    def is_secret(self, key: str) -> bool:
        """Whether values under ``key`` are never kept (the rule is the module's)."""
        known = self._known.get(key)
        if known is None:
            if len(self._known) >= 4096:
                self._known.clear()
            known = self._known[key] = self._looks_secret(_words(key))
        return known

    def _looks_secret(self, words: str) -> bool:
        if words.rpartition("_")[2] in DESCRIBING:
            return False
        for found in self._pattern.finditer(words):
            start, end = found.span()
            first, last = words.rfind("_", 0, start) + 1, words.find("_", end)
            last = len(words) if last < 0 else last
            if words[end:last].rstrip("0123456789") in ("", "s"):  # it ends the word: unless counted (max_tokens)
                if not (start == first > 0 and words[:start - 1].rpartition("_")[2] in COUNTING):
                    return True
            elif words[first:last] not in HARMLESS:  # more letters after it: secretkey, tokenvalue
                return True
        return False

    def _parameters(self, text: str) -> str:
        # every name=, left to right; a secret's value (or a connection string's pwd's) is replaced, and
        # a name inside a replaced value is skipped; any other name's value is searched like the rest
        kept: list[str] = []
        done = 0  # text[:done] is in kept
        for match in _PARAM.finditer(text):
            start, end = match.span()
            if start < done:
                continue
            name = match.group(1)
            if self.is_secret(name):
                value_end = _value_end(text, end)
            # (the last letters first: _words takes longer)
            elif name[-3:].lower() in ("pwd", "sig", "ure") and _words(name).rpartition("_")[2] in _PARAMETER_ONLY:
                value_end = _value_end(text, end)
                if not _in_connection_string(text, start, value_end):
                    continue
            else:
                continue
            kept += (text[done:end], REDACTED)
            done = value_end
        return "".join(kept) + text[done:] if kept else text

    def redact_text(self, text: str) -> str:
        """``text`` with the secrets inside it replaced by ``***``: the password of a URL's
        ``user:password@`` (``jdbc:postgresql://u:***@h/db``, Oracle's ``thin:u/***@h``), the value
        of a parameter whose name looks like a secret (``;password=***``, ``?password=***&``,
        ``password = ***``, ``Pwd=***`` in a connection string), wherever it is (in another
        parameter's value too: ``url=jdbc:...?password=***``) and SQL's ``IDENTIFIED BY ***`` and
        ``PASSWORD ***``."""
        if "@" in text:
            text = _USERINFO.sub(rf"\1\2:{REDACTED}@", text)
            if ":thin:" in text.lower():
                text = _ORACLE_THIN.sub(rf"\1/{REDACTED}@", text)
        low = text.lower()
        if "identified" in low or "password" in low:
            text = _SQL_PASSWORD.sub(_sql_password, text)
        if "=" in text:
            for hint in self._hints:
                if hint in low:
                    return self._parameters(text)
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
