"""The Byteport client library against the local Byteport server, over real HTTP."""
from __future__ import annotations

import base64
import datetime
import gzip
import logging

import pytest

from sensorkit.uploaders.byteport import (
    GET_URL_LIMIT,
    ByteportDeviceNotFound,
    ByteportForbidden,
    ByteportHttpClient,
    ByteportHttpGetClient,
    ByteportHttpPostClient,
    ByteportInvalidUid,
    ByteportLoginFailed,
    ByteportRefused,
    ByteportRequestTooLarge,
    ByteportUnavailable,
)

UTC = datetime.timezone.utc


def client(server, cls=ByteportHttpClient, uid="barDev1", **kwargs):
    return cls(server.namespace, server.key, uid, base_url=server.url, **kwargs)


def stored(server, uid="barDev1"):
    """{field: {ms: value}} as the server keeps it."""
    out = {}
    for point in server.points(uid):
        out.setdefault(point.field, {})[point.ms] = point.value
    return out


def stores(server):
    return [(m, p) for m, p, _ in server.requests if p.startswith("/api/v1/timeseries/")]


def read_back(server, field, uid="barDev1", **params):
    reader = client(server, check_credentials=False)
    reader.login(server.user, server.password)
    params = params or {"from": "1970-01-01T00:00:00"}
    return reader.load_timeseries_data(server.namespace, uid, field, **params)


# ------------------------------------------------------------------------------------- storing

def test_the_constructor_sends_a_heartbeat_that_marks_the_device_online(byteport_server):
    client(byteport_server)
    [device] = byteport_server.devices()
    assert device.uid == "barDev1" and device.last_contact_ms is not None
    assert byteport_server.points() == []  # a heartbeat stores nothing
    assert stores(byteport_server) == [("POST", f"/api/v1/timeseries/{byteport_server.namespace}/barDev1/")]


def test_the_heartbeat_can_be_turned_off(byteport_server):
    client(byteport_server, check_credentials=False)
    assert byteport_server.requests == []


def test_a_wrong_key_fails_at_the_constructor_and_the_key_is_in_no_message(byteport_server):
    with pytest.raises(ByteportForbidden) as info:
        ByteportHttpGetClient(byteport_server.namespace, "not-the-key-123", "barDev1", base_url=byteport_server.url)
    assert info.value.status == 403 and "wrong _key" in info.value.server_message
    assert "not-the-key-123" not in str(info.value)


def test_store_numbers_and_text_with_ts_from_the_api_document(byteport_server):
    c = client(byteport_server, check_credentials=False)
    c.store({"temp": 20, "last_word": "mom"}, timestamp=1410613385.123)
    c.store({"temp": 21.5, "note": "grön 🌱"}, timestamp_ms=1410613386007)
    assert stored(byteport_server) == {"temp": {1410613385123: 20, 1410613386007: 21.5},
                                       "last_word": {1410613385123: "mom"}, "note": {1410613386007: "grön 🌱"}}
    [first, _] = byteport_server.points("barDev1", "temp")
    assert first.micros == 1410613385123000  # no float error on the way


def test_store_without_a_timestamp_takes_the_servers_time(byteport_server):
    c = client(byteport_server, check_credentials=False)
    before = byteport_server.clock.time_ms()
    c.store({"temp": 1})
    [point] = byteport_server.points()
    assert before <= point.ms <= byteport_server.clock.time_ms()


def test_a_gateway_stores_for_other_devices(byteport_server):
    gateway = client(byteport_server, uid="gateway1")
    gateway.store({"temp": 5}, device_uid="sensor-7", timestamp_ms=1_700_000_000_000)
    assert stored(byteport_server, "sensor-7") == {"temp": {1_700_000_000_000: 5}}
    assert {d.uid for d in byteport_server.devices()} == {"gateway1", "sensor-7"}


def test_bad_names_and_values_are_refused_before_anything_is_sent(byteport_server):
    c = client(byteport_server, check_credentials=False)
    for data, fragment in (({"t": 1}, "'t'"), ({"temp-": 1}, "'temp-'"), ({"ok": b"\xff"}, "not UTF-8"),
                           ({"_ts": 1}, "timestamp=")):
        with pytest.raises(ValueError, match=fragment):
            c.store(data)
    with pytest.raises(ValueError, match="'bad uid'"):
        c.store({"temp": 1}, device_uid="bad uid")
    assert byteport_server.requests == []


def test_the_get_client_sends_by_get_with_the_key_in_the_query(byteport_server):
    c = client(byteport_server, ByteportHttpGetClient)
    c.store({"temp": 20}, timestamp_ms=1_700_000_000_000)
    assert [m for m, _ in stores(byteport_server)] == ["GET", "GET"]
    assert stored(byteport_server) == {"temp": {1_700_000_000_000: 20}}


