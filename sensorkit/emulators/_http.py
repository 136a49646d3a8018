"""The HTTP part shared by sensorkit's local cloud emulators (iobeam now, Byteport later).

An emulator is a function from `Request` to `Response` (usually a `Router`);
`JsonHttpServer` runs it on a threaded HTTP/1.1 keep-alive server and adds
what a client has to survive in the field, so uploaders are proven against
it rather than against mocks:

* injected statuses (`Faults.inject`), a seeded share of 503s and of 429s
  with `Retry-After`, and latency before every answer;
* down time: `start(down_for_s=...)` binds the socket (the port is known,
  even with port 0) but does not `listen()` until the time has passed, and
  `set_down(True)` closes the listening socket and every open connection.
  On Linux a bound socket that does not listen answers a SYN with a reset,
  so the client sees ECONNREFUSED on the very port it will reach later.
  While down the port stays bound, so nothing else can take it.

Every body is JSON with a Content-Length; every error, including 404/405
and the injected ones, has the shape ``{"errors": [{"code": int, "message":
str}]}`` where `code` is the HTTP status unless an emulator gives a more
specific one. Each answered request is logged at debug level by method,
path and status only: query strings, headers and bodies stay out of the
log, because they may carry tokens.
"""
from __future__ import annotations

import json
import logging
import math
import random
import re
import selectors
import socket
import socketserver
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from sensorkit.errors import SensorkitError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024  # far above any legal request; keeps a runaway client from filling memory
KEEP_ALIVE_IDLE_S = 75.0  # an idle keep-alive connection is closed after this long (nginx's default)
JSON_TYPE = "application/json"
_CONTENT_LENGTH = re.compile(r"[0-9]+")


class EmulatorError(SensorkitError):
    """An emulator cannot do what it was asked: the port is taken, the database is foreign, ..."""


class PortUnavailable(EmulatorError, OSError):
    """The address cannot be bound: the port is taken, privileged, or the host is not an address of this machine.

    Also an OSError, whose `strerror` is the system's reason and `filename` the ``host:port``.
    """

    def __str__(self) -> str:
        return f"cannot bind {self.filename}: {self.strerror}; choose another port (0 picks a free one)"


class HttpError(Exception):
    """Raised inside a route to answer with an error in the standard shape."""

    def __init__(self, status: int, message: str, *, code: int | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = status if code is None else code
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return error_response(self.status, self.message, code=self.code, headers=self.headers)


@dataclass(frozen=True)
class Response:
    """A status, a JSON-able body (None: no body) and extra headers."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


def error_response(status: int, message: str, *, code: int | None = None,
                   headers: Mapping[str, str] | None = None) -> Response:
    body = {"errors": [{"code": status if code is None else code, "message": message}]}
    return Response(status, body, dict(headers or {}))


@dataclass(frozen=True)
class Request:
    """One request as a route sees it. `path` is still percent-encoded; `headers` keys are lower case."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes

    def bearer_token(self) -> str | None:
        """The token of an `Authorization: Bearer <token>` header, or None."""
        scheme, _, token = self.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()

    def params(self, allowed: Iterable[str]) -> dict[str, str]:
        """The query parameters, each once; 400 for an unknown or repeated one (a typo must not pass silently)."""
        allowed = set(allowed)
        params = {}
        for name, values in self.query.items():
            if name not in allowed:
                expected = ", ".join(sorted(allowed)) or "none"
                raise HttpError(400, f"unknown query parameter {name!r}; this call takes: {expected}")
            if len(values) != 1:
                raise HttpError(400, f"query parameter {name!r} is given {len(values)} times; give it once")
            params[name] = values[0]
        return params

    def json(self) -> Any:
        """The body as JSON (strict: no NaN or Infinity); 415/400 saying what is wrong."""
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON_TYPE:
            shown = content_type or "none"
            raise HttpError(415, f"the body must be sent as Content-Type: {JSON_TYPE}, not {shown}")
        if not self.body.strip():
            raise HttpError(400, "the body is empty; expected JSON")
        try:
            return json.loads(self.body.decode("utf-8"), parse_constant=_refuse_constant)
        except UnicodeDecodeError as exc:
            raise HttpError(400, f"the body is not UTF-8 (byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise HttpError(400, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        except ValueError as exc:
            raise HttpError(400, f"malformed JSON: {exc}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


Route = Callable[[Request, dict[str, str]], Response]


class Router:
    """Maps (method, path pattern) to routes; 404 for an unknown path, 405 (with Allow) for a wrong method."""

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], str, Route]] = []

    def add(self, method: str, pattern: str, route: Route) -> None:
        """`pattern` must match the whole path; its named groups reach the route percent-decoded."""
        self._routes.append((re.compile(pattern), method.upper(), route))

    def __call__(self, request: Request) -> Response:
        allowed = set()
        for pattern, method, route in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if method == request.method:
                return route(request, {k: unquote(v) for k, v in match.groupdict().items()})
            allowed.add(method)
        if allowed:
            allow = ", ".join(sorted(allowed))
            raise HttpError(405, f"{request.method} is not allowed on {request.path}; use {allow}",
                            headers={"Allow": allow})
        raise HttpError(404, f"no such endpoint: {request.path}")


