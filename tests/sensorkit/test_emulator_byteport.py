"""The local Byteport server, spoken to with plain requests: every rule of the protocol page, strictly."""
from __future__ import annotations

import sqlite3

import pytest
import requests

from sensorkit.clock import FakeClock
from sensorkit.emulators.byteport import ByteportEmulator, DatabaseUnusable
from sensorkit.emulators.byteport.wire import parse_ts, parse_value, unpack_object

TIMEOUT = 10


def store_url(server, uid="dev-1", namespace=None):
    return f"{server.url}/api/v1/timeseries/{namespace or server.namespace}/{uid}/"


def post(server, fields, uid="dev-1", **kwargs):
    return requests.post(store_url(server, uid), data=fields, timeout=TIMEOUT, **kwargs)


def get(server, fields, uid="dev-1"):
    return requests.get(store_url(server, uid), params=fields, timeout=TIMEOUT)


def error(answer):
    return answer.json()["errors"][0]["message"]


def logged_in(server):
    session = requests.Session()
    session.get(f"{server.url}/api/v1/login/", timeout=TIMEOUT)
    answer = session.post(f"{server.url}/api/v1/login/", timeout=TIMEOUT, data={
        "username": server.user, "password": server.password, "csrfmiddlewaretoken": session.cookies["csrftoken"]})
    assert answer.status_code == 200, answer.text
    return session


def read(session, server, field, uid="dev-1", **params):
    return session.get(f"{server.url}/api/v1/timeseries/{server.namespace}/{uid}/{field}/", params=params,
                       timeout=TIMEOUT)


# ------------------------------------------------------------------------------------------ storing

def test_store_by_post_and_get_as_the_curl_examples(byteport_server):
    answer = post(byteport_server, {"_key": byteport_server.key, "_ts": "1410613385.123", "temp": "20",
                                    "last_word": "mom"})
    assert answer.status_code == 200 and answer.content == b""
    assert get(byteport_server, {"_key": byteport_server.key, "_ts": "1410613386", "temp": "20.5"}).status_code == 200
    assert [(p.field, p.ms, p.value) for p in byteport_server.points()] == [
        ("last_word", 1410613385123, "mom"), ("temp", 1410613385123, 20), ("temp", 1410613386000, 20.5)]


def test_a_heartbeat_stores_nothing_and_marks_the_device(byteport_server):
    assert post(byteport_server, {"_key": byteport_server.key}).status_code == 200
    [device] = byteport_server.devices()
    assert device.uid == "dev-1" and not device.registered and device.last_contact_ms is not None
    assert byteport_server.points() == []


@pytest.mark.parametrize(("fields", "status", "fragment"), [
    ({}, 403, "missing _key"),
    ({"_key": "nope"}, 403, "wrong _key"),
    ({"_key": None, "t": "1"}, 400, "'t' is not valid"),
    ({"_key": None, "temp-": "1"}, 400, "'temp-' is not valid"),
    ({"_key": None, "_ts": "1410613385,5"}, 400, "UNIX time in seconds"),
    ({"_key": None, "_ts": "-5"}, 400, "UNIX time in seconds"),
    ({"_key": None, "_ts": "1e9"}, 400, "UNIX time in seconds"),
])
def test_store_refusals(byteport_server, fields, status, fragment):
    fields = {k: (byteport_server.key if v is None else v) for k, v in fields.items()}
    answer = post(byteport_server, fields)
    assert answer.status_code == status and fragment in error(answer)
    assert byteport_server.points() == []


def test_an_invalid_uid_is_406_and_an_unknown_namespace_403(byteport_server):
    assert post(byteport_server, {"_key": byteport_server.key}, uid="-bad").status_code == 406
    assert post(byteport_server, {"_key": byteport_server.key}, uid="x").status_code == 406
    answer = requests.post(store_url(byteport_server, namespace="someone-else"), data={"_key": byteport_server.key},
                           timeout=TIMEOUT)
    assert answer.status_code == 403 and "no such namespace" in error(answer)


def test_registration_required_answers_404_for_strangers(make_byteport_server):
    server = make_byteport_server(require_registration=True, register=["known-1"])
    assert post(server, {"_key": server.key, "temp": "1"}, uid="known-1").status_code == 200
    answer = post(server, {"_key": server.key, "temp": "1"}, uid="stranger")
    assert answer.status_code == 404 and "not registered" in error(answer)
    server.register("stranger")
    assert post(server, {"_key": server.key}, uid="stranger").status_code == 200


