"""The Byteport uploader: Readings in, one store per sampling instant out, failures sorted for delivery."""
from __future__ import annotations

import random

import pytest

from sensorkit.clock import FakeClock
from sensorkit.delivery import Delivery
from sensorkit.errors import PermanentUploadError, TransientUploadError
from sensorkit.outbox import Outbox
from sensorkit.outbox.status import dead_letters
from sensorkit.readings import Reading
from sensorkit.uploaders import build_uploader
from sensorkit.uploaders.byteport_uploader import instants
from sensorkit.uploaders.settings import BYTEPORT, UploaderConfig

T0 = 1_700_000_000_000


def settings(server, **overrides):
    values = {k.name: k.default for k in BYTEPORT.keys if k.default is not None}
    values.update(namespace=server.namespace, key=server.key, device_uid="pi-1", base_url=server.url + "/")
    values.update(overrides)
    return UploaderConfig("byteport", values)


def ten_sensors(instants_per_sensor, start_ms=T0):
    """10 SHT3x-like sensors, each read at its own moment: 2 series per instant."""
    out = []
    for i in range(instants_per_sensor):
        for s in range(10):
            t = start_ms + i * 1000 + s * 37
            out += [Reading(f"s{s}_temperature", f"s{s}", "temperature", 20.0 + i / 8, "°C", t),
                    Reading(f"s{s}_humidity", f"s{s}", "humidity", 50.0 - i / 8, "%RH", t)]
    return out


def stored(server, uid="pi-1"):
    return {(p.field, p.ms): p.value for p in server.points(uid)}


def store_requests(server):
    return server.request_count(path=f"/api/v1/timeseries/{server.namespace}/pi-1/")


def test_one_store_per_sampling_instant_with_every_series_of_it(make_byteport_server, tmp_path):
    server = make_byteport_server(keep_stores=True)
    uploader = build_uploader(settings(server), tmp_path)
    batch = ten_sensors(5)
    uploader.send(batch)
    assert stored(server) == {(r.series, r.timestamp_ms): r.value for r in batch}
    assert store_requests(server) == len({r.timestamp_ms for r in batch}) == 50  # requests per instant: 1
    first = server.stores[0]
    assert first.ms == T0 and dict(first.fields) == {"s0_temperature": 20.0, "s0_humidity": 50.0}
    assert [s.ms for s in server.stores] == sorted(s.ms for s in server.stores)


def test_instants_group_by_timestamp_and_a_later_reading_of_a_series_wins():
    batch = [Reading("a", "x", "q", 1, "", 20), Reading("b", "x", "q", 2, "", 10), Reading("a", "x", "q", 3, "", 20)]
    assert instants(batch) == [(10, {"b": 2}), (20, {"a": 3})]


def test_text_booleans_and_numbers_arrive_as_such(byteport_server, tmp_path):
    uploader = build_uploader(settings(byteport_server, method="get"), tmp_path)
    uploader.send([Reading("door", "door", "state", True, "", T0), Reading("note", "cam", "text", "grön 🌱", "", T0),
                   Reading("count", "rain", "count", 12, "", T0), Reading("door", "door", "state", False, "", T0 + 1)])
    assert stored(byteport_server) == {("door", T0): 1, ("note", T0): "grön 🌱", ("count", T0): 12,
                                       ("door", T0 + 1): 0}
    assert byteport_server.request_count(method="GET") == 2


def test_a_long_text_reading_goes_by_post_from_the_get_uploader(byteport_server, tmp_path):
    uploader = build_uploader(settings(byteport_server, method="get"), tmp_path)
    uploader.send([Reading("log_text", "watch", "text", "x" * 4000, "", T0)])
    assert stored(byteport_server) == {("log_text", T0): "x" * 4000}
    assert byteport_server.request_count(method="POST") == 1


def test_a_resent_batch_is_the_same_points(make_byteport_server, tmp_path):
    server = make_byteport_server(keep_stores=True)
    uploader = build_uploader(settings(server), tmp_path)
    batch = ten_sensors(3)
    server.inject(200, count=12)
    server.inject(503)  # the 13th store fails: delivery will send the whole batch again
    with pytest.raises(TransientUploadError):
        uploader.send(batch)
    partly = stored(server)
    assert len(partly) == 24
    uploader.send(batch)
    assert stored(server) == {(r.series, r.timestamp_ms): r.value for r in batch}
    assert len(server.points()) == len(batch), "the 12 stores sent twice replaced their points"
    assert len(server.stores) == 12 + 30


@pytest.mark.parametrize(("setup", "fragment"), [
    (lambda s: s.inject(503), "503"),
    (lambda s: s.inject(429, retry_after_s=9), "429"),
    (lambda s: s.set_down(True), "cannot reach"),
])
def test_server_trouble_is_transient(byteport_server, tmp_path, setup, fragment):
    uploader = build_uploader(settings(byteport_server), tmp_path)
    setup(byteport_server)
    with pytest.raises(TransientUploadError, match=fragment):
        uploader.send(ten_sensors(1))


@pytest.mark.parametrize(("overrides", "server_options", "fragment"), [
    ({"key": "wrong-key"}, {}, "key and method"),
    ({"method": "get"}, {"write_methods": ["post"]}, "does not allow writes by HTTP GET"),
    ({"device_uid": "stranger"}, {"require_registration": True}, "check device_uid"),
    ({"namespace": "another-space"}, {}, "no such namespace"),
])
def test_a_wrong_config_keeps_the_readings(make_byteport_server, tmp_path, overrides, server_options, fragment):
    server = make_byteport_server(**server_options)
    uploader = build_uploader(settings(server, **overrides), tmp_path)
    with pytest.raises(TransientUploadError, match=fragment) as info:
        uploader.send(ten_sensors(1))
    assert not isinstance(info.value, PermanentUploadError)
    assert "wrong-key" not in str(info.value) and server.key not in str(info.value)


def test_a_wrong_base_url_keeps_the_readings(byteport_server, tmp_path):
    uploader = build_uploader(settings(byteport_server, base_url=byteport_server.url + "/nothing-here/"), tmp_path)
    with pytest.raises(TransientUploadError, match="check device_uid, namespace and base_url"):
        uploader.send(ten_sensors(1))


def test_refused_data_is_permanent_and_delivery_dead_letters_only_it(make_byteport_server, tmp_path):
    server = make_byteport_server()
    server.refuse_fields("s3_humidity")
    uploader = build_uploader(settings(server), tmp_path)
    with pytest.raises(PermanentUploadError, match="refuses the field"):
        uploader.send(ten_sensors(1))

    clock = FakeClock()
    batch = ten_sensors(4)
    with Outbox(tmp_path / "outbox.sqlite", ["byteport"], clock=clock) as outbox:
        outbox.add(batch)
        outbox.commit()
        worker = Delivery(outbox, "byteport", uploader, clock=clock, send_delay_s=0, rng=random.Random(1))
        for _ in range(100):
            if outbox.status().uploader("byteport").waiting == 0:
                break
            worker.step(now=True)
        status = outbox.status().uploader("byteport")
        assert (status.waiting, status.dead_letters) == (0, 4)
    assert set(stored(server)) == {(r.series, r.timestamp_ms) for r in batch if r.series != "s3_humidity"}
    letters = dead_letters(tmp_path / "outbox.sqlite")
    assert {d.series for d in letters} == {"s3_humidity"} and "refuses the field" in letters[0].reason
