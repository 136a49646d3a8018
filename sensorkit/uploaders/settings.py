"""What `[outbox]` and each `[uploader.NAME]` table may hold, as data the config loader checks.

Kept apart from the uploaders themselves so that loading a config never
imports `requests`, and so `sensorkit validate` knows every key.
"""
from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

# key kinds
INT, STR, SECRET, ENV, URL, DURATION, DEVICE_ID, BOOL = (
    "int", "str", "secret", "env", "url", "duration", "device_id", "bool")
# ... and those the MQTT uploader added: a readable file, a secret read from a file, an MQTT
# topic (prefix), a host name, one of `Key.choices`, a name safe in topics and client ids.
FILE, SECRET_FILE, TOPIC, HOST, CHOICE, NAME = "file", "secret_file", "topic", "host", "choice", "name"


@dataclass(frozen=True)
class Key:
    name: str
    kind: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    choices: tuple[str, ...] = ()  # CHOICE keys, and STR keys whose value must be one of these (lower case)
    check: Callable[[str], str | None] | None = None  # a further rule of a STR key: why a value is refused

    @property
    def hides_value(self) -> bool:
        """True when a message must not show the value: a secret, or an ENV key (where tokens get pasted)."""
        return self.kind in (SECRET, ENV, SECRET_FILE)


@dataclass(frozen=True)
class FileSecret:
    """A secret read from a file (`password_file`): shown as the file's path, never as the secret."""

    path: str
    secret: str = field(repr=False)

    def __repr__(self) -> str:
        return repr(self.path)


@dataclass(frozen=True)
class UploaderSpec:
    name: str
    target: str  # "module:Class", imported only when a system is built
    keys: tuple[Key, ...]
    required: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()  # exactly one key of each group must be given
    series_rule: Callable[[str], str | None] = lambda name: None  # why a series name is refused
    secret_word: str = "token"  # what the service calls its secret, in messages ("key" at Byteport)
    # Rules across keys, on the table as written: (key, problem) for each one broken.
    table_rule: Callable[[Mapping[str, Any]], list[tuple[str, str]]] = lambda table: []
    # The uploader is also given the enabled sensors and the board's name (Home Assistant discovery).
    wants_sensors: bool = False

    def key(self, name: str) -> Key | None:
        return next((k for k in self.keys if k.name == name), None)


# Keys every uploader has: how delivery batches and retries for it.
DELIVERY_KEYS = (
    Key("enabled", BOOL, True, help="false keeps the table but sends nothing"),
    Key("batch_size", INT, 1000, 1, 100_000, "readings per send"),
    Key("send_delay", DURATION, 5.0, 0.001, 3600.0, "how long a part batch may wait for more readings"),
    Key("min_backoff", DURATION, 1.0, 0.001, 3600.0, "first wait after a failed send"),
    Key("max_backoff", DURATION, 300.0, 1.0, 86400.0, "longest wait between retries"),
)

# The `[outbox]` table: how readings are kept until every uploader has them.
OUTBOX_KEYS = (
    Key("commit_interval", DURATION, 1.0, 0.01, 60.0, "how long readings may wait in memory"),
    Key("sync_interval", DURATION, 10.0, 0.01, 3600.0, "how often a commit is also fsynced"),
    Key("max_readings", INT, 10_000_000, 1000, 1_000_000_000, "readings kept before the oldest are dropped"),
    Key("max_age", DURATION, 30 * 86400.0, 60.0, 10 * 365 * 86400.0, "age after which readings are dropped"),
)


# iobeam's naming rules, here so config checks need not import the client (and requests).
IOBEAM_DEVICE_ID_RE = re.compile(r"^[a-zA-Z0-9_:-]+$")
IOBEAM_RESERVED_SERIES = frozenset({"time", "time_offset", "all"})


def _iobeam_series_rule(name: str) -> str | None:
    if name.lower() in IOBEAM_RESERVED_SERIES:
        return "is reserved by iobeam (time, time_offset and all, in any case)"
    return None


