"""The HTTP part shared by sensorkit's local cloud emulators (iobeam now, Byteport later).

An emulator is a function from `Request` to `Response` (usually a `Router`);
`JsonHttpServer` runs it on a threaded HTTP/1.1 keep-alive server and adds
what a client has to survive in the field: injected statuses, a seeded share
of 503s and of 429s with `Retry-After`, latency, and down time on the very
port the client will reach later.

One concept per module, imports in one direction::

    messages   Request, Response, HttpError, error_response   (no I/O)
    routing    Router: (method, path pattern) -> route; 404 / 405 with Allow
    faults     Faults: what goes wrong on purpose
    handler    the http.server glue: accept loop, request parsing, writing answers
    server     JsonHttpServer: life cycle, up and down, the request log

Every body is JSON with a Content-Length; every error, including 404/405
and the injected ones, has the shape ``{"errors": [{"code": int, "message":
str}]}``. Requests are logged by method, path and status only, because query
strings, headers and bodies may carry tokens.
"""
from __future__ import annotations

from sensorkit.emulators import EmulatorError, PortUnavailable
from sensorkit.emulators._http.faults import Faults
from sensorkit.emulators._http.handler import KEEP_ALIVE_IDLE_S, MAX_BODY_BYTES
from sensorkit.emulators._http.messages import JSON_TYPE, HttpError, Request, Response, error_response
from sensorkit.emulators._http.routing import Route, Router
from sensorkit.emulators._http.server import JsonHttpServer, RequestRecord

__all__ = ["JSON_TYPE", "KEEP_ALIVE_IDLE_S", "MAX_BODY_BYTES", "EmulatorError", "Faults", "HttpError",
           "JsonHttpServer", "PortUnavailable", "Request", "RequestRecord", "Response", "Route", "Router",
           "error_response"]
