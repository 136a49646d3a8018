"""`JsonHttpServer`: runs an emulator's app on a threaded HTTP/1.1 keep-alive server that can be taken down.

What a client has to survive in the field, so uploaders are proven against
it rather than against mocks:

* faults (`faults.Faults`) on every path under `api_prefix`, and latency
  before every answer;
* down time: `start(down_for_s=...)` binds the socket (the port is known,
  even with port 0) but does not `listen()` until the time has passed, and
  `set_down(True)` closes the listening socket and every open connection.
  On Linux a bound socket that does not listen answers a SYN with a reset,
  so the client sees ECONNREFUSED on the very port it will reach later.
  While down the port stays bound, so nothing else can take it.

Each answered request is recorded (`requests`, for tests to count) and
logged at debug level by method, path and status only: query strings,
headers and bodies stay out of the log, because they may carry tokens.
"""
from __future__ import annotations

import logging
import socket
import threading
from typing import Callable, NamedTuple

from sensorkit.emulators import EmulatorError, PortUnavailable
from sensorkit.emulators._http.faults import Faults
from sensorkit.emulators._http.handler import Httpd, accept_loop
from sensorkit.emulators._http.messages import HttpError, Request, Response, error_response

log = logging.getLogger(__name__)


class RequestRecord(NamedTuple):
    """One answered request, for tests to count."""

    method: str
    path: str
    status: int


class JsonHttpServer:
    """Runs `app` on a threaded HTTP/1.1 keep-alive server, with faults and a request log.

    Faults apply to paths under `api_prefix`. `start()` binds (port 0: any
    free port, then `port` and `url` tell which); `stop()` is idempotent.
    A stopped server cannot start again: make a new one.
    """

    def __init__(self, app: Callable[[Request], Response], *, host: str = "127.0.0.1", port: int = 0,
                 faults: Faults | None = None, api_prefix: str = "/", name: str = "sensorkit-emulator") -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0 (any free port) to 65535, got {port}")
        self.host = host
        self.port = port
        self.name = name
        self.api_prefix = api_prefix
        self.faults = faults if faults is not None else Faults()
        self._app = app
        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._lock = threading.Lock()  # guards the up/down state below
        self._state = "new"  # new -> started -> stopped
        self._httpd: Httpd | None = None
        self._listening = False
        self._serve_thread: threading.Thread | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None  # ends the accept loop at once
        self._up_timer: threading.Timer | None = None
        self._stopping = threading.Event()
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._log_lock = threading.Lock()
        self._requests: list[RequestRecord] = []

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` without a trailing slash."""
        if self._state == "new":
            raise EmulatorError("the server has no port before start()")
        host = f"[{self.host}]" if self._family == socket.AF_INET6 else self.host
        return f"http://{host}:{self.port}"

    @property
    def down(self) -> bool:
        """True while connections are refused."""
        return not self._listening

    def start(self, *, down_for_s: float = 0.0) -> None:
        if not down_for_s >= 0:
            raise ValueError(f"down_for_s must be 0 or more, got {down_for_s!r}")
        with self._lock:
            if self._state != "new":
                raise EmulatorError(f"this server was already {self._state}; make a new one")
            self._httpd = self._bind(self.port)
            self.port = self._httpd.server_address[1]
            self._state = "started"
            if down_for_s > 0:
                self._up_timer = threading.Timer(down_for_s, self._end_down_for)
                self._up_timer.daemon = True
                self._up_timer.start()
            else:
                self._listen_locked()

    def stop(self) -> None:
        with self._lock:
            if self._state == "stopped":
                return
            self._state = "stopped"
            self._stopping.set()
            self._cancel_timer_locked()
            self._close_locked()

    def set_down(self, down: bool) -> None:
        """Refuse connections (closing open ones) or accept them again, on the same port."""
        with self._lock:
            if self._state != "started":
                raise EmulatorError(f"set_down() needs a started server; this one is {self._state}")
            self._cancel_timer_locked()
            if down and self._listening:
                self._close_locked()
                self._httpd = self._bind(self.port)  # keep the port ours while down
            elif not down and not self._listening:
                if self._httpd is None:
                    self._httpd = self._bind(self.port)
                self._listen_locked()

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered so far (a copy), oldest first."""
        with self._log_lock:
            return list(self._requests)

    def request_count(self, method: str | None = None, path: str | None = None, status: int | None = None) -> int:
        """How many answered requests match every criterion given."""
        return sum(
            1 for r in self.requests
            if (method is None or r.method == method) and (path is None or r.path == path)
            and (status is None or r.status == status)
        )

    # -- up and down ---------------------------------------------------------------------------

    def _bind(self, port: int) -> Httpd:
        httpd = Httpd(self, (self.host, port), self._family)
        try:
            httpd.server_bind()
        except OSError as exc:
            httpd.server_close()
            raise PortUnavailable(exc.errno, exc.strerror or str(exc), f"{self.host}:{port}") from exc
        return httpd

    def _listen_locked(self) -> None:
        assert self._httpd is not None
        self._httpd.server_activate()
        self._httpd.socket.setblocking(False)  # a connection gone before accept() must not block the loop
        self._wake = socket.socketpair()
        self._serve_thread = threading.Thread(
            target=accept_loop, args=(self._httpd, self._wake[0]), name=f"{self.name}:{self.port}", daemon=True,
        )
        self._serve_thread.start()
        self._listening = True
        log.debug("%s listening on %s", self.name, self.url)

    def _close_locked(self) -> None:
        if self._httpd is not None:
            if self._serve_thread is not None and self._wake is not None:
                self._wake[1].send(b"\0")
                self._serve_thread.join()
                self._serve_thread = None
                for end in self._wake:
                    end.close()
                self._wake = None
            self._httpd.server_close()
            self._httpd = None
        self._listening = False
        with self._conn_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client
        log.debug("%s refuses connections on port %d", self.name, self.port)

    def _end_down_for(self) -> None:
        with self._lock:
            if self._state == "started" and not self._listening and self._up_timer is not None:
                self._up_timer = None
                self._listen_locked()

    def _cancel_timer_locked(self) -> None:
        if self._up_timer is not None:
            self._up_timer.cancel()
            self._up_timer = None

    # -- what the handler threads call ------------------------------------------------------------

    def _respond(self, request: Request) -> Response:
        response = self.faults.draw() if request.path.startswith(self.api_prefix) else None
        if self.faults.latency_s > 0:
            self._stopping.wait(self.faults.latency_s)
        if response is not None:
            return response
        try:
            return self._app(request)
        except HttpError as exc:
            return exc.response()
        except Exception:  # a bug in a route must still answer, and show up in the log
            log.exception("%s: internal error answering %s %s", self.name, request.method, request.path)
            return error_response(500, "internal error in the emulator; see its log")

    def _record(self, method: str, path: str, status: int, took_s: float) -> None:
        with self._log_lock:
            self._requests.append(RequestRecord(method, path, status))
        log.debug("%s %s -> %d (%.1f ms)", method, path, status, took_s * 1000)

    def _connection_opened(self, connection: socket.socket) -> None:
        with self._conn_lock:
            self._connections.add(connection)

    def _connection_closed(self, connection: socket.socket) -> None:
        with self._conn_lock:
            self._connections.discard(connection)