@pytest.mark.parametrize(("methods", "refused"), [(["get"], "POST"), (["post"], "GET")])
def test_the_namespaces_write_methods_decide(make_byteport_server, methods, refused):
    server = make_byteport_server(write_methods=methods)
    answer = (post if refused == "POST" else get)(server, {"_key": server.key, "temp": "1"})
    assert answer.status_code == 403 and f"writes by HTTP {refused}" in error(answer)
    assert (get if refused == "POST" else post)(server, {"_key": server.key, "temp": "1"}).status_code == 200


def test_a_url_past_2048_bytes_is_414(byteport_server):
    base = f"{store_url(byteport_server)}?_key={byteport_server.key}&text="
    target_room = 2048 - (len(base) - len(byteport_server.url))
    assert requests.get(base + "a" * target_room, timeout=TIMEOUT).status_code == 200
    answer = requests.get(base + "a" * (target_room + 1), timeout=TIMEOUT)
    assert answer.status_code == 414 and "by POST" in error(answer)
    assert post(byteport_server, {"_key": byteport_server.key, "text": "a" * 10_000}).status_code == 200


def test_parameters_are_strict(byteport_server):
    key = byteport_server.key
    url = store_url(byteport_server)
    cases = [
        requests.get(f"{url}?_key={key}&temp=1&temp=2", timeout=TIMEOUT),  # given twice
        requests.get(f"{url}?_key={key}&temp=%FF", timeout=TIMEOUT),  # not UTF-8
        requests.get(f"{url}?_key={key}&temp", timeout=TIMEOUT),  # no =
        requests.post(f"{url}?_key={key}", data={"temp": "1"}, timeout=TIMEOUT),  # a POST with a query
        requests.post(url, json={"_key": key}, timeout=TIMEOUT),  # not a form
    ]
    assert [c.status_code for c in cases] == [400, 400, 400, 400, 415]
    assert "given twice" in error(cases[0]) and "not UTF-8" in error(cases[1])


def test_values_numbers_text_and_utf8_and_meta_fields_are_not_stored(byteport_server):
    fields = {"_key": byteport_server.key, "_ts": "1700000000.5", "_future": "x", "i": "42", "f": " 21.5\n",
              "e": "1e3", "t": "grön 🌱", "n": "nan", "empty": ""}
    fields = {k if len(k) > 1 or k.startswith("_") else k * 2: v for k, v in fields.items()}
    assert post(byteport_server, fields).status_code == 200
    values = {p.field: p.value for p in byteport_server.points()}
    assert values == {"ii": 42, "ff": 21.5, "ee": 1000.0, "tt": "grön 🌱", "nn": "nan", "empty": ""}
    assert {p.ms for p in byteport_server.points()} == {1_700_000_000_500}


def test_log_fields_are_kept_as_text(byteport_server):
    post(byteport_server, {"_key": byteport_server.key, "info": "42", "error": "disk full", "temp": "42"})
    assert {(p.field, p.value) for p in byteport_server.logs()} == {("info", "42"), ("error", "disk full")}
    assert [p.value for p in byteport_server.points(field="temp")] == [42]


def test_a_store_sent_again_replaces_its_points(make_byteport_server):
    server = make_byteport_server(keep_stores=True)
    for _ in range(3):
        post(server, {"_key": server.key, "_ts": "1700000000.25", "temp": "20"})
    assert len(server.points()) == 1 and len(server.stores) == 3 and server.accepted_points == 3


def test_refused_fields_refuse_the_whole_store(byteport_server):
    byteport_server.refuse_fields("door")
    answer = post(byteport_server, {"_key": byteport_server.key, "door": "1", "temp": "2"})
    assert answer.status_code == 400 and "refuses the field(s) 'door'" in error(answer)
    assert byteport_server.points() == []


def test_an_object_field_must_be_base64(make_byteport_server):
    server = make_byteport_server(object_fields={"snap": "image/png"})
    answer = post(server, {"_key": server.key, "snap": "not base64!"})
    assert answer.status_code == 400 and "not base64" in error(answer)


@pytest.mark.parametrize(("ts", "ms", "micros"), [
    ("1410613385.123", 1410613385123, 1410613385123000), ("1410613385", 1410613385000, 1410613385000000),
    ("1410613385.123456789", 1410613385123, 1410613385123456), ("1410613385.1", 1410613385100, 1410613385100000),
])
def test_parse_ts_keeps_the_ms_and_shows_the_micros(ts, ms, micros):
    assert parse_ts(ts) == (ms, micros)


