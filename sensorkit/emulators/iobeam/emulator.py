"""`IobeamEmulator`: the local iobeam server as an object to start, stop, fault and inspect."""
from __future__ import annotations

import os
import secrets
import threading
from typing import Any

from sensorkit.emulators._http import Request, Response
from sensorkit.emulators._server import EmulatorServer
from sensorkit.emulators.iobeam.api import Api
from sensorkit.emulators.iobeam.auth import Tokens
from sensorkit.emulators.iobeam.store import Device, IobeamStore, StoredPoint
from sensorkit.emulators.iobeam.watch import ImportRecord
from sensorkit.emulators.iobeam.wire import DEVICE_ID_PATTERN, is_int

SERVER_NAME = "sensorkit-iobeam-emulator"
DEFAULT_TOKEN_TTL_S = 5 * 7 * 86400  # five weeks, the iobeam CLI's usual duration


class IobeamEmulator(EmulatorServer[IobeamStore, ImportRecord]):
    """A local iobeam server: one project, one user, devices and points in SQLite.

    `start()` binds and begins serving (after `down_for_s`); `stop()` is
    idempotent and closes the storage; as a context manager it starts (when
    not started yet) and stops. Tokens expire by `clock` (a `FakeClock` in
    tests), so expiry is tested without sleeping. Faults: see `_http.Faults`;
    what every local server shares: `_server.EmulatorServer`.
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
        super().__init__(host=host, port=port, db_path=db_path, down_for_s=down_for_s, clock=clock,
                         fail_rate=fail_rate, throttle_rate=throttle_rate, retry_after_s=retry_after_s,
                         latency_ms=latency_ms, seed=seed, api_prefix="/v1/", name=SERVER_NAME, keep=keep_imports,
                         writes="imports")
        self.project_id = project_id
        self._token_ttl_s = token_ttl_s
        self._secret = secret
        self._rejected: frozenset[str] = frozenset()
        self._tokens: Tokens | None = None
        self._api: Api | None = None
        self._project_token = ""
        self._user_token = ""

    # -- life cycle (see EmulatorServer.start) -----------------------------------------------------

    def _open_store(self) -> IobeamStore:
        return IobeamStore(self.db_path)

    def _set_up(self, store: IobeamStore) -> None:
        secret = self._secret or store.secret()
        if secret is None:
            secret = secrets.token_bytes(32)
            store.save_secret(secret)
        self._tokens = Tokens(secret, self.clock, self.project_id)
        self._api = Api(project_id=self.project_id, store=store, issuer=self._tokens, clock=self.clock,
                         token_ttl_s=self._token_ttl_s, rejected=lambda: self._rejected, watch=self._watch)
        self._project_token = self.issue_token()
        self._user_token = self._tokens.issue_user(self._token_ttl_s)

    def _route(self, request: Request) -> Response:
        assert self._api is not None
        return self._api.router(request)

    # -- what a user of the emulator reads ---------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, no trailing slash; the API lives under ``url + "/v1/"``."""
        return self._http.url

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
        return [f"listening on {self.url}", f"project id: {self.project_id}",
                f"project token: {self.project_token}", f"user token: {self.user_token}", *self._banner_tail()]

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

    # -- runtime controls --------------------------------------------------------------------------

    @property
    def imports(self) -> list[ImportRecord]:
        """Every accepted import in the order stored (needs ``keep_imports=True``): shows order and repeats."""
        return self._watch.log

    def hold_imports(self, stage: str = "before_store") -> threading.Event:
        """Make imports wait at `stage` until `release_imports()` (see EmulatorServer._hold)."""
        return self._hold(stage)

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