def test_the_get_client_switches_to_post_past_the_url_limit_and_says_so_once(byteport_server, caplog):
    caplog.set_level(logging.INFO, logger="sensorkit.uploaders.byteport")
    c = client(byteport_server, ByteportHttpGetClient, check_credentials=False)
    room = GET_URL_LIMIT - len(c.store_url()) - len(f"?_key={byteport_server.key}&_ts=1700000000&text=")
    c.store({"text": "a" * room}, timestamp_ms=1_700_000_000_000)  # exactly at the limit: still a GET
    c.store({"text": "b" * (room + 1)}, timestamp_ms=1_700_000_001_000)
    c.store({"text": "c" * 5000}, timestamp_ms=1_700_000_002_000)
    assert [m for m, _ in stores(byteport_server)] == ["GET", "POST", "POST"]
    assert byteport_server.request_count(status=200) == 3
    said = [r.getMessage() for r in caplog.records if "by POST" in r.getMessage()]
    assert len(said) == 1 and "over the 2048-character limit" in said[0]
    assert stored(byteport_server)["text"][1_700_000_002_000] == "c" * 5000


def test_a_get_only_namespace_gets_a_clear_error_before_sending_past_the_limit(make_byteport_server):
    server = make_byteport_server(write_methods=["get"])
    c = client(server, ByteportHttpGetClient, http_write_method="get")
    before = len(server.requests)
    with pytest.raises(ByteportRequestTooLarge, match="takes writes by GET only") as info:
        c.store({"text": "x" * 3000})
    assert len(server.requests) == before and info.value.status is None
    assert isinstance(info.value, ByteportRefused)
    with pytest.raises(ValueError, match="ByteportHttpGetClient"):
        client(server, ByteportHttpPostClient, http_write_method="get")


def test_a_namespace_that_refuses_the_method_answers_403(make_byteport_server):
    server = make_byteport_server(write_methods=["post"])
    with pytest.raises(ByteportForbidden, match="does not allow writes by HTTP GET"):
        client(server, ByteportHttpGetClient)
    client(server, ByteportHttpPostClient)  # POST goes through


def test_an_unregistered_device_is_404_and_an_invalid_uid_406(make_byteport_server):
    server = make_byteport_server(require_registration=True, register=["known-1"])
    client(server, uid="known-1")
    with pytest.raises(ByteportDeviceNotFound, match="not registered") as info:
        client(server, uid="stranger")
    assert info.value.status == 404
    c = client(server, uid="known-1")
    with pytest.raises(ByteportInvalidUid) as info:  # the client checks names, a raw path does not
        c._send("x", [("_key", server.key)])
    assert info.value.status == 406


def test_server_errors_and_outages_are_unavailable_with_the_servers_words(byteport_server):
    c = client(byteport_server, check_credentials=False)
    byteport_server.inject(503)
    with pytest.raises(ByteportUnavailable) as info:
        c.store({"temp": 1})
    assert info.value.status == 503 and "injected" in info.value.server_message
    byteport_server.inject(429, retry_after_s=7)
    with pytest.raises(ByteportUnavailable) as info:
        c.store({"temp": 1})
    assert info.value.retry_after_s == 7
    byteport_server.set_down(True)
    with pytest.raises(ByteportUnavailable, match="cannot reach"):
        c.store({"temp": 1})


def test_the_key_is_never_logged_even_by_urllib3(byteport_server, caplog):
    caplog.set_level(logging.DEBUG)
    c = client(byteport_server, ByteportHttpGetClient)
    c.store({"temp": 1})
    byteport_server.inject(500)
    with pytest.raises(ByteportUnavailable) as info:
        c.store({"temp": 2})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "_key=***" in logged, "urllib3 logged the request line, scrubbed"
    assert byteport_server.key not in logged and byteport_server.key not in str(info.value)


def test_log_stores_a_log_message_of_a_level(byteport_server):
    c = client(byteport_server)
    c.log("All systems nominal")
    c.log("disk nearly full", level="warn")
    with pytest.raises(ValueError, match="not one of debug, info, warn, error"):
        c.log("x", level="fatal")
    assert {(p.field, p.value) for p in byteport_server.logs()} == {("info", "All systems nominal"),
                                                                    ("warn", "disk nearly full")}


# ------------------------------------------------------------------------------------- files

def test_store_file_stores_the_text_and_refuses_binary(byteport_server, tmp_path):
    c = client(byteport_server)
    (tmp_path / "current_temperature").write_text("21.5\n")
    c.store_file("temperature", tmp_path / "current_temperature", timestamp=1_700_000_000_000)
    assert stored(byteport_server) == {"temperature": {1_700_000_000_000: 21.5}}
    (tmp_path / "blob").write_bytes(b"\x89PNG\r\n\x1a\n\xff")
    with pytest.raises(ValueError, match="base64_encode_and_store_file"):
        c.store_file("picture", tmp_path / "blob")


def test_store_directory_stores_every_file_in_one_call_and_skips_what_it_cannot(byteport_server, tmp_path,
                                                                                caplog):
    c = client(byteport_server, check_credentials=False)
    (tmp_path / "temperature").write_text("21.5")
    (tmp_path / "status").write_text("ok")
    (tmp_path / "notes.txt").write_text("not a field name")
    (tmp_path / "raw").write_bytes(b"\xff\x00")
    (tmp_path / "sub").mkdir()
    c.store_directory(tmp_path, timestamp=1_700_000_000_000)
    c.store_directory(tmp_path, timestamp=1_700_000_001_000)
    assert len(stores(byteport_server)) == 2
    assert stored(byteport_server) == {"temperature": {1_700_000_000_000: 21.5, 1_700_000_001_000: 21.5},
                                       "status": {1_700_000_000_000: "ok", 1_700_000_001_000: "ok"}}
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 2  # once each, not once per call
    assert any("'notes.txt'" in s and "field name" in s for s in skipped)
    assert any("'raw'" in s and "not UTF-8" in s for s in skipped)


