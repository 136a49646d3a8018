"""`ByteportEmulator`: the local Byteport server as an object to start, stop, fault and inspect."""
from __future__ import annotations

import os
import secrets
import string
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from sensorkit.emulators._http import Request, Response
from sensorkit.emulators._server import EmulatorServer
from sensorkit.emulators.byteport.api import Api, StoreRecord
from sensorkit.emulators.byteport.auth import Sessions
from sensorkit.emulators.byteport.store import ByteportStore, Device, StoredPoint
from sensorkit.emulators.byteport.wire import LOG_FIELDS, MIN_USER_NAMESPACE, check_url_length, name_problem

SERVER_NAME = "sensorkit-byteport-emulator"
WRITE_METHODS = ("get", "post")
DEFAULT_USER = "sensorkit"
_LOWER_DIGITS = string.ascii_lowercase + string.digits


def _made_up_namespace() -> str:
    return "sensorkit-" + "".join(secrets.choice(_LOWER_DIGITS) for _ in range(6))


class ByteportEmulator(EmulatorServer[ByteportStore, StoreRecord]):
    """A local Byteport server: one namespace with one write key, one user, devices and points in SQLite.

    Namespace, key, user and password are made up when not given (and kept
    in `db_path`, so a restart serves the same ones). `write_methods` is the
    namespace's HTTP write method setting; with `require_registration` only
    `register`ed uids may store. `object_fields` maps field names to media
    types (fields the device type declares as base64 objects). `start()`
    binds and serves (after `down_for_s`); `stop()` is idempotent; as a
    context manager it starts and stops. Faults: see `_http.Faults`; what every local
    server shares: `_server.EmulatorServer`.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, db_path: str | os.PathLike[str] | None = None,
                 namespace: str | None = None, key: str | None = None,
                 write_methods: Iterable[str] = WRITE_METHODS, require_registration: bool = False,
                 register: Iterable[str] = (), user: str | None = None, password: str | None = None,
                 object_fields: Mapping[str, str] | None = None, fail_rate: float = 0.0,
                 throttle_rate: float = 0.0, retry_after_s: float = 1.0, latency_ms: float = 0,
                 down_for_s: float = 0.0, seed: int | None = None, clock: Any = None,
                 keep_stores: bool = False) -> None:
        if namespace is not None:
            why = name_problem(namespace) if isinstance(namespace, str) else "must be a string"
            if why is None and len(namespace) < MIN_USER_NAMESPACE:
                why = f"must be longer than {MIN_USER_NAMESPACE - 1} characters, as Byteport asks of a namespace"
            if why:
                raise ValueError(f"namespace {namespace!r} {why}")
        for what, secret in (("key", key), ("user", user), ("password", password)):
            if secret is not None and (not isinstance(secret, str) or not secret or secret != secret.strip()):
                raise ValueError(f"{what} must be a non-empty string without spaces around it")
        methods = frozenset(m.lower() for m in write_methods)
        if not methods or not methods <= set(WRITE_METHODS):
            raise ValueError(f"write_methods must be some of {', '.join(WRITE_METHODS)}, got {sorted(methods)}")
        self._registered = tuple(register)
        for uid in self._registered:
            if name_problem(uid):
                raise ValueError(f"cannot register {uid!r}: a device uid {name_problem(uid)}")
        super().__init__(host=host, port=port, db_path=db_path, down_for_s=down_for_s, clock=clock,
                         fail_rate=fail_rate, throttle_rate=throttle_rate, retry_after_s=retry_after_s,
                         latency_ms=latency_ms, seed=seed, api_prefix="/api/v1/", name=SERVER_NAME,
                         keep=keep_stores, writes="stores")
        self.write_methods = methods
        self.require_registration = require_registration
        self._given = {"namespace": namespace, "key": key, "user": user, "password": password}
        self._refused: frozenset[str] = frozenset()
        self._objects: dict[str, str] = {}
        for field, media_type in (object_fields or {}).items():
            self.define_object_field(field, media_type)
        self._api: Api | None = None
        self._settings: dict[str, str] = {}

    # -- life cycle --------------------------------------------------------------------------------

    def _open_store(self) -> ByteportStore:
        return ByteportStore(self.db_path)

    def _set_up(self, store: ByteportStore) -> None:
        made_up = {"namespace": _made_up_namespace, "key": lambda: secrets.token_hex(12),
                   "user": lambda: DEFAULT_USER, "password": lambda: secrets.token_urlsafe(12)}
        for name, make in made_up.items():
            value = self._given[name] or store.setting(name)
            if value is None:
                value = make()
                store.save_setting(name, value)
            self._settings[name] = value
        for uid in self._registered:
            store.register(self._settings["namespace"], uid)
        self._api = Api(namespace=self._settings["namespace"], key=self._settings["key"],
                        write_methods=self.write_methods, require_registration=self.require_registration,
                        store=store, sessions=Sessions(self._settings["user"], self._settings["password"]),
                        clock=self.clock, watch=self._watch, refused=lambda: self._refused,
                        object_fields=lambda: dict(self._objects))

    def _route(self, request: Request) -> Response:
        assert self._api is not None
        check_url_length(request.target or request.path)
        return self._api.router(request)

    # -- what a user of the emulator reads ---------------------------------------------------------

    def _setting(self, name: str) -> str:
        self._require_started()
        return self._settings[name]

    @property
    def namespace(self) -> str:
        return self._setting("namespace")

    @property
    def key(self) -> str:
        """The namespace's API write key."""
        return self._setting("key")

    @property
    def user(self) -> str:
        return self._setting("user")

    @property
    def password(self) -> str:
        return self._setting("password")

    def banner(self) -> list[str]:
        """What to print at start: first exactly ``listening on http://HOST:PORT``, then how to connect.

        A key or password given to the emulator is not printed back.
        """
        given = self._given
        lines = [f"listening on {self.url}", f"namespace: {self.namespace}",
                 f"key: {'(as given)' if given['key'] else self.key}", f"user: {self.user}",
                 f"password: {'(as given)' if given['password'] else self.password}",
                 "write methods: " + ", ".join(m.upper() for m in sorted(self.write_methods))]
        if self.require_registration:
            registered = [d.uid for d in self.devices() if d.registered]
            lines.append(f"registration required; registered: {', '.join(registered) or 'none'}")
        if self._objects:
            lines.append("object fields: " + ", ".join(f"{f} ({t})" for f, t in sorted(self._objects.items())))
        return lines + self._banner_tail()

    def points(self, uid: str | None = None, field: str | None = None) -> list[StoredPoint]:
        """Stored points of the namespace, by uid, field and time (log fields included)."""
        return self._started_store().points(self.namespace, uid, field)

    def logs(self, uid: str | None = None) -> list[StoredPoint]:
        """The log messages stored (fields debug, info, warn and error), by uid, level and time."""
        return [p for p in self.points(uid) if p.field in LOG_FIELDS]

    def devices(self) -> list[Device]:
        """Devices of the namespace (registered, or seen storing), by uid."""
        return self._started_store().devices(self.namespace)

    def register(self, uid: str) -> None:
        """Register a device uid in the namespace (what `--register` does at start)."""
        if not isinstance(uid, str) or name_problem(uid):
            raise ValueError(f"cannot register {uid!r}: a device uid {name_problem(str(uid))}")
        self._started_store().register(self.namespace, uid)

    # -- runtime controls --------------------------------------------------------------------------

    def define_object_field(self, field: str, media_type: str) -> None:
        """Declare `field` a base64 object of `media_type` (as a device type's field definition does)."""
        if not isinstance(field, str) or name_problem(field):
            raise ValueError(f"object field {field!r}: a field name {name_problem(str(field))}")
        if not isinstance(media_type, str) or "/" not in media_type.strip("/"):
            raise ValueError(f"media type {media_type!r} is not a type/subtype such as image/png")
        self._objects[field] = media_type

    def refuse_fields(self, *names: str) -> None:
        """Refuse stores holding any of these fields with 400; replaces the earlier set, none = accept all."""
        self._refused = frozenset(names)

    @property
    def stores(self) -> list[StoreRecord]:
        """Every accepted store in the order stored (needs ``keep_stores=True``): shows order and repeats."""
        return self._watch.log

    def hold_stores(self, stage: str = "before_store") -> threading.Event:
        """Make stores wait at `stage` until `release_stores()` (see EmulatorServer._hold)."""
        return self._hold(stage)

    @property
    def held_store(self) -> StoreRecord | None:
        """The store that reached the hold last (None before one has)."""
        return self._watch.held

    def release_stores(self) -> None:
        self._watch.release()