IOBEAM = UploaderSpec(
    name="iobeam",
    target="sensorkit.uploaders.iobeam_uploader:IobeamUploader",
    keys=(
        Key("project_id", INT, None, 1, None, "your iobeam project's id"),
        Key("token", SECRET, help="a project token with write access"),
        Key("token_env", ENV, help="the name of an environment variable that holds the token"),
        Key("token_file", SECRET_FILE, help="a file whose first line is the token (a bare name: a systemd "
            "credential, with LoadCredential=)"),
        Key("device_id", DEVICE_ID, help="registered on first use when not given"),
        Key("base_url", URL, "https://api.iobeam.com/v1/", help="the API of a self-hosted or local server"),
        *DELIVERY_KEYS,
    ),
    required=("project_id",),
    one_of=(("token", "token_env", "token_file"),),
    series_rule=_iobeam_series_rule,
)

# Byteport's naming rules (API v1 "Names"), here so config checks need not import the client.
BYTEPORT_NAME_RE = re.compile(r"[0-9a-zA-Z_:-]{2,32}")  # matched whole
BYTEPORT_LOG_FIELDS = ("debug", "info", "warn", "error")


def byteport_name_problem(name: str) -> str | None:
    """Why `name` cannot be a Byteport namespace, device uid or field name (None when it can)."""
    if not BYTEPORT_NAME_RE.fullmatch(name):
        return "must be 2 to 32 characters of 0-9, a-z, A-Z, '-', '_' and ':'"
    if name[0] in "-_" or name[-1] in "-_":
        return "must not start or end with '-' or '_'"
    return None


def _byteport_series_rule(name: str) -> str | None:
    if name.lower() in BYTEPORT_LOG_FIELDS:
        return ("is a log level at Byteport (debug, info, warn and error, in any case, are stored as log "
                "messages, not as data)")
    why = byteport_name_problem(name)
    return f"is not a Byteport field name: it {why}" if why else None


BYTEPORT = UploaderSpec(
    name="byteport",
    target="sensorkit.uploaders.byteport_uploader:ByteportUploader",
    keys=(
        Key("namespace", STR, help="your Byteport namespace", check=byteport_name_problem),
        Key("key", SECRET, help="the namespace's API write key"),
        Key("key_env", ENV, help="the name of an environment variable that holds the write key"),
        Key("key_file", SECRET_FILE, help="a file whose first line is the write key (a bare name: a systemd "
            "credential, with LoadCredential=)"),
        Key("device_uid", STR, help="this device's uid in the namespace", check=byteport_name_problem),
        Key("base_url", URL, "https://api.byteport.se/", help="the root of a Byteport server (paths start at "
            "/api/v1/)"),
        Key("method", STR, "post", help="how stores travel: post, or get (POST past the 2 KB URL limit)",
            choices=("post", "get")),
        *DELIVERY_KEYS,
    ),
    required=("namespace", "device_uid"),
    one_of=(("key", "key_env", "key_file"),),
    series_rule=_byteport_series_rule,
    secret_word="key",
)


# MQTT: names that end up in topics, client ids and Home Assistant's node ids ([a-zA-Z0-9_-]).
MQTT_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MQTT_RESERVED_SERIES = frozenset({"status"})  # <topic_prefix>/status is the availability topic
MQTT_PASSWORD_KEYS = ("password", "password_env", "password_file")
MQTT_TLS_FILE_KEYS = ("ca_file", "client_cert", "client_key")


def _mqtt_series_rule(name: str) -> str | None:
    if name.lower() in MQTT_RESERVED_SERIES:
        return "is reserved by the MQTT uploader (<topic_prefix>/status is the availability topic)"
    return None