@pytest.mark.parametrize("compression", [None, "gzip", "bzip2"])
def test_objects_round_trip_through_the_servers_download_path(make_byteport_server, tmp_path, compression):
    server = make_byteport_server(object_fields={"status_files": "application/json", "picture": "image/png"})
    c = client(server, ByteportHttpPostClient)
    text = '{"state": "ok", "note": "grön"}\n' * 40
    (tmp_path / "status_data").write_text(text, encoding="utf-8")
    c.base64_encode_and_store_file("status_files", tmp_path / "status_data", compression=compression,
                                   timestamp=1_700_000_000_000)
    picture = bytes(range(256)) * 4
    c.base64_encode_and_store("picture", picture, compression=compression, timestamp=1_700_000_000_000)

    answer = read_back(server, "status_files")
    [point] = answer["data"]["ts_data"]
    assert point["v"] == text and point["m"]["encoding"] == "utf-8"
    assert point["m"]["compression"] == {None: "none", "gzip": "zlib", "bzip2": "bzip2"}[compression]
    assert answer["data"]["ts_meta"]["data_type"] == "object" and point["m"]["object_type"] == "application/json"
    [png] = read_back(server, "picture")["data"]["ts_data"]
    assert base64.b64decode(png["v"]) == picture and png["m"]["encoding"] == "base64"


def test_a_real_gzip_stream_is_decompressed_too(make_byteport_server):
    server = make_byteport_server(object_fields={"log_file": "text/plain"})
    c = client(server)
    c.store({"log_file": base64.b64encode(gzip.compress(b"line 1\nline 2\n")).decode()}, timestamp_ms=10**12)
    [point] = read_back(server, "log_file")["data"]["ts_data"]
    assert point["v"] == "line 1\nline 2\n" and point["m"]["compression"] == "gzip"


# ------------------------------------------------------------------------------------- reading

def test_read_back_shows_the_documented_ts_data_shape(byteport_server):
    c = client(byteport_server)
    c.store({"temp": 20, "word": "mom"}, timestamp=1410613385.123)
    c.store({"temp": 21}, timestamp=datetime.datetime(2014, 9, 13, 13, 4, 5, tzinfo=UTC))
    answer = read_back(byteport_server, "temp")
    path = f"{byteport_server.namespace}.barDev1.temp"
    assert answer["meta"] == {"path": path}
    assert [(p["t"], p["v"]) for p in answer["data"]["ts_data"]] == [
        ("2014-09-13T13:03:05.123000", 20), ("2014-09-13T13:04:05.000000", 21)]
    first = answer["data"]["ts_data"][0]
    assert first["m"] == {"trv": "False", "vlen": "2", "hdts": "1410613385123000"} and len(first["r"]) == 36
    meta = answer["data"]["ts_meta"]
    assert meta["len"] == 2 and meta["data_type"] == "number" and meta["path"] == path
    assert read_back(byteport_server, "word")["data"]["ts_meta"]["data_type"] == "text"


def test_read_back_a_range_and_log_out(byteport_server):
    c = client(byteport_server)
    for second in range(5):
        c.store({"temp": second}, timestamp=1_700_000_000 + second)
    c.login(byteport_server.user, byteport_server.password)
    start = datetime.datetime.fromtimestamp(1_700_000_001, UTC)
    answer = c.load_timeseries_data_range(byteport_server.namespace, "barDev1", "temp", start,
                                          start + datetime.timedelta(seconds=2))
    assert [p["v"] for p in answer["data"]["ts_data"]] == [1, 2, 3]
    c.logout()
    with pytest.raises(ByteportForbidden, match="logged-in session"):
        c.load_timeseries_data(byteport_server.namespace, "barDev1", "temp", timedelta_days=1)


def test_a_wrong_password_fails_the_login(byteport_server):
    with pytest.raises(ByteportLoginFailed, match="wrong user name or password"):
        client(byteport_server, check_credentials=False).login(byteport_server.user, "guess")


def test_echo_needs_no_login(byteport_server):
    assert client(byteport_server, check_credentials=False).echo(test="hello world") == {"test": "hello world"}


def test_base_url_may_be_the_root_or_the_api_and_http_to_another_machine_warns(byteport_server, caplog):
    c = ByteportHttpClient(byteport_server.namespace, byteport_server.key, "barDev1",
                           base_url=byteport_server.url + "/api/v1/")
    assert c.base_url == byteport_server.url + "/"
    ByteportHttpClient("myownspace", "'k3y'", "barDev1", base_url="http://192.0.2.1:8000/", check_credentials=False)
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "clear text" in warned and "quotes" in warned and "k3y" not in warned