def test_parse_value_ints_stay_ints_and_odd_text_stays_text():
    assert [parse_value(t) for t in ("7", "-7", "+7", "7.", ".5", "99999999999999999999", "0x10", "١", "inf")] == [
        7, -7, 7, 7.0, 0.5, "99999999999999999999", "0x10", "١", "inf"]


def test_unpack_object_finds_the_compression_by_its_first_bytes():
    import base64
    import bz2
    import gzip
    import zlib

    raw = b"hello " * 20
    for packed, name in ((zlib.compress(raw), "zlib"), (gzip.compress(raw), "gzip"), (bz2.compress(raw), "bzip2"),
                         (raw, "none")):
        assert unpack_object(base64.b64encode(packed).decode()) == (raw, name)
    assert unpack_object(base64.b64encode(b"\x1f\x8bnot gzip").decode()) == (b"\x1f\x8bnot gzip", "none")


# ------------------------------------------------------------------------------------------ login and reading

def test_login_sets_csrftoken_then_sessionid_and_logout_ends_it(byteport_server):
    session = requests.Session()
    first = session.get(f"{byteport_server.url}/api/v1/login/", timeout=TIMEOUT)
    assert first.status_code == 200 and list(session.cookies.keys()) == ["csrftoken"]
    csrf = session.cookies["csrftoken"]
    answer = session.post(f"{byteport_server.url}/api/v1/login/", timeout=TIMEOUT, data={
        "username": byteport_server.user, "password": byteport_server.password, "csrfmiddlewaretoken": csrf})
    assert answer.status_code == 200
    assert len(answer.raw.headers.getlist("Set-Cookie")) == 2  # two cookies in one answer
    assert "HttpOnly" in answer.headers["Set-Cookie"] and session.cookies["csrftoken"] != csrf
    post(byteport_server, {"_key": byteport_server.key, "temp": "1"})
    assert read(session, byteport_server, "temp", timedelta_minutes="5").status_code == 200
    assert session.post(f"{byteport_server.url}/api/v1/logout/", timeout=TIMEOUT).status_code == 200
    assert "sessionid" not in session.cookies
    answer = read(session, byteport_server, "temp", timedelta_minutes="5")
    assert answer.status_code == 403 and "logged-in session" in error(answer)


@pytest.mark.parametrize(("cookie", "field", "fragment"), [
    (False, "csrftoken-value", "no csrftoken cookie"),
    (True, None, "has no csrfmiddlewaretoken"),
    (True, "forged", "does not match"),
])
def test_login_needs_a_matching_csrf_pair(byteport_server, cookie, field, fragment):
    session = requests.Session()
    if cookie:
        session.get(f"{byteport_server.url}/api/v1/login/", timeout=TIMEOUT)
    form = {"username": byteport_server.user, "password": byteport_server.password}
    if field is not None:
        form["csrfmiddlewaretoken"] = field
    answer = session.post(f"{byteport_server.url}/api/v1/login/", data=form, timeout=TIMEOUT)
    assert answer.status_code == 403 and fragment in error(answer)
    assert "sessionid" not in session.cookies


def test_read_ranges_from_to_and_timedelta(make_byteport_server):
    clock = FakeClock(wall_ms=1_700_000_000_000)
    server = make_byteport_server(clock=clock)
    for minute in range(10):
        post(server, {"_key": server.key, "_ts": str(1_700_000_000 - 60 * minute), "temp": str(minute)})
    session = logged_in(server)
    recent = read(session, server, "temp", timedelta_minutes="2.5").json()["data"]
    assert [p["v"] for p in recent["ts_data"]] == [2, 1, 0]  # oldest first
    assert recent["ts_meta"]["seconds"] == 150 and recent["ts_meta"]["to"] == "2023-11-14T22:13:20.000000"
    exact = read(session, server, "temp", **{"from": "2023-11-14T22:10:20", "to": "2023-11-14T22:12:20.000000"})
    assert [p["v"] for p in exact.json()["data"]["ts_data"]] == [3, 2, 1]  # both ends included
    offset = read(session, server, "temp", **{"from": "2023-11-14T23:10:20+01:00", "to": "2023-11-14T22:10:20Z"})
    assert [p["v"] for p in offset.json()["data"]["ts_data"]] == [3]
    assert read(session, server, "temp", timedelta_hours="1").json()["data"]["ts_meta"]["len"] == 10
    assert read(session, server, "temp", timedelta_days="0.001").json()["data"]["ts_meta"]["len"] == 2


