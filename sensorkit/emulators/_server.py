"""What every local cloud server object shares: its HTTP server and faults, its store's life, its write watch.

An emulator (`IobeamEmulator`, `ByteportEmulator`) subclasses `EmulatorServer`
and says how its store is opened and what it builds on it (`_open_store`,
`_set_up`) and how a request is answered (`_route`). The rest is here: start
and stop (the store closed again when starting fails), the context manager,
the address, the request log, going down and coming back, injected answers,
and the test helpers around accepted writes (count, wait, hold, release).
"""
from __future__ import annotations

import os
import threading
from typing import Any, Generic, TypeVar

from sensorkit.clock import SystemClock
from sensorkit.emulators import EmulatorError
from sensorkit.emulators._http import Faults, HttpError, JsonHttpServer, Request, RequestRecord, Response
from sensorkit.emulators._watch import WriteWatch

Store = TypeVar("Store")  # the emulator's storage (closed by stop())
Record = TypeVar("Record")  # what its write watch logs and holds


class EmulatorServer(Generic[Store, Record]):
    """The shared part of a local server; see the module docstring for what a subclass adds."""

    def __init__(self, *, host: str, port: int, db_path: str | os.PathLike[str] | None, down_for_s: float,
                 clock: Any, fail_rate: float, throttle_rate: float, retry_after_s: float, latency_ms: float,
                 seed: int | None, api_prefix: str, name: str, keep: bool, writes: str) -> None:
        if not down_for_s >= 0:
            raise ValueError(f"down_for_s must be 0 or more, got {down_for_s!r}")
        self.db_path = None if db_path is None else os.fspath(db_path)
        self.clock = clock if clock is not None else SystemClock()
        self._down_for_s = down_for_s
        self._faults = Faults(fail_rate=fail_rate, throttle_rate=throttle_rate, retry_after_s=retry_after_s,
                              latency_ms=latency_ms, seed=seed)
        self._http = JsonHttpServer(self._answer, host=host, port=port, faults=self._faults, api_prefix=api_prefix,
                                    name=name)
        self._watch: WriteWatch[Record] = WriteWatch(keep, writes)
        self._store: Store | None = None
        self._ready = False  # the routes are built: the socket listens only after that

    # -- what a subclass says ------------------------------------------------------------------------

    def _open_store(self) -> Store:
        raise NotImplementedError

    def _set_up(self, store: Store) -> None:
        """Build what answers requests on `store` (settings made up, the API); raising undoes the start."""
        raise NotImplementedError

    def _route(self, request: Request) -> Response:
        raise NotImplementedError

    # -- life cycle ----------------------------------------------------------------------------------

    def start(self) -> Any:
        if self._store is not None:
            raise EmulatorError("this emulator was already started; make a new one")
        store = self._open_store()
        try:
            self._store = store
            self._set_up(store)
            self._ready = True
            self._http.start(down_for_s=self._down_for_s)
        except BaseException:
            self._store = None
            self._ready = False
            self._close(store)
            raise
        return self

    def stop(self) -> None:
        self._watch.release()
        self._http.stop()
        if self._store is not None:
            self._close(self._store)

    @staticmethod
    def _close(store: Any) -> None:
        store.close()

    def __enter__(self) -> Any:
        return self if self._store is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _answer(self, request: Request) -> Response:
        if not self._ready:  # cannot happen: the socket listens only after start() built the API
            raise HttpError(503, "the emulator is starting")
        return self._route(request)

    def _require_started(self) -> None:
        if self._store is None:
            raise EmulatorError("the emulator is not started; call start() first")

    def _started_store(self) -> Store:
        self._require_started()
        assert self._store is not None
        return self._store

    # -- what a user of the emulator reads -----------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, no trailing slash: the server's root."""
        return self._http.url

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def requests(self) -> list[RequestRecord]:
        """Every answered request as (method, path, status), oldest first (paths only: queries may hold keys)."""
        return self._http.requests

    def request_count(self, method: str | None = None, path: str | None = None, status: int | None = None) -> int:
        return self._http.request_count(method, path, status)

    def _banner_tail(self) -> list[str]:
        """The banner's last lines: where it stores, and the faults it was started with."""
        lines = [f"storage: {self.db_path or 'memory (lost when the server stops)'}"]
        if self._down_for_s > 0:
            lines.append(f"down for {self._down_for_s:g} s: connections are refused until then")
        faults = self._faults
        if faults.fail_rate or faults.throttle_rate or faults.latency_s:
            lines.append(f"faults: {faults.fail_rate:.0%} answered 503, {faults.throttle_rate:.0%} answered 429 "
                         f"(Retry-After {faults.retry_after_s:g} s), {faults.latency_s * 1000:g} ms latency")
        return lines

    # -- runtime controls ----------------------------------------------------------------------------

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
    def accepted_points(self) -> int:
        """How many points (fields) accepted writes carried so far, a repeated one each time; costs no query."""
        return self._watch.accepted

    def wait_for_points(self, count: int, timeout_s: float | None = None) -> bool:
        """Wait until accepted writes carried at least `count` points; False when `timeout_s` passed first.

        Cheap enough to wait on while a client sends (no query, no store lock).
        """
        return self._watch.wait_accepted(count, timeout_s)

    def _hold(self, stage: str) -> threading.Event:
        """Make writes wait at `stage` until released; the event is set once one waits there.

        "before_store": the request was read and checked, nothing is stored;
        "after_store": it is stored, the answer has not left. A held write
        goes on by itself after a minute.
        """
        return self._watch.hold(stage)
