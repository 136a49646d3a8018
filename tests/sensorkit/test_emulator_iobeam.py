"""The local iobeam server, through real HTTP on 127.0.0.1: the protocol, strictly, and its faults."""
from __future__ import annotations

import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from typing import Any, Callable

import pytest
import requests

from sensorkit import tokens
from sensorkit.clock import FakeClock
from sensorkit.emulators.iobeam import EmulatorError, IobeamEmulator, PortUnavailable

DEVICE = "pi-1"
T0_US = 1_700_000_000_000_000  # 2023-11-14 22:13:20 UTC
T0_MS = T0_US // 1000

MakeServer = Callable[..., IobeamEmulator]


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as client:
        yield client


@pytest.fixture
def emulator(make_iobeam_server: MakeServer, fake_clock: FakeClock) -> IobeamEmulator:
    """An iobeam server on `fake_clock`, so tokens expire when the test says."""
    return make_iobeam_server(clock=fake_clock)


@pytest.fixture
def server(emulator: IobeamEmulator, session: requests.Session) -> IobeamEmulator:
    """The iobeam server with DEVICE registered."""
    assert register(session, emulator).status_code == 201
    return emulator


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(response: requests.Response, status: int) -> dict[str, Any]:
    """The one error of an error answer, after checking the status and the error shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["errors"] and len(body["errors"]) == 1
    error = body["errors"][0]
    assert set(error) == {"code", "message"}
    assert isinstance(error["code"], int) and isinstance(error["message"], str)
    return error


def register(session: requests.Session, server: IobeamEmulator, device_id: str | None = DEVICE,
             token: str | None = None, **extra: Any) -> requests.Response:
    body: dict[str, Any] = {"project_id": server.project_id, **extra}
    if device_id is not None:
        body["device_id"] = device_id
    return session.post(f"{server.url}/v1/devices", json=body, headers=bearer(token or server.project_token))


def table_body(server: IobeamEmulator, rows: list[list[Any]], fields: tuple[str, ...] = ("time", "temperature"),
               **overrides: Any) -> dict[str, Any]:
    body = {"project_id": server.project_id, "device_id": DEVICE, "timefmt": "usec",
            "sources": {"fields": list(fields), "data": rows}}
    body.update(overrides)
    return body


def series_body(server: IobeamEmulator, sources: Any, **overrides: Any) -> dict[str, Any]:
    body = {"project_id": server.project_id, "device_id": DEVICE, "timefmt": "usec", "sources": sources}
    body.update(overrides)
    return body


def send(session: requests.Session, server: IobeamEmulator, body: Any, *, fmt: str | None = "table",
         token: str | None = None) -> requests.Response:
    return session.post(f"{server.url}/v1/imports", params={"fmt": fmt} if fmt else None, json=body,
                     headers=bearer(token or server.project_token))


def export(session: requests.Session, server: IobeamEmulator, device: str = "all", series: str = "all",
           token: str | None = None, **params: Any) -> requests.Response:
    return session.get(f"{server.url}/v1/exports/{server.project_id}/{device}/{series}", params=params,
                    headers=bearer(token or server.project_token))


# -- start, banner, routing --------------------------------------------------------------------------


def test_banner_first_line_is_the_listening_url(emulator: IobeamEmulator) -> None:
    lines = emulator.banner()
    assert lines[0] == f"listening on http://127.0.0.1:{emulator.port}"
    assert emulator.url == f"http://127.0.0.1:{emulator.port}" and emulator.port > 0


def test_banner_shows_project_id_and_tokens(emulator: IobeamEmulator) -> None:
    text = "\n".join(emulator.banner())
    assert "project id: 1" in text
    assert emulator.project_token in text and emulator.user_token in text
    claims = tokens.unverified_claims(emulator.project_token)
    assert (claims["read"], claims["write"], claims["refreshable"], claims["pid"]) == (True, True, True, 1)


def test_emulator_refuses_tokens_before_start() -> None:
    emulator = IobeamEmulator()
    with pytest.raises(EmulatorError, match="start"):
        emulator.issue_token()
    emulator.stop()  # idempotent, even unstarted


def test_emulator_context_manager_starts_and_stops(fake_clock: FakeClock) -> None:
    with IobeamEmulator(clock=fake_clock) as emulator:
        url = emulator.url
        assert requests.get(f"{url}/v1/devices/timestamp", headers=bearer(emulator.project_token)).ok
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/v1/devices/timestamp", timeout=2)


def test_routing_unknown_path_answers_404_in_the_error_shape(emulator: IobeamEmulator,
                                                              session: requests.Session) -> None:
    for path in ("/v1/nothing", "/v2/imports", "/v1/imports/", "/v1/exports/1/all"):
        error = error_of(session.get(emulator.url + path), 404)
        assert error["code"] == 404


def test_routing_wrong_method_answers_405_with_allow(emulator: IobeamEmulator, session: requests.Session) -> None:
    response = session.delete(f"{emulator.url}/v1/devices/timestamp")
    assert "use GET" in error_of(response, 405)["message"]
    assert response.headers["Allow"] == "GET"
    assert error_of(session.get(f"{emulator.url}/v1/imports"), 405)


def test_http_keeps_the_connection_alive(emulator: IobeamEmulator) -> None:
    connection = HTTPConnection("127.0.0.1", emulator.port, timeout=5)
    try:
        for _ in range(3):
            connection.request("GET", "/v1/devices/timestamp", headers=bearer(emulator.project_token))
            response = connection.getresponse()
            assert response.status == 200 and response.getheader("Content-Length") is not None
            response.read()
            assert response.getheader("Connection") is None and not response.will_close
        first_socket = connection.sock
        connection.request("GET", "/v1/nothing")
        connection.getresponse().read()
        assert connection.sock is first_socket
    finally:
        connection.close()


def test_http_refuses_a_body_that_is_not_json_typed(server: IobeamEmulator, session: requests.Session) -> None:
    response = session.post(f"{server.url}/v1/imports", data=b"{}", headers={
        **bearer(server.project_token), "Content-Type": "text/plain"})
    assert "application/json" in error_of(response, 415)["message"]


# -- register ----------------------------------------------------------------------------------------


def test_register_generates_device_id_and_name(emulator: IobeamEmulator, session: requests.Session) -> None:
    response = register(session, emulator, device_id=None)
    assert response.status_code == 201
    body = response.json()
    assert len(body["device_id"]) == 16 and body["device_id"].isalnum()
    assert body["device_name"] and body["project_id"] == 1
    assert body["created"] == "2023-11-14 22:13:20 +0000"
    other = register(session, emulator, device_id=None).json()
    assert other["device_id"] != body["device_id"] and other["device_name"] != body["device_name"]
    assert {d.device_id for d in emulator.devices()} == {body["device_id"], other["device_id"]}


def test_register_keeps_given_id_and_name(emulator: IobeamEmulator, session: requests.Session) -> None:
    response = register(session, emulator, device_id="green:house_1-a", device_name="Greenhouse")
    assert response.status_code == 201
    assert response.json()["device_id"] == "green:house_1-a" and response.json()["device_name"] == "Greenhouse"


def test_register_taken_id_answers_422_code_150(server: IobeamEmulator, session: requests.Session) -> None:
    error = error_of(register(session, server, device_id=DEVICE, device_name="another"), 422)
    assert error["code"] == 150 and DEVICE in error["message"]


def test_register_taken_name_answers_422_code_151(emulator: IobeamEmulator, session: requests.Session) -> None:
    assert register(session, emulator, device_id="a", device_name="shed").status_code == 201
    error = error_of(register(session, emulator, device_id="b", device_name="shed"), 422)
    assert error["code"] == 151 and "shed" in error["message"]


@pytest.mark.parametrize("device_id", ["", "a b", "pi/1", "pi\n", "dév", 5, None, True])
def test_register_bad_device_id_answers_400(emulator: IobeamEmulator, session: requests.Session,
                                            device_id: Any) -> None:
    response = session.post(f"{emulator.url}/v1/devices", json={"project_id": 1, "device_id": device_id},
                         headers=bearer(emulator.project_token))
    assert error_of(response, 400)["message"].startswith("device_id:")
    assert emulator.devices() == []


@pytest.mark.parametrize(("body", "fragment"), [
    ({"device_id": "x"}, "missing key 'project_id'"),
    ({"project_id": "1"}, "project_id: must be a positive integer"),
    ({"project_id": 1, "device_name": ""}, "device_name: must be a non-empty string"),
    ({"project_id": 1, "color": "red"}, "unknown key 'color'"),
])
def test_register_bad_body_answers_400(emulator: IobeamEmulator, session: requests.Session,
                                       body: dict[str, Any], fragment: str) -> None:
    response = session.post(f"{emulator.url}/v1/devices", json=body, headers=bearer(emulator.project_token))
    assert fragment in error_of(response, 400)["message"]


def test_register_other_project_answers_403(emulator: IobeamEmulator, session: requests.Session) -> None:
    response = session.post(f"{emulator.url}/v1/devices", json={"project_id": 2, "device_id": "x"},
                         headers=bearer(emulator.project_token))
    error_of(response, 403)


def test_register_needs_write_or_admin(emulator: IobeamEmulator, session: requests.Session) -> None:
    read_only = emulator.issue_token(write=False)
    assert "write or admin" in error_of(register(session, emulator, token=read_only), 403)["message"]
    admin = emulator.issue_token(write=False, admin=True)
    assert register(session, emulator, token=admin).status_code == 201


def test_register_device_token_registers_only_its_own_id(emulator: IobeamEmulator,
                                                         session: requests.Session) -> None:
    scoped = emulator.issue_token(device_id="pi-7")
    error_of(register(session, emulator, device_id="pi-8", token=scoped), 403)
    error_of(register(session, emulator, device_id=None, token=scoped), 403)
    assert register(session, emulator, device_id="pi-7", token=scoped).status_code == 201


# -- timestamp ---------------------------------------------------------------------------------------


def test_timestamp_reports_the_server_clock_in_ms(emulator: IobeamEmulator, session: requests.Session,
                                                  fake_clock: FakeClock) -> None:
    url = f"{emulator.url}/v1/devices/timestamp"
    response = session.get(url, headers=bearer(emulator.project_token))
    assert response.status_code == 200 and response.json() == {"server_timestamp": fake_clock.time_ms()}
    fake_clock.advance(5)
    assert session.get(url, headers=bearer(emulator.project_token)).json()["server_timestamp"] == T0_MS + 5000


def test_timestamp_of_the_fixture_server_is_the_system_clock(iobeam_server: IobeamEmulator,
                                                             session: requests.Session) -> None:
    before_ms = time.time_ns() // 1_000_000
    response = session.get(f"{iobeam_server.url}/v1/devices/timestamp", headers=bearer(iobeam_server.project_token))
    assert before_ms <= response.json()["server_timestamp"] <= time.time_ns() // 1_000_000
    assert iobeam_server.url == f"http://127.0.0.1:{iobeam_server.port}" and iobeam_server.db_path is None


def test_timestamp_needs_a_project_token(emulator: IobeamEmulator, session: requests.Session) -> None:
    error_of(session.get(f"{emulator.url}/v1/devices/timestamp"), 403)
    error_of(session.get(f"{emulator.url}/v1/devices/timestamp", headers=bearer(emulator.user_token)), 403)


# -- refresh -----------------------------------------------------------------------------------------


def refresh(session: requests.Session, server: IobeamEmulator, token: Any) -> requests.Response:
    return session.post(f"{server.url}/v1/tokens/project", json={"refresh_token": token})


def test_refresh_returns_a_new_working_token(server: IobeamEmulator, session: requests.Session) -> None:
    response = refresh(session, server, server.project_token)
    assert response.status_code == 200
    body = response.json()
    assert body["token"] != server.project_token and body["project_id"] == 1
    assert body["expires"] == "2023-12-19 22:13:20 +0000"  # five weeks on
    assert (body["read"], body["write"], body["admin"], body["refreshable"]) == (True, True, False, True)
    assert send(session, server, table_body(server, [[T0_US, 1.0]]), token=body["token"]).status_code == 200


def test_refresh_accepts_an_expired_refreshable_token(server: IobeamEmulator, session: requests.Session,
                                                      fake_clock: FakeClock) -> None:
    old = server.issue_token(ttl_s=3600)
    fake_clock.advance(10 * 86400)  # ten days offline
    assert "expired" in error_of(send(session, server, table_body(server, [[T0_US, 1]]), token=old), 401)["message"]
    response = refresh(session, server, old)
    assert response.status_code == 200
    new = response.json()["token"]
    claims = tokens.unverified_claims(new)
    assert claims["exp"] - claims["iat"] == 3600  # the old token's lifetime
    assert send(session, server, table_body(server, [[T0_US, 1]]), token=new).status_code == 200


def test_refresh_refuses_a_non_refreshable_token_with_401(emulator: IobeamEmulator,
                                                          session: requests.Session) -> None:
    token = emulator.issue_token(refreshable=False)
    assert "not refreshable" in error_of(refresh(session, emulator, token), 401)["message"]


def test_refresh_refuses_a_forged_signature_with_401(emulator: IobeamEmulator, session: requests.Session) -> None:
    claims = tokens.unverified_claims(emulator.project_token)
    forged = tokens.encode({**claims, "admin": True}, b"not the server's secret")
    assert "signature" in error_of(refresh(session, emulator, forged), 401)["message"]
    head, _, signature = emulator.project_token.split(".")
    tampered = ".".join([head, forged.split(".")[1], signature])
    error_of(refresh(session, emulator, tampered), 401)


@pytest.mark.parametrize("token", ["abc", "a.b.c", "e30.e30.e30", " "])
def test_refresh_refuses_a_malformed_token_with_401(emulator: IobeamEmulator, session: requests.Session,
                                                    token: str) -> None:
    error_of(refresh(session, emulator, token), 401)


def test_refresh_refuses_a_user_token_with_401(emulator: IobeamEmulator, session: requests.Session) -> None:
    assert "not a project token" in error_of(refresh(session, emulator, emulator.user_token), 401)["message"]


@pytest.mark.parametrize("body", [{}, {"refresh_token": 5}, {"refresh_token": ""}, {"refresh_token": "x", "other": 1},
                                  ["x"]])
def test_refresh_bad_body_answers_400(emulator: IobeamEmulator, session: requests.Session, body: Any) -> None:
    error_of(session.post(f"{emulator.url}/v1/tokens/project", json=body), 400)


# -- new project tokens from a user token ------------------------------------------------------------


def new_token(session: requests.Session, server: IobeamEmulator, token: str | None = None,
              **params: Any) -> requests.Response:
    return session.get(f"{server.url}/v1/tokens/project", params=params,
                    headers=bearer(token or server.user_token))


def test_user_token_gets_a_project_token_with_the_asked_permissions(server: IobeamEmulator,
                                                                     session: requests.Session) -> None:
    response = new_token(session, server, project_id=1, duration="3d", read="true", write="false",
                         refreshable="true", include_user="false")
    assert response.status_code == 200
    body = response.json()
    assert (body["read"], body["write"], body["admin"], body["refreshable"]) == (True, False, False, True)
    claims = tokens.unverified_claims(body["token"])
    assert claims["exp"] - claims["iat"] == 3 * 86400
    assert export(session, server, token=body["token"]).status_code == 200
    assert "write" in error_of(send(session, server, table_body(server, [[T0_US, 1]]), token=body["token"]),
                               403)["message"]


def test_user_token_permissions_default_to_false(emulator: IobeamEmulator, session: requests.Session) -> None:
    body = new_token(session, emulator, project_id=1).json()
    assert (body["read"], body["write"], body["admin"], body["refreshable"]) == (False, False, False, False)
    claims = tokens.unverified_claims(body["token"])
    assert claims["exp"] - claims["iat"] == 5 * 7 * 86400


def test_user_token_device_scoped_token_sends_only_for_its_device(server: IobeamEmulator,
                                                                  session: requests.Session) -> None:
    assert register(session, server, device_id="pi-2").status_code == 201
    body = new_token(session, server, project_id=1, write="true", device_id=DEVICE).json()
    assert body["device_id"] == DEVICE
    assert send(session, server, table_body(server, [[T0_US, 1]]), token=body["token"]).status_code == 200
    other = table_body(server, [[T0_US, 1]], device_id="pi-2")
    assert "limited to device" in error_of(send(session, server, other, token=body["token"]), 403)["message"]


@pytest.mark.parametrize(("params", "fragment"), [
    ({"project_id": 1, "duration": "5"}, "duration"),
    ({"project_id": 1, "duration": "5y"}, "duration"),
    ({"project_id": 1, "duration": "0w"}, "duration"),
    ({"project_id": 1, "duration": "1.5h"}, "duration"),
    ({"project_id": 1, "read": "yes"}, "read: must be true or false"),
    ({"project_id": "x"}, "project_id"),
    ({}, "project_id: missing"),
    ({"project_id": 1, "device_id": "a b"}, "device_id"),
    ({"project_id": 1, "colour": "red"}, "unknown query parameter 'colour'"),
    ({"project_id": [1, 1]}, "given 2 times"),
])
def test_user_token_bad_parameters_answer_400(emulator: IobeamEmulator, session: requests.Session,
                                              params: dict[str, Any], fragment: str) -> None:
    assert fragment in error_of(new_token(session, emulator, **params), 400)["message"]


def test_user_token_other_project_answers_403(emulator: IobeamEmulator, session: requests.Session) -> None:
    error_of(new_token(session, emulator, project_id=2), 403)


def test_user_token_call_refuses_project_tokens_and_expired_user_tokens(
        emulator: IobeamEmulator, session: requests.Session, fake_clock: FakeClock) -> None:
    assert "user token" in error_of(new_token(session, emulator, token=emulator.project_token,
                                              project_id=1), 403)["message"]
    fake_clock.advance(6 * 7 * 86400)
    error_of(new_token(session, emulator, project_id=1), 401)


# -- imports -----------------------------------------------------------------------------------------


def test_import_table_stores_points_and_skips_nulls(server: IobeamEmulator, session: requests.Session) -> None:
    body = table_body(server, [[T0_US, 21.5, 40], [T0_US + 1, None, 41]], fields=("time", "temp", "hum"))
    response = send(session, server, body)
    assert response.status_code == 200 and response.json() == {"points": 3}
    assert [tuple(p) for p in server.points()] == [
        (DEVICE, "hum", T0_US, 40), (DEVICE, "hum", T0_US + 1, 41), (DEVICE, "temp", T0_US, 21.5)]
    assert isinstance(server.points(series="hum")[0].value, int)


def test_import_series_format_stores_points(server: IobeamEmulator, session: requests.Session) -> None:
    sources = [{"name": "temp", "data": [{"time": T0_US, "value": 20}, {"time": T0_US + 5, "value": 20.5}]},
               {"name": "door", "data": []}]
    response = send(session, server, series_body(server, sources), fmt=None)
    assert response.status_code == 200 and response.json() == {"points": 2}
    assert [(p.series, p.time_us, p.value) for p in server.points(DEVICE)] == [
        ("temp", T0_US, 20), ("temp", T0_US + 5, 20.5)]


def test_import_series_format_takes_the_int64_edges(server: IobeamEmulator, session: requests.Session) -> None:
    edges = [{"time": 0, "value": -2**63}, {"time": 2**63 - 1, "value": 2**63 - 1}, {"time": 1, "value": -0.0}]
    response = send(session, server, series_body(server, [{"name": "edge", "data": edges}]), fmt=None)
    assert response.status_code == 200, response.text
    assert [(p.time_us, p.value) for p in server.points(DEVICE)] == [(0, -2**63), (1, -0.0), (2**63 - 1, 2**63 - 1)]


def test_import_table_format_takes_the_int64_edges(server: IobeamEmulator, session: requests.Session) -> None:
    rows = [[0, -2**63, None], [2**63 - 1, None, 2**63 - 1], [1, -0.0, 1.5]]
    response = send(session, server, table_body(server, rows, fields=("time", "a", "b")))
    assert response.status_code == 200 and response.json() == {"points": 4}, response.text
    assert [(p.series, p.time_us, p.value) for p in server.points(DEVICE)] == [
        ("a", 0, -2**63), ("a", 1, -0.0), ("b", 1, 1.5), ("b", 2**63 - 1, 2**63 - 1)]


def test_import_empty_table_is_accepted(server: IobeamEmulator, session: requests.Session) -> None:
    assert send(session, server, table_body(server, [])).json() == {"points": 0}


def test_import_repeated_point_replaces_the_stored_one(server: IobeamEmulator, session: requests.Session) -> None:
    body = table_body(server, [[T0_US, 1.0], [T0_US + 1, 2.0]])
    assert send(session, server, body).status_code == 200
    assert send(session, server, body).status_code == 200  # a retried batch
    assert send(session, server, table_body(server, [[T0_US, 9]])).status_code == 200
    assert [(p.time_us, p.value) for p in server.points()] == [(T0_US, 9), (T0_US + 1, 2.0)]


@pytest.mark.parametrize(("columns", "rows", "status"), [
    (1, 1000, 200), (1, 1001, 400), (3, 333, 200), (3, 334, 400), (1000, 1, 200), (1001, 1, 400),
])
def test_import_table_limit_is_1000_points(server: IobeamEmulator, session: requests.Session,
                                           columns: int, rows: int, status: int) -> None:
    fields = ("time", *(f"c{i}" for i in range(columns)))
    data = [[T0_US + r] + [r] * columns for r in range(rows)]
    response = send(session, server, table_body(server, data, fields=fields))
    assert response.status_code == status, response.text
    if status == 400:
        assert "at most 1000 points" in error_of(response, 400)["message"]
        assert server.points() == []
    else:
        assert len(server.points()) == rows * columns


def test_import_table_limit_counts_nulls(server: IobeamEmulator, session: requests.Session) -> None:
    data = [[T0_US + r, None, None] for r in range(501)]
    message = error_of(send(session, server, table_body(server, data, fields=("time", "a", "b"))), 400)["message"]
    assert "501 rows x 2 columns = 1002 points" in message


@pytest.mark.parametrize(("sizes", "status"), [((1000,), 200), ((500, 500), 200), ((500, 501), 400), ((1001,), 400)])
def test_import_series_limit_counts_every_source(server: IobeamEmulator, session: requests.Session,
                                                 sizes: tuple[int, ...], status: int) -> None:
    sources = [{"name": f"s{i}", "data": [{"time": T0_US + t, "value": t} for t in range(n)]}
               for i, n in enumerate(sizes)]
    response = send(session, server, series_body(server, sources), fmt=None)
    assert response.status_code == status
    if status == 400:
        assert "at most 1000 points" in error_of(response, 400)["message"]


def test_import_error_says_what_and_where(server: IobeamEmulator, session: requests.Session) -> None:
    rows = [[T0_US + r, r, r] for r in range(5)]
    rows[3][2] = "abc"
    response = send(session, server, table_body(server, rows, fields=("time", "a", "b")))
    assert error_of(response, 400)["message"] == 'sources.data[3][2]: value must be a number or null, not "abc"'
    assert server.points() == []  # nothing of a refused batch is stored


TABLE_ERRORS = [
    pytest.param(["time", "Time"], [], "sources.fields[1]: 'Time' is reserved", id="reserved-Time"),
    pytest.param(["time", "TIME_OFFSET"], [], "'TIME_OFFSET' is reserved", id="reserved-TIME_OFFSET"),
    pytest.param(["time", "a", "All"], [], "sources.fields[2]: 'All' is reserved", id="reserved-All"),
    pytest.param(["time", "a", "a"], [], "sources.fields[2]: column 'a' appears twice", id="duplicate"),
    pytest.param(["time", "a"], [[T0_US, True]], "sources.data[0][1]: value must be a number or null, not true",
                 id="bool-value"),
    pytest.param(["time", "a"], [[T0_US, "1"]], 'value must be a number or null, not "1"', id="string-value"),
    pytest.param(["time", "a"], [[T0_US, [1]]], "value must be a number or null, not [1]", id="list-value"),
    pytest.param(["time", "a"], [[1.5, 1]], "sources.data[0][0]: time must be a non-negative integer",
                 id="float-time"),
    pytest.param(["time", "a"], [[float(T0_US), 1]], "time must be a non-negative integer", id="float-whole-time"),
    pytest.param(["time", "a"], [[-1, 1]], "time must be a non-negative integer", id="negative-time"),
    pytest.param(["time", "a"], [[True, 1]], "time must be a non-negative integer", id="bool-time"),
    pytest.param(["time", "a"], [[None, 1]], "time must be a non-negative integer", id="null-time"),
    pytest.param(["time", "a"], [[T0_US]], "sources.data[0]: a row must be a list of 2 items", id="short-row"),
    pytest.param(["time", "a"], [[T0_US, 1, 2]], "a row must be a list of 2 items", id="long-row"),
    pytest.param(["time", "a"], [{"time": T0_US}], "a row must be a list", id="object-row"),
    pytest.param(["time", "a"], [[T0_US, 2**63]], "out of range", id="huge-int"),
    pytest.param(["time", "a", "b"], [[T0_US, 1, None], [T0_US + 1, None, -2**63 - 1]],
                 "sources.data[1][2]: value -9223372036854775809 is out of range", id="huge-negative-after-null"),
    pytest.param(["time", "a"], [[2**63, 1]], "is too large", id="huge-time"),
    pytest.param(["a", "time"], [], 'sources.fields[0]: must be "time", not "a"', id="time-not-first"),
    pytest.param(["TIME", "a"], [], 'sources.fields[0]: must be "time"', id="time-wrong-case"),
    pytest.param(["time"], [], "at least one column", id="no-columns"),
    pytest.param(["time", ""], [], "sources.fields[1]: a series name must be a non-empty string", id="empty-name"),
    pytest.param(["time", 5], [], "a series name must be a non-empty string, not 5", id="number-name"),
    pytest.param("time,a", [], "sources.fields", id="fields-not-list"),
    pytest.param(["time", "a"], {"0": [T0_US, 1]}, "sources.data: must be a list", id="data-not-list"),
]


@pytest.mark.parametrize(("fields", "rows", "fragment"), TABLE_ERRORS)
def test_import_table_validation_answers_400(server: IobeamEmulator, session: requests.Session,
                                             fields: Any, rows: Any, fragment: str) -> None:
    body = table_body(server, [])
    body["sources"] = {"fields": fields, "data": rows}
    assert fragment in error_of(send(session, server, body), 400)["message"]
    assert server.points() == []


SERIES_ERRORS = [
    pytest.param({"name": "ALL", "data": []}, "sources[0].name: 'ALL' is reserved", id="reserved"),
    pytest.param({"name": "t", "data": [{"time": T0_US, "value": None}]},
                 "sources[0].data[0]: value must be a number, not null", id="null-value"),
    pytest.param({"name": "t", "data": [{"time": T0_US, "value": False}]}, "value must be a number, not false",
                 id="bool-value"),
    pytest.param({"name": "t", "data": [{"time": T0_US, "value": "2"}]}, 'value must be a number, not "2"',
                 id="string-value"),
    pytest.param({"name": "t", "data": [{"time": 1.0, "value": 2}]}, "sources[0].data[0]: time must be",
                 id="float-time"),
    pytest.param({"name": "t", "data": [{"time": T0_US}]}, "sources[0].data[0]: missing key 'value'",
                 id="missing-value"),
    pytest.param({"name": "t", "data": [{"time": T0_US, "value": 1, "unit": "C"}]}, "unknown key 'unit'",
                 id="extra-key"),
    pytest.param({"name": "t", "data": [[T0_US, 1]]}, 'sources[0].data[0]: must be an object', id="row-point"),
    pytest.param({"name": "t", "data": [{"time": T0_US, "value": 1}, {"time": -1, "value": 1}]},
                 "sources[0].data[1]: time must be a non-negative integer", id="negative-time"),
    pytest.param({"name": "t", "data": [{"time": 2**63, "value": 1}]}, "is too large", id="huge-time"),
    pytest.param({"name": "t", "data": [{"time": T0_US, "value": 2**63}]}, "out of range", id="huge-int"),
    pytest.param({"name": "t", "data": [{"time": T0_US, "value": -2**63 - 1}]}, "out of range", id="huge-negative"),
    pytest.param({"name": "t", "data": [{"value": 1, "unit": "C"}]}, "missing key 'time'", id="two-keys-no-time"),
    pytest.param({"data": []}, "sources[0]: missing key 'name'", id="no-name"),
    pytest.param("t", "sources[0]: must be an object", id="source-not-object"),
]


@pytest.mark.parametrize(("source", "fragment"), SERIES_ERRORS)
def test_import_series_validation_answers_400(server: IobeamEmulator, session: requests.Session,
                                              source: Any, fragment: str) -> None:
    response = send(session, server, series_body(server, [source]), fmt=None)
    assert fragment in error_of(response, 400)["message"]


def test_import_series_duplicate_names_answer_400(server: IobeamEmulator, session: requests.Session) -> None:
    sources = [{"name": "t", "data": []}, {"name": "t", "data": []}]
    assert "appears twice" in error_of(send(session, server, series_body(server, sources), fmt=None), 400)["message"]


def test_import_format_mismatch_answers_400(server: IobeamEmulator, session: requests.Session) -> None:
    table = table_body(server, [[T0_US, 1]])
    assert "fmt=table" in error_of(send(session, server, table, fmt=None), 400)["message"]
    series = series_body(server, [{"name": "t", "data": []}])
    assert "table format needs an object" in error_of(send(session, server, series), 400)["message"]


ENVELOPE_ERRORS = [
    pytest.param({"timefmt": "msec"}, 'timefmt: must be "usec"', id="timefmt-msec"),
    pytest.param({"timefmt": "sec"}, 'timefmt: must be "usec"', id="timefmt-sec"),
    pytest.param({"timefmt": None}, 'timefmt: must be "usec"', id="timefmt-null"),
    pytest.param({"project_id": "1"}, "project_id: must be a positive integer", id="project-string"),
    pytest.param({"project_id": True}, "project_id: must be a positive integer", id="project-bool"),
    pytest.param({"device_id": "a b"}, "device_id:", id="device-bad"),
    pytest.param({"device_id": ""}, "device_id:", id="device-empty"),
    pytest.param({"extra": 1}, "body: unknown key 'extra'", id="unknown-key"),
]


@pytest.mark.parametrize(("overrides", "fragment"), ENVELOPE_ERRORS)
def test_import_envelope_validation_answers_400(server: IobeamEmulator, session: requests.Session,
                                                overrides: dict[str, Any], fragment: str) -> None:
    body = table_body(server, [[T0_US, 1]], **overrides)
    assert fragment in error_of(send(session, server, body), 400)["message"]


@pytest.mark.parametrize("key", ["project_id", "device_id", "timefmt", "sources"])
def test_import_missing_key_answers_400(server: IobeamEmulator, session: requests.Session, key: str) -> None:
    body = table_body(server, [[T0_US, 1]])
    del body[key]
    assert f"body: missing key '{key}'" in error_of(send(session, server, body), 400)["message"]


def test_import_unknown_fmt_answers_400(server: IobeamEmulator, session: requests.Session) -> None:
    for fmt in ("series", "csv", "TABLE", ""):
        assert "fmt" in error_of(send(session, server, table_body(server, [[T0_US, 1]]), fmt=fmt), 400)["message"]


def test_import_other_project_answers_403(server: IobeamEmulator, session: requests.Session) -> None:
    error_of(send(session, server, table_body(server, [[T0_US, 1]], project_id=2)), 403)


def test_import_unregistered_device_answers_404(server: IobeamEmulator, session: requests.Session) -> None:
    body = table_body(server, [[T0_US, 1]], device_id="pi-unknown")
    assert "register it" in error_of(send(session, server, body), 404)["message"]


@pytest.mark.parametrize("raw", [b"{", b"{'a': 1}", b'{"project_id": NaN}', b"[1, 2", b"\xff\xfe", b""])
def test_import_malformed_json_answers_400(server: IobeamEmulator, session: requests.Session, raw: bytes) -> None:
    response = session.post(f"{server.url}/v1/imports", params={"fmt": "table"}, data=raw,
                         headers={**bearer(server.project_token), "Content-Type": "application/json"})
    error_of(response, 400)


@pytest.mark.parametrize("body", [[], [1, 2], "text", 5, True])
def test_import_non_object_body_answers_400(server: IobeamEmulator, session: requests.Session, body: Any) -> None:
    assert "must be a JSON object" in error_of(send(session, server, body), 400)["message"]


def test_import_unknown_query_parameter_answers_400(server: IobeamEmulator, session: requests.Session) -> None:
    response = session.post(f"{server.url}/v1/imports?fmt=table&debug=1", json=table_body(server, [[T0_US, 1]]),
                         headers=bearer(server.project_token))
    assert "'debug'" in error_of(response, 400)["message"]


def test_reject_series_refuses_imports_naming_them(server: IobeamEmulator, session: requests.Session) -> None:
    server.reject_series("secret_sauce", "b")
    body = table_body(server, [[T0_US, 1, None, 3]], fields=("time", "a", "b", "secret_sauce"))
    message = error_of(send(session, server, body), 400)["message"]
    assert "'b', 'secret_sauce'" in message and server.points() == []
    assert send(session, server, table_body(server, [[T0_US, 1]], fields=("time", "a"))).status_code == 200
    server.reject_series()
    assert send(session, server, body).status_code == 200


def test_imports_are_logged_in_order_with_repeats_when_kept(make_iobeam_server: MakeServer,
                                                            session: requests.Session) -> None:
    emulator = make_iobeam_server(keep_imports=True)
    assert register(session, emulator).status_code == 201
    for rows in ([[T0_US, 1], [T0_US + 1, 2]], [[T0_US + 1, 2]]):
        assert send(session, emulator, table_body(emulator, rows)).status_code == 200
    emulator.reject_series("temperature")
    assert send(session, emulator, table_body(emulator, [[T0_US + 2, 3]])).status_code == 400
    first, again = emulator.imports  # the refused one is not there
    assert [(p.series, p.time_us, p.value) for p in first.points] == [
        ("temperature", T0_US, 1), ("temperature", T0_US + 1, 2)]
    assert again.device_id == DEVICE and [p.time_us for p in again.points] == [T0_US + 1]
    assert len(emulator.points()) == 2  # stored once: the repeat replaced


def test_accepted_points_count_every_accepted_point_without_a_query(server: IobeamEmulator,
                                                                   session: requests.Session) -> None:
    assert server.accepted_points == 0 and not server.wait_for_points(1, timeout_s=0)
    waiter_saw: list[bool] = []
    waiter = threading.Thread(target=lambda: waiter_saw.append(server.wait_for_points(3, timeout_s=10)))
    waiter.start()
    for rows in ([[T0_US, 1], [T0_US + 1, 2]], [[T0_US + 1, 2]]):  # the repeat counts again
        assert send(session, server, table_body(server, rows)).status_code == 200
    server.reject_series("temperature")
    assert send(session, server, table_body(server, [[T0_US + 2, 3]])).status_code == 400  # refused: not counted
    waiter.join(10)
    assert waiter_saw == [True] and server.accepted_points == 3 and len(server.points()) == 2
    assert not server.wait_for_points(4, timeout_s=0)


def test_imports_are_not_logged_unless_asked(server: IobeamEmulator) -> None:
    with pytest.raises(EmulatorError, match="keep_imports"):
        _ = server.imports


@pytest.mark.parametrize(("stage", "stored_while_held"), [("before_store", 0), ("after_store", 1)])
def test_hold_imports_keeps_a_send_in_flight_until_released(server: IobeamEmulator, stage: str,
                                                            stored_while_held: int) -> None:
    held = server.hold_imports(stage)
    answers: list[int] = []

    def client() -> None:
        with requests.Session() as own:
            answers.append(send(own, server, table_body(server, [[T0_US, 1]])).status_code)

    thread = threading.Thread(target=client)
    thread.start()
    assert held.wait(10), "the import never reached the hold"
    assert answers == [] and len(server.points()) == stored_while_held
    assert server.held_import is not None and [p.time_us for p in server.held_import.points] == [T0_US]
    server.release_imports()
    thread.join(10)
    assert answers == [200] and len(server.points()) == 1


def test_hold_imports_refuses_an_unknown_stage(emulator: IobeamEmulator) -> None:
    with pytest.raises(ValueError, match="before_store"):
        emulator.hold_imports("mid_air")


# -- auth --------------------------------------------------------------------------------------------


def test_auth_missing_token_answers_403(server: IobeamEmulator, session: requests.Session) -> None:
    response = session.post(f"{server.url}/v1/imports", params={"fmt": "table"}, json=table_body(server, [[T0_US, 1]]))
    assert "missing credentials" in error_of(response, 403)["message"]
    response = session.post(f"{server.url}/v1/imports", params={"fmt": "table"}, json=table_body(server, [[T0_US, 1]]),
                         headers={"Authorization": server.project_token})  # no Bearer
    error_of(response, 403)


def test_auth_forged_token_answers_403(server: IobeamEmulator, session: requests.Session) -> None:
    forged = tokens.encode(tokens.unverified_claims(server.project_token), b"guess")
    assert "signature" in error_of(send(session, server, table_body(server, [[T0_US, 1]]), token=forged),
                                   403)["message"]
    error_of(send(session, server, table_body(server, [[T0_US, 1]]), token="not-a-jwt"), 403)


def test_auth_expired_token_answers_401_saying_so(server: IobeamEmulator, session: requests.Session,
                                                  fake_clock: FakeClock) -> None:
    token = server.issue_token(ttl_s=60)
    assert send(session, server, table_body(server, [[T0_US, 1]]), token=token).status_code == 200
    fake_clock.advance(60)
    message = error_of(send(session, server, table_body(server, [[T0_US, 1]]), token=token), 401)["message"]
    assert "expired" in message and token not in message


def test_auth_read_only_token_is_refused_for_imports(server: IobeamEmulator, session: requests.Session) -> None:
    read_only = server.issue_token(write=False)
    assert "write permission" in error_of(send(session, server, table_body(server, [[T0_US, 1]]), token=read_only),
                                          403)["message"]
    assert server.points() == []


def test_auth_user_token_is_refused_for_imports(server: IobeamEmulator, session: requests.Session) -> None:
    error_of(send(session, server, table_body(server, [[T0_US, 1]]), token=server.user_token), 403)


def test_auth_comes_before_body_checks(server: IobeamEmulator, session: requests.Session) -> None:
    response = session.post(f"{server.url}/v1/imports", data=b"{", headers={"Content-Type": "application/json"})
    error_of(response, 403)


# -- exports -----------------------------------------------------------------------------------------


@pytest.fixture
def stocked(server: IobeamEmulator, session: requests.Session) -> IobeamEmulator:
    """DEVICE with temp (ints at T0, +1 ms, +2 ms) and hum; pi-2 with temp; pi-3 with nothing."""
    for device in ("pi-2", "pi-3"):
        assert register(session, server, device_id=device).status_code == 201
    rows = [[T0_US, 20, 50.5], [T0_US + 1000, 21, None], [T0_US + 2000, 22, 51.5]]
    assert send(session, server, table_body(server, rows, fields=("time", "temp", "hum"))).status_code == 200
    assert send(session, server, table_body(server, [[T0_US + 1500, 7.25]], device_id="pi-2",
                                         fields=("time", "temp"))).status_code == 200
    return server


def test_export_shape_lists_devices_and_series_in_order(stocked: IobeamEmulator, session: requests.Session) -> None:
    response = export(session, stocked)
    assert response.status_code == 200
    assert response.json() == {"timefmt": "msec", "result": [
        {"project_id": 1, "device_id": DEVICE, "sources": [
            {"name": "hum", "data": [{"time": T0_MS, "value": 50.5}, {"time": T0_MS + 2, "value": 51.5}]},
            {"name": "temp", "data": [{"time": T0_MS, "value": 20}, {"time": T0_MS + 1, "value": 21},
                                      {"time": T0_MS + 2, "value": 22}]}]},
        {"project_id": 1, "device_id": "pi-2", "sources": [
            {"name": "temp", "data": [{"time": T0_MS + 1, "value": 7.25}]}]},
        {"project_id": 1, "device_id": "pi-3", "sources": []},
    ]}
    assert isinstance(response.json()["result"][0]["sources"][1]["data"][0]["value"], int)


def test_export_one_device_and_one_series(stocked: IobeamEmulator, session: requests.Session) -> None:
    result = export(session, stocked, device=DEVICE, series="hum").json()["result"]
    assert [(r["device_id"], [s["name"] for s in r["sources"]]) for r in result] == [(DEVICE, ["hum"])]
    result = export(session, stocked, series="temp").json()["result"]
    assert [[s["name"] for s in r["sources"]] for r in result] == [["temp"], ["temp"], []]


def test_export_from_and_to_are_inclusive_ms(stocked: IobeamEmulator, session: requests.Session) -> None:
    data = export(session, stocked, device=DEVICE, series="temp", **{"from": T0_MS + 1, "to": T0_MS + 2}).json()
    assert [p["time"] for p in data["result"][0]["sources"][0]["data"]] == [T0_MS + 1, T0_MS + 2]
    data = export(session, stocked, device="pi-2", series="temp", **{"from": T0_MS + 1, "to": T0_MS + 1}).json()
    assert data["result"][0]["sources"][0]["data"] == [{"time": T0_MS + 1, "value": 7.25}]  # 1.5 ms is inside ms 1


def test_export_limit_keeps_the_newest_points_per_series(stocked: IobeamEmulator, session: requests.Session) -> None:
    result = export(session, stocked, device=DEVICE, limit=1).json()["result"]
    assert {s["name"]: s["data"] for s in result[0]["sources"]} == {
        "hum": [{"time": T0_MS + 2, "value": 51.5}], "temp": [{"time": T0_MS + 2, "value": 22}]}
    data = export(session, stocked, device=DEVICE, series="temp", limit=2).json()["result"][0]["sources"][0]["data"]
    assert [p["time"] for p in data] == [T0_MS + 1, T0_MS + 2]


@pytest.mark.parametrize(("timefmt", "first"), [("usec", T0_US), ("msec", T0_MS), ("sec", T0_US // 1_000_000)])
def test_export_timefmt_converts_times(stocked: IobeamEmulator, session: requests.Session,
                                       timefmt: str, first: int) -> None:
    body = export(session, stocked, device="pi-2", timefmt=timefmt).json()
    assert body["timefmt"] == timefmt
    assert body["result"][0]["sources"][0]["data"][0]["time"] == (T0_US + 1500) // (T0_US // first)


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": "x"}, {"limit": 100_001}, {"limit": -1}, {"from": "1.5"}, {"to": "-3"},
    {"from": 10, "to": 5}, {"timefmt": "ns"}, {"output": "csv"},
])
def test_export_bad_parameters_answer_400(stocked: IobeamEmulator, session: requests.Session,
                                          params: dict[str, Any]) -> None:
    error_of(export(session, stocked, **params), 400)


def test_export_other_project_answers_404(stocked: IobeamEmulator, session: requests.Session) -> None:
    response = session.get(f"{stocked.url}/v1/exports/2/all/all", headers=bearer(stocked.project_token))
    assert "project 2" in error_of(response, 404)["message"]
    error_of(session.get(f"{stocked.url}/v1/exports/one/all/all", headers=bearer(stocked.project_token)), 400)


def test_export_unknown_device_answers_404(stocked: IobeamEmulator, session: requests.Session) -> None:
    error_of(export(session, stocked, device="pi-9"), 404)


def test_export_needs_read_permission(stocked: IobeamEmulator, session: requests.Session) -> None:
    write_only = stocked.issue_token(read=False)
    error_of(export(session, stocked, token=write_only), 403)


def test_export_device_token_reads_only_its_device(stocked: IobeamEmulator, session: requests.Session) -> None:
    scoped = stocked.issue_token(device_id="pi-2")
    assert export(session, stocked, device="pi-2", token=scoped).status_code == 200
    error_of(export(session, stocked, device=DEVICE, token=scoped), 403)
    error_of(export(session, stocked, token=scoped), 403)


# -- persistence -------------------------------------------------------------------------------------


def test_sqlite_restart_keeps_devices_points_and_tokens(make_iobeam_server: MakeServer, session: requests.Session,
                                                        tmp_path: Any) -> None:
    db = tmp_path / "iobeam.db"
    first = make_iobeam_server(db_path=db)
    assert register(session, first, device_name="Shed").status_code == 201
    token = first.project_token
    assert send(session, first, table_body(first, [[T0_US, 1.5]])).status_code == 200
    first.stop()

    second = make_iobeam_server(db_path=db)
    assert [(d.device_id, d.device_name) for d in second.devices()] == [(DEVICE, "Shed")]
    assert [(p.time_us, p.value) for p in second.points()] == [(T0_US, 1.5)]
    assert send(session, second, table_body(second, [[T0_US + 1, 2]]), token=token).status_code == 200
    assert refresh(session, second, token).status_code == 200
    assert error_of(register(session, second, token=token), 422)["code"] == 150


def test_sqlite_explicit_secret_wins_over_the_stored_one(make_iobeam_server: MakeServer, session: requests.Session,
                                                         tmp_path: Any) -> None:
    db = tmp_path / "iobeam.db"
    first = make_iobeam_server(db_path=db)
    token = first.project_token
    first.stop()
    second = make_iobeam_server(db_path=db, secret=b"explicit secret")
    error_of(session.get(f"{second.url}/v1/devices/timestamp", headers=bearer(token)), 403)
    third = make_iobeam_server(secret=b"explicit secret")
    assert session.get(f"{third.url}/v1/devices/timestamp", headers=bearer(second.project_token)).ok


def test_sqlite_foreign_database_is_refused(tmp_path: Any) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE readings (x)")
    with pytest.raises(EmulatorError, match="other tables"):
        IobeamEmulator(db_path=other).start()
    text = tmp_path / "notes.txt"
    text.write_text("not a database, just some words that are long enough to be a header" * 20)
    with pytest.raises(EmulatorError, match="notes.txt"):
        IobeamEmulator(db_path=text).start()


# -- faults ------------------------------------------------------------------------------------------


def timestamp_status(session: requests.Session, server: IobeamEmulator) -> int:
    return session.get(f"{server.url}/v1/devices/timestamp", headers=bearer(server.project_token)).status_code


def test_inject_503_then_success(server: IobeamEmulator, session: requests.Session) -> None:
    server.inject(503, count=2)
    body = table_body(server, [[T0_US, 1]])
    for _ in range(2):
        assert error_of(send(session, server, body), 503)["code"] == 503
    assert server.points() == []
    assert send(session, server, body).status_code == 200
    assert server.request_count("POST", "/v1/imports", 503) == 2
    assert server.request_count(path="/v1/imports") == 3


def test_inject_2xx_lets_a_request_through_in_a_script(server: IobeamEmulator, session: requests.Session) -> None:
    server.inject(200)
    server.inject(503)
    statuses = [send(session, server, table_body(server, [[T0_US + i, i]])).status_code for i in range(3)]
    assert statuses == [200, 503, 200]
    assert [p.time_us for p in server.points()] == [T0_US, T0_US + 2]
    with pytest.raises(ValueError):
        server.inject(302)


def test_inject_429_carries_retry_after(emulator: IobeamEmulator, session: requests.Session) -> None:
    emulator.inject(429)
    emulator.inject(429, retry_after_s=2.5)
    emulator.inject(503, retry_after_s=30)
    url = f"{emulator.url}/v1/devices/timestamp"
    answers = [session.get(url, headers=bearer(emulator.project_token)) for _ in range(4)]
    assert [a.status_code for a in answers] == [429, 429, 503, 200]
    assert [a.headers.get("Retry-After") for a in answers] == ["1", "3", "30", None]
    assert "retry after 1 s" in error_of(answers[0], 429)["message"]


def test_fail_rate_with_a_seed_repeats_its_faults(make_iobeam_server: MakeServer, session: requests.Session) -> None:
    runs = []
    for _ in range(2):
        server = make_iobeam_server(fail_rate=0.5, seed=7)
        runs.append([timestamp_status(session, server) for _ in range(20)])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 503}


def test_throttle_rate_answers_429_with_retry_after(make_iobeam_server: MakeServer, session: requests.Session) -> None:
    server = make_iobeam_server(throttle_rate=1.0, retry_after_s=4)
    response = session.get(f"{server.url}/v1/devices/timestamp", headers=bearer(server.project_token))
    assert error_of(response, 429) and response.headers["Retry-After"] == "4"


def test_latency_delays_the_answer(make_iobeam_server: MakeServer, session: requests.Session) -> None:
    server = make_iobeam_server(latency_ms=80)
    started = time.monotonic()
    assert timestamp_status(session, server) == 200
    assert time.monotonic() - started >= 0.08


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_set_down_refuses_connections_then_accepts_on_the_same_port(emulator: IobeamEmulator,
                                                                    session: requests.Session) -> None:
    port = emulator.port
    assert timestamp_status(session, emulator) == 200  # leaves a keep-alive connection in the pool
    emulator.set_down(True)
    assert emulator.down and refused(port)
    with pytest.raises(requests.ConnectionError):
        timestamp_status(session, emulator)
    emulator.set_down(False)
    assert emulator.port == port and not emulator.down
    assert timestamp_status(session, emulator) == 200


def test_down_for_refuses_at_start_then_listens(make_iobeam_server: MakeServer, session: requests.Session) -> None:
    server = make_iobeam_server(down_for_s=0.2)
    assert server.banner()[0] == f"listening on http://127.0.0.1:{server.port}"
    assert refused(server.port)
    deadline = time.monotonic() + 5
    while server.down and time.monotonic() < deadline:  # waits for the server's own timer, not for fake time
        time.sleep(0.01)
    assert timestamp_status(session, server) == 200


def test_down_for_ends_early_with_set_down_false(make_iobeam_server: MakeServer, session: requests.Session) -> None:
    server = make_iobeam_server(down_for_s=600)
    assert refused(server.port)
    server.set_down(False)
    assert timestamp_status(session, server) == 200


def test_requests_log_records_method_path_and_status(server: IobeamEmulator, session: requests.Session) -> None:
    send(session, server, table_body(server, [[T0_US, 1]]))
    session.get(f"{server.url}/v1/nothing?token=x")
    assert server.requests[-2:] == [("POST", "/v1/imports", 200), ("GET", "/v1/nothing", 404)]
    assert server.requests[0] == ("POST", "/v1/devices", 201)


def test_logging_never_shows_tokens(server: IobeamEmulator, session: requests.Session,
                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sensorkit")
    forged = tokens.encode({"typ": "project"}, b"x")
    send(session, server, table_body(server, [[T0_US, 1]]))
    send(session, server, table_body(server, [[T0_US, 1]]), token=forged)
    refresh(session, server, server.project_token)
    new_token(session, server, project_id=1)
    assert "/v1/imports" in caplog.text
    for secret in (server.project_token, server.user_token, forged):
        assert secret not in caplog.text


@pytest.mark.parametrize("options", [
    {"fail_rate": 1.5}, {"throttle_rate": -0.1}, {"fail_rate": 0.6, "throttle_rate": 0.6}, {"latency_ms": -1},
    {"project_id": 0}, {"token_ttl_s": 0}, {"secret": b""}, {"down_for_s": -1}, {"port": 70000},
])
def test_emulator_refuses_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        IobeamEmulator(**options)


def test_emulator_port_taken_raises_emulator_error(emulator: IobeamEmulator) -> None:
    other = IobeamEmulator(port=emulator.port)
    with pytest.raises(PortUnavailable, match="choose another port") as caught:
        other.start()
    assert isinstance(caught.value, OSError) and isinstance(caught.value, EmulatorError)
    assert caught.value.strerror == "Address already in use"