def _mqtt_table_rule(table: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = []
    passwords = [k for k in MQTT_PASSWORD_KEYS if k in table]
    if len(passwords) > 1:
        problems.append((passwords[1], f"give at most one of {', '.join(MQTT_PASSWORD_KEYS)} "
                         f"({' and '.join(passwords)} given)"))
    if passwords and "username" not in table:
        problems.append((passwords[0], "a password needs a username: add username = \"...\""))
    if "client_key" in table and "client_cert" not in table:
        problems.append(("client_key", "a client key needs its certificate: add client_cert"))
    if table.get("tls") is not True:
        for key in MQTT_TLS_FILE_KEYS:
            if key in table:
                problems.append((key, "is used only with tls = true: add tls = true (the broker's TLS port "
                                 "is usually 8883)"))
                break
    return problems


MQTT = UploaderSpec(
    name="mqtt",
    target="sensorkit.uploaders.mqtt_uploader:MqttUploader",
    keys=(
        Key("host", HOST, help="the broker's host name or address, such as 192.168.1.10 or mqtt.example.org"),
        Key("port", INT, None, 1, 65535, "1883, or 8883 with tls = true"),
        Key("tls", BOOL, False, help="connect with TLS, checking the broker's certificate"),
        Key("ca_file", FILE, help="the CA certificate(s) to check the broker's with; default: the system's"),
        Key("client_cert", FILE, help="a client certificate (PEM), for brokers that ask for one"),
        Key("client_key", FILE, help="the client certificate's private key (PEM)"),
        Key("username", STR, help="the user name the broker knows this device by"),
        Key("password", SECRET, help="the password"),
        Key("password_env", ENV, help="the name of an environment variable that holds the password"),
        Key("password_file", SECRET_FILE, help="a file that holds the password (its first line)"),
        Key("device_id", NAME, help="letters, digits, '_' and '-'; default: this machine's host name"),
        Key("client_id", STR, help="default: sensorkit-<device_id>; unique per device"),
        Key("topic_prefix", TOPIC, help="default: sensorkit/<device_id>"),
        Key("qos", INT, 1, 1, 2, "1 or 2: QoS 0 is refused, because a message it loses is lost for good"),
        Key("payload", CHOICE, "json", help="json: {value, unit, timestamp_ms}; value: the bare value",
            choices=("json", "value")),
        Key("protocol", CHOICE, "auto", help="auto: MQTT 5, or 3.1.1 when the broker says it has no 5; or \"5\" "
            "or \"3.1.1\" (for a broker that chokes on MQTT 5)", choices=("auto", "5", "3.1.1")),
        Key("keepalive", DURATION, 60.0, 5.0, 65535.0, "how often the broker hears from an idle connection"),
        Key("timeout", DURATION, 30.0, 1.0, 600.0, "how long the broker may take to answer (connect, acks)"),
        Key("session_expiry", DURATION, 3600.0, 0.0, 365 * 86400.0,
            "how long the broker keeps this device's session after a disconnect (MQTT 5)"),
        Key("homeassistant", BOOL, False, help="announce every series to Home Assistant (MQTT discovery)"),
        Key("discovery_prefix", TOPIC, "homeassistant", help="Home Assistant's discovery prefix"),
        *DELIVERY_KEYS,
    ),
    required=("host",),
    series_rule=_mqtt_series_rule,
    table_rule=_mqtt_table_rule,
    wants_sensors=True,
)


UPLOADERS: dict[str, UploaderSpec] = {IOBEAM.name: IOBEAM, BYTEPORT.name: BYTEPORT, MQTT.name: MQTT}


@dataclass(frozen=True)
class UploaderConfig:
    """One checked `[uploader.NAME]` table. Secrets are kept out of repr()."""

    name: str
    values: Mapping[str, Any]
    line: int | None = None
    key_lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def spec(self) -> UploaderSpec:
        return UPLOADERS[self.name]

    @property
    def enabled(self) -> bool:
        return bool(self.values.get("enabled", True))

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def shown_values(self) -> dict[str, Any]:
        """The values with every secret replaced by "***", for printing."""
        return {k: ("***" if self.spec.key(k) is not None and self.spec.key(k).kind == SECRET else v)
                for k, v in self.values.items()}

    def __repr__(self) -> str:
        return f"UploaderConfig(name={self.name!r}, values={self.shown_values()!r}, line={self.line!r})"

    def warnings(self) -> list[tuple[int | None, str]]:
        """What works but should be fixed, as (line or None, message); never shows a secret.

        A URL that sends the token in clear text, and a token that the client
        cleans before sending (quotes around it, a `Bearer ` in front).
        """
        found = []
        label = f"[uploader.{self.name}]"
        for key in self.spec.keys:
            value = self.values.get(key.name)
            if not isinstance(value, str):
                continue
            line = self.key_lines.get(key.name, self.key_lines.get(key.name + "_env", self.line))
            word = self.spec.secret_word
            if key.kind == URL:
                note = cleartext_warning(value)
                if note is not None:
                    found.append((line, f"{label} key '{key.name}': {note.replace('token', word)}"))
            elif key.kind == SECRET:
                _, notes = clean_token(value, bearer=word == "token")
                found += [(line, f"{label} key '{key.name}': {note.replace('the token', f'the {word}')}")
                          for note in notes]
        return found


def coerce(key: Key, value: Any) -> Any:
    """The checked value of `key`, or ValueError saying what it must be."""
    if key.kind == BOOL:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if key.kind == INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be an integer")
        _check_range(key, value)
        return value
    if key.kind == DURATION:
        from sensorkit.durations import FORMS, parse_duration

        try:
            seconds = parse_duration(value)
        except ValueError:
            raise ValueError(f"must be a duration such as {FORMS}") from None
        _check_range(key, seconds)
        return seconds
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    if key.kind in (FILE, SECRET_FILE, TOPIC, HOST, CHOICE, NAME):
        return _coerce_more(key, value)
    if key.kind == URL:
        return check_base_url(value)
    if key.choices:
        if value.strip().lower() not in key.choices:
            raise ValueError(f"must be one of {', '.join(repr(c) for c in key.choices)}")
        return value.strip().lower()
    if key.check is not None:
        why = key.check(value)
        if why:
            raise ValueError(why)
    if key.kind == DEVICE_ID:
        if not IOBEAM_DEVICE_ID_RE.match(value):
            raise ValueError("may hold only letters, digits, '_', ':' and '-'")
    if key.kind == ENV and not looks_like_variable_name(value):
        raise ValueError("does not look like the name of an environment variable (letters, digits and _, such as "
                         f"IOBEAM_TOKEN); if it is the secret itself, give it as `{key.name.removesuffix('_env')}` or "
                         "export it in a variable and name that here (the value is not shown: it may be a secret)")
    return value.strip() if key.kind == SECRET else value


def _coerce_more(key: Key, value: str) -> Any:
    """The kinds the MQTT uploader brought: files, topics, hosts, choices, names."""
    if key.kind == CHOICE:
        if value not in key.choices:
            raise ValueError(f"must be one of {', '.join(repr(c) for c in key.choices)}")
        return value
    if key.kind == NAME:
        if not MQTT_NAME_RE.match(value):
            raise ValueError("may hold only letters, digits, '_' and '-' (at most 64)")
        return value
    if key.kind == HOST:
        host = value.strip()
        if "://" in host or "/" in host or any(c.isspace() for c in host):
            raise ValueError("must be a host name or address alone, such as mqtt.example.org (no scheme, "
                             "path or spaces; the port goes in port)")
        return host
    if key.kind == TOPIC:
        return check_topic(value)
    path = os.path.expanduser(value.strip())
    if not os.path.isfile(path):
        raise ValueError(f"'{path}' is not a file" if os.path.exists(path) else f"there is no file '{path}'")
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except PermissionError:
        raise ValueError(f"'{path}' is not readable by this user — check its permissions") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"'{path}' cannot be read: {exc}") from None
    if key.kind == FILE:
        return path
    secret = text.splitlines()[0].strip() if text.strip() else ""
    if not secret:
        raise ValueError(f"'{path}' is empty: write the secret on its first line")
    return FileSecret(path, secret)


