"""The HTTP part the emulators share, through a real socket: what a route returns is what the client reads."""
from __future__ import annotations

from collections.abc import Iterator
from http.client import HTTPConnection

import pytest

from sensorkit.emulators._http import JsonHttpServer, Response, Router


@pytest.fixture
def server() -> Iterator[JsonHttpServer]:
    router = Router()
    router.add("GET", r"/login/", lambda request, _: Response(
        200, {"ok": True}, [("Set-Cookie", "csrftoken=abc; Path=/"), ("Set-Cookie", "sessionid=xyz; HttpOnly")]))
    router.add("GET", r"/plain/", lambda request, _: Response(200, None, {"X-Kind": "mapping"}))
    http = JsonHttpServer(router)
    http.start()
    yield http
    http.stop()


def get(server: JsonHttpServer, path: str):
    connection = HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def test_http_sends_a_repeated_header_once_per_value(server: JsonHttpServer) -> None:
    response = get(server, "/login/")
    assert response.status == 200
    assert response.msg.get_all("Set-Cookie") == ["csrftoken=abc; Path=/", "sessionid=xyz; HttpOnly"]


def test_http_sends_headers_given_as_a_mapping(server: JsonHttpServer) -> None:
    response = get(server, "/plain/")
    assert response.status == 200 and response.getheader("X-Kind") == "mapping"
    assert response.getheader("Content-Length") == "0"