class RequestRecord(NamedTuple):
    """One answered request, for tests to count."""

    method: str
    path: str
    status: int


class Faults:
    """What goes wrong on purpose: injected statuses first, then seeded random 503s and 429s, and latency.

    `fail_rate` and `throttle_rate` are shares of requests (each in [0, 1],
    together at most 1); one draw of `random.Random(seed)` per request
    decides, so a seed gives the same sequence of faults every run.
    """

    def __init__(self, *, fail_rate: float = 0.0, throttle_rate: float = 0.0, retry_after_s: float = 1.0,
                 latency_ms: float = 0, seed: int | None = None) -> None:
        for name, rate in (("fail_rate", fail_rate), ("throttle_rate", throttle_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be a share between 0 and 1, got {rate!r}")
        if fail_rate + throttle_rate > 1.0:
            raise ValueError(f"fail_rate + throttle_rate must be at most 1, got {fail_rate + throttle_rate:g}")
        if not retry_after_s >= 0:
            raise ValueError(f"retry_after_s must be 0 or more, got {retry_after_s!r}")
        if not latency_ms >= 0:
            raise ValueError(f"latency_ms must be 0 or more, got {latency_ms!r}")
        self.fail_rate = fail_rate
        self.throttle_rate = throttle_rate
        self.retry_after_s = retry_after_s
        self.latency_s = latency_ms / 1000.0
        self._random = random.Random(seed)
        self._injected: deque[tuple[int, float | None]] = deque()
        self._lock = threading.Lock()

    def inject(self, status: int, count: int = 1, retry_after_s: float | None = None) -> None:
        """Answer the next `count` requests with `status` (a 429 always carries Retry-After).

        Injections queue up in order. A 2xx status means "answer this one
        normally", so a test can script ok-then-fail: ``inject(200); inject(503)``.
        """
        if not (200 <= status <= 299 or 400 <= status <= 599):
            raise ValueError(f"an injected status must be 2xx (answer normally) or an error (400-599), got {status}")
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        if retry_after_s is not None and not retry_after_s >= 0:
            raise ValueError(f"retry_after_s must be 0 or more, got {retry_after_s!r}")
        with self._lock:
            self._injected.extend([(status, retry_after_s)] * count)

    def draw(self) -> Response | None:
        """The fault for the next request, or None to answer it normally."""
        with self._lock:
            if self._injected:
                status, retry_after_s = self._injected.popleft()
                if status < 400:
                    return None
                if retry_after_s is None and status == HTTPStatus.TOO_MANY_REQUESTS:
                    retry_after_s = self.retry_after_s
                return _fault(status, retry_after_s, "injected")
            if self.fail_rate == 0.0 and self.throttle_rate == 0.0:
                return None
            roll = self._random.random()
        if roll < self.fail_rate:
            return _fault(HTTPStatus.SERVICE_UNAVAILABLE, None, "fail_rate")
        if roll < self.fail_rate + self.throttle_rate:
            return _fault(HTTPStatus.TOO_MANY_REQUESTS, self.retry_after_s, "throttle_rate")
        return None


def _fault(status: int, retry_after_s: float | None, why: str) -> Response:
    headers = {}
    message = f"{HTTPStatus(status).phrase} ({why} fault of the emulator)"
    if retry_after_s is not None:
        # RFC 9110 allows whole seconds only; rounding up never invites a client back too early.
        headers["Retry-After"] = str(math.ceil(retry_after_s))
        message += f"; retry after {headers['Retry-After']} s"
    return error_response(int(status), message, headers=headers)


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
        self._httpd: _Httpd | None = None
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

    def _bind(self, port: int) -> _Httpd:
        httpd = _Httpd(self, (self.host, port), self._family)
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
            target=_accept_loop, args=(self._httpd, self._wake[0]), name=f"{self.name}:{self.port}", daemon=True,
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


def _accept_loop(httpd: _Httpd, wake: socket.socket) -> None:
    """Accepts connections (each served in its own thread) until `wake` becomes readable.

    socketserver's serve_forever() notices shutdown() only at its next poll;
    a wake-up socket ends the loop at once, so stop() and set_down() are instant.
    """
    with selectors.DefaultSelector() as selector:
        selector.register(httpd.socket, selectors.EVENT_READ)
        selector.register(wake, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is wake:
                    return
                httpd.handle_request()  # the socket is ready and non-blocking: accepts one, or returns


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # rebinding the same port while old connections sit in TIME_WAIT

    def __init__(self, owner: JsonHttpServer, address: tuple[str, int], family: int) -> None:
        self.address_family = family
        self.owner = owner
        super().__init__(address, _Handler, bind_and_activate=False)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would look up the host's FQDN, which can stall on DNS; we never need it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (or a connection closed by set_down) is normal here.
        log.debug("%s: connection from %s ended abruptly", self.owner.name, client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive by default; every answer carries Content-Length
    timeout = KEEP_ALIVE_IDLE_S
    disable_nagle_algorithm = True  # headers and body go out as two writes; Nagle would hold the body ~40 ms
    server: _Httpd

    def setup(self) -> None:
        super().setup()
        self.server.owner._connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._connection_closed(self.connection)

    def version_string(self) -> str:
        return self.server.owner.name

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # JsonHttpServer._record logs each request, without the query string

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s: %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET  # noqa: N815 - names http.server dispatches to

    def _serve(self) -> None:
        started = time.monotonic()
        split = urlsplit(self.path)
        try:
            body = self._read_body()
        except HttpError as exc:
            self.close_connection = True  # an unread body would be taken for the next request
            response = exc.response()
        else:
            headers = {k.lower(): v for k, v in self.headers.items()}
            query = parse_qs(split.query, keep_blank_values=True)
            response = self.server.owner._respond(Request(self.command, split.path, query, headers, body))
        # Recorded before the answer leaves, so a client that has its answer always finds it in the log.
        self.server.owner._record(self.command, split.path, response.status, time.monotonic() - started)
        self._write(response)

    def _read_body(self) -> bytes:
        if "Transfer-Encoding" in self.headers:
            raise HttpError(411, "chunked bodies are not accepted; send the body with a Content-Length")
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        if not _CONTENT_LENGTH.fullmatch(length_text.strip()):
            raise HttpError(400, "Content-Length must be a whole number of bytes")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise HttpError(413, f"the body is {length} bytes; at most {MAX_BODY_BYTES} are accepted")
        return self.rfile.read(length)

    def _write(self, response: Response) -> None:
        payload = b""
        if response.body is not None:
            payload = json.dumps(response.body, separators=(",", ":"), allow_nan=False).encode("utf-8")
        self.send_response(response.status)
        if payload:
            self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(payload)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, unknown method) in the JSON error shape."""
        self.close_connection = True
        path = urlsplit(getattr(self, "path", "") or "").path
        self.server.owner._record(getattr(self, "command", None) or "-", path, code, 0.0)
        self._write(error_response(code, message or HTTPStatus(code).phrase))
