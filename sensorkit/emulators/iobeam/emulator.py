"""`IobeamEmulator`: the local iobeam server as an object to start, stop, fault and inspect."""
from __future__ import annotations

import os
import secrets
import threading
from typing import Any

from sensorkit.clock import SystemClock
from sensorkit.emulators import EmulatorError
from sensorkit.emulators._http import Faults, HttpError, JsonHttpServer, Request, RequestRecord, Response
from sensorkit.emulators.iobeam.api import Api
from sensorkit.emulators.iobeam.auth import Tokens
from sensorkit.emulators.iobeam.store import Device, IobeamStore, StoredPoint
from sensorkit.emulators.iobeam.watch import ImportRecord, ImportWatch
from sensorkit.emulators.iobeam.wire import DEVICE_ID_PATTERN, is_int

SERVER_NAME = "sensorkit-iobeam-emulator"
DEFAULT_TOKEN_TTL_S = 5 * 7 * 86400  # five weeks, the iobeam CLI's usual duration


class IobeamEmulator:
    """A local iobeam server: one project, one user, devices and points in SQLite.

    `start()` binds and begins serving (after `down_for_s`); `stop()` is
    idempotent and closes the storage; as a context manager it starts (when
    not started yet) and stops. Tokens expire by `clock` (a `FakeClock` in
    tests), so expiry is tested without sleeping. Faults: see `_http.Faults`.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, db_path: str | os.PathLike[str] | None = None,
                 project_id: int = 1, token_ttl_s: float = DEFAULT_TOKEN_TTL_S, secret: bytes | None = None,
                 fail_rate: float = 0.0, throttle_rate: float = 0.0, retry_after_s: float = 1.0,
                 latency_ms: float = 0, down_for_s: float = 0.0, seed: int | None = None, clock: Any = None,
                 keep_imports: bool = False) -> None:
        if not is_int(project_id) or project_id <= 0:
            raise ValueError(f"project_id must be a positive integer, got {project_id!r}")
        if not token_ttl_s >= 1:
            raise ValueError(f"token_ttl_s must be at least 1 second, got {token_ttl_s!r}")
        if secret is not None and (not isinstance(secret, bytes) or not secret):
            raise ValueError("secret must be non-empty bytes")
        if not down_for_s >= 0:
            raise ValueError(f"down_for_s must be 0 or more, got {down_for_s!r}")
        self.project_id = project_id
        self.db_path = None if db_path is None else os.fspath(db_path)
        self._token_ttl_s = token_ttl_s
        self._secret = secret
        self._down_for_s = down_for_s
        self.clock = clock if clock is not None else SystemClock()
        self._faults = Faults(fail_rate=fail_rate, throttle_rate=throttle_rate, retry_after_s=retry_after_s,
                              latency_ms=latency_ms, seed=seed)
        self._http = JsonHttpServer(self._answer, host=host, port=port, faults=self._faults, api_prefix="/v1/",
                                    name=SERVER_NAME)
        self._rejected: frozenset[str] = frozenset()
        self._watch = ImportWatch(keep_imports)
        self._store: IobeamStore | None = None
        self._tokens: Tokens | None = None
        self._api: Api | None = None
        self._project_token = ""
        self._user_token = ""

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> IobeamEmulator:
        if self._store is not None:
            raise EmulatorError("this emulator was already started; make a new one")
        store = IobeamStore(self.db_path)
        try:
            secret = self._secret or store.secret()
            if secret is None:
                secret = secrets.token_bytes(32)
                store.save_secret(secret)
            self._tokens = Tokens(secret, self.clock, self.project_id)
            self._api = Api(project_id=self.project_id, store=store, issuer=self._tokens, clock=self.clock,
                             token_ttl_s=self._token_ttl_s, rejected=lambda: self._rejected, watch=self._watch)
            self._store = store
            self._project_token = self.issue_token()
            self._user_token = self._tokens.issue_user(self._token_ttl_s)
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

    def __enter__(self) -> IobeamEmulator:
        return self if self._store is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _answer(self, request: Request) -> Response:
        if self._api is None:  # cannot happen: the socket listens only after start() built the API
            raise HttpError(503, "the emulator is starting")
        return self._api.router(request)

    # -- what a user of the emulator reads ---------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, no trailing slash; the API lives under ``url + "/v1/"``."""
        return self._http.url

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def project_token(self) -> str:
        """A read+write+refreshable project token issued at start."""
        self._require_started()
        return self._project_token

    @property
    def user_token(self) -> str:
        """A user token, good for GET /v1/tokens/project."""
        self._require_started()
        return self._user_token

    def banner(self) -> list[str]:
        """What to print at start: first exactly ``listening on http://HOST:PORT``, then how to connect."""
        lines = [f"listening on {self.url}", f"project id: {self.project_id}",
                 f"project token: {self.project_token}", f"user token: {self.user_token}",
                 f"storage: {self.db_path or 'memory (lost when the server stops)'}"]
        if self._down_for_s > 0:
            lines.append(f"down for {self._down_for_s:g} s: connections are refused until then")
        faults = self._faults
        if faults.fail_rate or faults.throttle_rate or faults.latency_s:
            lines.append(f"faults: {faults.fail_rate:.0%} answered 503, {faults.throttle_rate:.0%} answered 429 "
                         f"(Retry-After {faults.retry_after_s:g} s), {faults.latency_s * 1000:g} ms latency")
        return lines

    def issue_token(self, *, ttl_s: float | None = None, read: bool = True, write: bool = True,
                    refreshable: bool = True, device_id: str | None = None, admin: bool = False) -> str:
        """A new project token of this server's project, as GET /v1/tokens/project would give."""
        self._require_started()
        assert self._tokens is not None
        ttl_s = self._token_ttl_s if ttl_s is None else ttl_s
        if not ttl_s >= 1:
            raise ValueError(f"ttl_s must be at least 1 second, got {ttl_s!r}")
        if device_id is not None and (not isinstance(device_id, str) or not DEVICE_ID_PATTERN.fullmatch(device_id)):
            raise ValueError(f"device_id must match {DEVICE_ID_PATTERN.pattern}, got {device_id!r}")
        return self._tokens.issue_project(ttl_s=ttl_s, read=read, write=write, admin=admin,
                                          refreshable=refreshable, device_id=device_id)

    def points(self, device_id: str | None = None, series: str | None = None) -> list[StoredPoint]:
        """Stored points of this project, by device, series and time."""
        return self._started_store().points(self.project_id, device_id, series)

    def devices(self) -> list[Device]:
        """Registered devices of this project, by id."""
        return self._started_store().devices(self.project_id)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every answered request as (method, path, status), oldest first."""
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
        """Answer the next `count` API requests with `status` (429 always carries Retry-After).

        Injections queue up; a 2xx means "answer normally", so ``inject(200); inject(503)``
        lets one request through and fails the next.
        """
        self._faults.inject(status, count, retry_after_s)

    @property
    def imports(self) -> list[ImportRecord]:
        """Every accepted import in the order stored (needs ``keep_imports=True``): shows order and repeats."""
        return self._watch.log

    @property
    def accepted_points(self) -> int:
        """How many points accepted imports carried so far (a repeated point counts each time); costs no query."""
        return self._watch.accepted

    def wait_for_points(self, count: int, timeout_s: float | None = None) -> bool:
        """Wait until accepted imports have carried at least `count` points; False when `timeout_s` passed first.

        Cheap enough to wait on while a client sends (no query, no store
        lock), unlike reading `points()`.
        """
        return self._watch.wait_accepted(count, timeout_s)

    def hold_imports(self, stage: str = "before_store") -> threading.Event:
        """Make imports wait at `stage` until `release_imports()`; the event is set once one waits there.

        "before_store": the request was read and checked, nothing is stored;
        "after_store": its points are stored, the answer has not left. A held
        import goes on by itself after a minute.
        """
        return self._watch.hold(stage)

    @property
    def held_import(self) -> ImportRecord | None:
        """The import that reached the hold last (None before one has)."""
        return self._watch.held

    def release_imports(self) -> None:
        """Let held imports (and later ones) go on."""
        self._watch.release()

    def reject_series(self, *names: str) -> None:
        """Refuse imports holding any of these series with 400; replaces the earlier set, none = accept all."""
        self._rejected = frozenset(names)

    def _require_started(self) -> None:
        if self._store is None:
            raise EmulatorError("the emulator is not started; call start() first")

    def _started_store(self) -> IobeamStore:
        self._require_started()
        assert self._store is not None
        return self._store
