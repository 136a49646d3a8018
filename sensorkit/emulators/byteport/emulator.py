"""`ByteportEmulator`: the local Byteport server as an object to start, stop, fault and inspect."""
from __future__ import annotations

import os
import secrets
import string
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from sensorkit.clock import SystemClock
from sensorkit.emulators import EmulatorError
from sensorkit.emulators._http import Faults, HttpError, JsonHttpServer, Request, RequestRecord, Response
from sensorkit.emulators._watch import WriteWatch
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


class ByteportEmulator:
    """A local Byteport server: one namespace with one write key, one user, devices and points in SQLite.

    Namespace, key, user and password are made up when not given (and kept
    in `db_path`, so a restart serves the same ones). `write_methods` is the
    namespace's HTTP write method setting; with `require_registration` only
    `register`ed uids may store. `object_fields` maps field names to media
    types (fields the device type declares as base64 objects). `start()`
    binds and serves (after `down_for_s`); `stop()` is idempotent; as a
    context manager it starts and stops. Faults: see `_http.Faults`.
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
        if not down_for_s >= 0:
            raise ValueError(f"down_for_s must be 0 or more, got {down_for_s!r}")
        self.db_path = None if db_path is None else os.fspath(db_path)
        self.write_methods = methods
        self.require_registration = require_registration
        self._given = {"namespace": namespace, "key": key, "user": user, "password": password}
        self._down_for_s = down_for_s
        self.clock = clock if clock is not None else SystemClock()
        self._faults = Faults(fail_rate=fail_rate, throttle_rate=throttle_rate, retry_after_s=retry_after_s,
                              latency_ms=latency_ms, seed=seed)
        self._http = JsonHttpServer(self._answer, host=host, port=port, faults=self._faults, api_prefix="/api/v1/",
                                    name=SERVER_NAME)
        self._refused: frozenset[str] = frozenset()
        self._objects: dict[str, str] = {}
        for field, media_type in (object_fields or {}).items():
            self.define_object_field(field, media_type)
        self._watch: WriteWatch[StoreRecord] = WriteWatch(keep_stores, "stores")
        self._store: ByteportStore | None = None
        self._api: Api | None = None
        self._settings: dict[str, str] = {}

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> ByteportEmulator:
        if self._store is not None:
            raise EmulatorError("this emulator was already started; make a new one")
        store = ByteportStore(self.db_path)
        try:
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
            self._store = store
            self._http.start(down_for_s=self._down_for_s)
        except BaseException:
            self._store = None
            store.close()
            raise
        return self

    def stop(self) -> None:
        self._watch.release()
        self._http.stop()
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> ByteportEmulator:
        return self if self._store is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _answer(self, request: Request) -> Response:
        if self._api is None:  # cannot happen: the socket listens only after start() built the API
            raise HttpError(503, "the emulator is starting")
        check_url_length(request.target or request.path)
        return self._api.router(request)

    # -- what a user of the emulator reads ---------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, no trailing slash: the server's root (the API lives under /api/v1/)."""
        return self._http.url

    @property
    def port(self) -> int:
        return self._http.port

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
        lines.append(f"storage: {self.db_path or 'memory (lost when the server stops)'}")
        if self._down_for_s > 0:
            lines.append(f"down for {self._down_for_s:g} s: connections are refused until then")
        faults = self._faults
        if faults.fail_rate or faults.throttle_rate or faults.latency_s:
            lines.append(f"faults: {faults.fail_rate:.0%} answered 503, {faults.throttle_rate:.0%} answered 429 "
                         f"(Retry-After {faults.retry_after_s:g} s), {faults.latency_s * 1000:g} ms latency")
        return lines

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

    @property
    def requests(self) -> list[RequestRecord]:
        """Every answered request as (method, path, status), oldest first (paths only: queries hold keys)."""
        return self._http.requests

    def request_count(self, method: str | None = None, path: str | None = None, status: int | None = None) -> int:
        return self._http.request_count(method, path, status)

    # -- runtime controls --------------------------------------------------------------------------

    @property
    def down(self) -> bool:
        return self._http.down

    def set_down(self, down: bool) -> None:
        """Refuse connections (ECONNREFUSED, open ones closed) or accept them again, on the same port."""
        self._http.set_down(down)

    def inject(self, status: int, count: int = 1, retry_after_s: float | None = None) -> None:
        """Answer the next `count` API requests with `status`; a 2xx lets one through (see `_http.Faults`)."""
        self._faults.inject(status, count, retry_after_s)

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

    @property
    def accepted_points(self) -> int:
        """How many fields accepted stores carried so far (a repeated one counts each time); costs no query."""
        return self._watch.accepted

    def wait_for_points(self, count: int, timeout_s: float | None = None) -> bool:
        """Wait until accepted stores carried at least `count` fields; False when `timeout_s` passed first."""
        return self._watch.wait_accepted(count, timeout_s)

    def hold_stores(self, stage: str = "before_store") -> threading.Event:
        """Make stores wait at `stage` ("before_store" or "after_store") until `release_stores()`.

        The event is set once one waits there; a held store goes on by itself after a minute.
        """
        return self._watch.hold(stage)

    @property
    def held_store(self) -> StoreRecord | None:
        """The store that reached the hold last (None before one has)."""
        return self._watch.held

    def release_stores(self) -> None:
        self._watch.release()

    def _require_started(self) -> None:
        if self._store is None:
            raise EmulatorError("the emulator is not started; call start() first")

    def _started_store(self) -> ByteportStore:
        self._require_started()
        assert self._store is not None
        return self._store
