"""The http.server part: an accept loop that stops at once, and a handler that turns bytes into `Request`s.

Every body is JSON with a Content-Length; http.server's own errors (a bad
request line, an unknown method) are answered in the JSON error shape too.
"""
from __future__ import annotations

import json
import logging
import re
import selectors
import socket
import socketserver
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from sensorkit.emulators._http.messages import JSON_TYPE, HttpError, Request, Response, error_response

if TYPE_CHECKING:
    from sensorkit.emulators._http.server import JsonHttpServer

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024  # far above any legal request; keeps a runaway client from filling memory
KEEP_ALIVE_IDLE_S = 75.0  # an idle keep-alive connection is closed after this long (nginx's default)
_CONTENT_LENGTH = re.compile(r"[0-9]+")
_QUERY = re.compile(r"\?[^\s'\"]*")


def accept_loop(httpd: Httpd, wake: socket.socket) -> None:
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


class Httpd(ThreadingHTTPServer):
    """One listening socket of a `JsonHttpServer`, which decides when it binds, listens and closes."""

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
    server: Httpd

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
        # http.server's messages can quote the request line; its query string may hold a key.
        log.debug("%s: %s", self.address_string(), _QUERY.sub("?...", format % args))

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
            response = self.server.owner._respond(Request(self.command, split.path, query, headers, body, self.path))
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
        for name, value in response.header_pairs():
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