@pytest.mark.parametrize(("params", "fragment"), [
    ({}, "say which points"),
    ({"to": "2023-11-14T22:10:20"}, "to alone"),
    ({"from": "2023-11-14 22:10:20"}, "not an ISO 8601 time"),
    ({"from": "2023-11-14T22:10:20", "to": "2023-11-13T22:10:20"}, "is after"),
    ({"timedelta_minutes": "5", "from": "2023-11-14T22:10:20"}, "cannot be combined"),
    ({"timedelta_minutes": "5", "timedelta_hours": "1"}, "give one of"),
    ({"timedelta_minutes": "-5"}, "positive number"),
    ({"limit": "5"}, "unknown query parameter 'limit'"),
])
def test_read_refuses_unclear_ranges(byteport_server, params, fragment):
    post(byteport_server, {"_key": byteport_server.key, "temp": "1"})
    answer = read(logged_in(byteport_server), byteport_server, "temp", **params)
    assert answer.status_code == 400 and fragment in error(answer)


def test_read_of_another_namespace_or_an_unknown_device(byteport_server):
    session = logged_in(byteport_server)
    other = session.get(f"{byteport_server.url}/api/v1/timeseries/someone-else/dev-1/temp/?timedelta_days=1",
                        timeout=TIMEOUT)
    assert other.status_code == 403 and "no access" in error(other)
    assert read(session, byteport_server, "temp", uid="nobody", timedelta_days="1").status_code == 404


def test_echo_answers_the_parameters(byteport_server):
    answer = requests.get(f"{byteport_server.url}/api/v1/echo/?test=hello+world&a=1&a=2", timeout=TIMEOUT)
    assert answer.json() == {"test": "hello world", "a": ["1", "2"]}


# ------------------------------------------------------------------------------------------ life cycle

def test_made_up_credentials_are_kept_in_the_db_and_given_ones_win(tmp_path):
    db = tmp_path / "byteport.sqlite"
    with ByteportEmulator(db_path=db) as first:
        made_up = (first.namespace, first.key, first.user, first.password)
        post(first, {"_key": first.key, "_ts": "1700000000", "temp": "20"})
        banner = first.banner()
    assert banner[0] == f"listening on {first.url}" and f"key: {made_up[1]}" in banner
    assert len(made_up[0]) > 6 and made_up[2] == "sensorkit"
    with ByteportEmulator(db_path=db) as again:
        assert (again.namespace, again.key, again.user, again.password) == made_up
        assert [p.value for p in again.points()] == [20]
    with ByteportEmulator(db_path=db, key="given-key-1", password="pw-given") as given:
        assert given.key == "given-key-1" and "key: (as given)" in given.banner()
        assert "password: (as given)" in given.banner() and "pw-given" not in "".join(given.banner())


def test_a_foreign_db_is_refused_untouched(tmp_path):
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (text)")
    before = other.read_bytes()
    with pytest.raises(DatabaseUnusable, match="other tables"):
        ByteportEmulator(db_path=other).start()
    assert other.read_bytes() == before
    from sensorkit.emulators.iobeam import IobeamEmulator

    iobeam_db = tmp_path / "iobeam.sqlite"
    IobeamEmulator(db_path=iobeam_db).start().stop()
    with pytest.raises(DatabaseUnusable, match="an iobeam emulator's database"):
        ByteportEmulator(db_path=iobeam_db).start()


@pytest.mark.parametrize(("options", "fragment"), [
    ({"namespace": "short"}, "longer than 6"), ({"namespace": "-bad-name"}, "start or end"),
    ({"write_methods": ["put"]}, "write_methods"), ({"write_methods": []}, "write_methods"),
    ({"register": ["x"]}, "cannot register"), ({"key": " padded "}, "key must be"),
])
def test_bad_options_are_refused(options, fragment):
    with pytest.raises(ValueError, match=fragment):
        ByteportEmulator(**options)


def test_faults_and_the_hold_for_tests(make_byteport_server):
    server = make_byteport_server(fail_rate=1.0, seed=3)
    assert post(server, {"_key": server.key}).status_code == 503
    held_server = make_byteport_server()
    reached = held_server.hold_stores("after_store")
    import threading

    worker = threading.Thread(target=post, args=(held_server, {"_key": held_server.key, "temp": "5"}), daemon=True)
    worker.start()
    assert reached.wait(TIMEOUT)
    assert held_server.held_store.fields == (("temp", 5),) and len(held_server.points()) == 1
    held_server.release_stores()
    worker.join(TIMEOUT)
    assert held_server.wait_for_points(1, timeout_s=TIMEOUT)