def check_topic(topic: str) -> str:
    """`topic` if it can prefix MQTT topics, or ValueError saying why not."""
    if any(c in topic for c in "+#\0"):
        raise ValueError("may not hold the wildcards + and # (or a NUL)")
    if topic.startswith("$"):
        raise ValueError("may not start with '$' (brokers keep those topics for themselves)")
    if topic.startswith("/") or topic.endswith("/") or "//" in topic:
        raise ValueError("may not start or end with '/' or hold an empty level ('//')")
    if len(topic.encode()) > 200:
        raise ValueError("is too long (at most 200 bytes)")
    return topic


def _check_range(key: Key, number: float) -> None:
    from sensorkit.durations import format_duration

    show = format_duration if key.kind == DURATION else (lambda n: f"{n:g}")
    if key.minimum is not None and number < key.minimum:
        raise ValueError(f"must be at least {show(key.minimum)}")
    if key.maximum is not None and number > key.maximum:
        raise ValueError(f"must be at most {show(key.maximum)}")


def check_base_url(url: str) -> str:
    """`url` with one trailing slash, or ValueError saying what is wrong with it."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("the base URL must be a non-empty string such as https://api.iobeam.com/v1/")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"'{url}' is not an http:// or https:// URL")
    if parts.query or parts.fragment:
        raise ValueError(f"'{url}': a base URL has no ?query or #fragment")
    return url.rstrip("/") + "/"


_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN_LIKE_LENGTH = 16  # shorter mixed-case names exist (HomeDir1); tokens are longer


def looks_like_variable_name(text: str) -> bool:
    """True for a plausible environment variable name; False for anything else, a pasted token included.

    A token can be letters and digits only, which is a legal name: one of
    16 or more characters that mixes lower and upper case and digits but has
    no `_` is taken for a token, as no one names a variable like that.
    """
    if not _VARIABLE_NAME.fullmatch(text):
        return False
    mixed = any(c.islower() for c in text) and any(c.isupper() for c in text) and any(c.isdigit() for c in text)
    return not (mixed and "_" not in text and len(text) >= _TOKEN_LIKE_LENGTH)


_QUOTES = ("\"", "'", "`")
_BEARER = "bearer "


def clean_token(token: str, *, bearer: bool = True) -> tuple[str, list[str]]:
    """`token` without surrounding quotes and a leading `Bearer `, and a note for each removed (never the token).

    Both are paste mistakes (from a shell line or an Authorization header);
    no token contains a quote or a space, so removing them cannot turn a
    right token into a wrong one, while sending them gets a puzzling refusal
    from the server ("Incorrect padding"). `bearer` False leaves a leading
    `Bearer ` alone (a secret that never travels in an Authorization header).
    """
    notes: list[str] = []
    text = token.strip()
    while True:
        if len(text) >= 2 and text[0] == text[-1] and text[0] in _QUOTES:
            text = text[1:-1].strip()
            if not any("quotes" in note for note in notes):
                notes.append("the token is wrapped in quotes; it is sent without them (remove them here)")
        elif bearer and text[:len(_BEARER)].lower() == _BEARER:
            text = text[len(_BEARER):].strip()
            notes.append("the token starts with 'Bearer ' (the scheme of the Authorization header); only what "
                         "follows is sent (remove 'Bearer ' here)")
        else:
            return text, notes


LOOPBACK_NAMES = ("localhost", "localhost.", "ip6-localhost", "ip6-loopback")


def cleartext_warning(url: str) -> str | None:
    """Why sending a token to `url` is unsafe (plain http:// to another machine), or None when it is not."""
    parts = urlsplit(url.strip())
    if parts.scheme != "http":
        return None
    host = (parts.hostname or "").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name, not an address
    where = f"[{host}]" if ":" in host else host  # no user:password@ from the URL in a message
    if parts.port is not None:
        where += f":{parts.port}"
    return (f"http://{where} is plain HTTP to another machine, so the token travels in clear text and anyone "
            "on the way can read it; use https://, or reach the server through a VPN or an SSH tunnel")
