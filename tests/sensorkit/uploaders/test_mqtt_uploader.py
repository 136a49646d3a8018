"""The MQTT uploader against a real mosquitto, watched by an independent subscriber.

Each test builds the uploader from a config file's text, as `sensorkit run`
does, sends batches itself and looks at what the broker delivered.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from sensorkit.config import parse_config
from sensorkit.errors import TransientUploadError
from sensorkit.readings import Reading
from sensorkit.uploaders import build_uploader
from tests.sensorkit.mosquitto import (  # noqa: F401 - fixtures
    Broker,
    broker_fixture,
    cable_fixture,
    make_broker_fixture,
    mqtt_certs_fixture,
    retained,
    subscribe_fixture,
    wait_until,
)
from tests.sensorkit.mqtt_cable import Cable

PREFIX = "sensorkit/pi"
SENSORS = """\
[device]
board = "simulated"

[[sensor]]
name = "air"
driver = "sht3x"
interval = "1s"

[[sensor]]
name = "door"
driver = "gpio_input"
pin = "GPIO17"
interval = "1s"
series = { state = "door" }

"""


def password_file(tmp_path: Path, password: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "mqtt-password"
    path.write_text(password + "\n")
    path.chmod(0o600)
    return path


def uploader_for(broker: Broker, tmp_path: Path, *, sensors: str = SENSORS, password: str | None = None,
                 tls: bool = False, **keys):
    keys.setdefault("device_id", "pi")
    secret = password_file(tmp_path, password if password is not None else broker.users["sensorkit"])
    config = parse_config(sensors + broker.uploader_table(tls=tls, password_file=secret, **keys), "test.toml", {})
    [settings] = config.enabled_uploaders
    return build_uploader(settings, tmp_path / "state", sensors=config.enabled_sensors, board="simulated")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def readings(count: int, *, start_ms: int | None = None, step_ms: int = 1000) -> list[Reading]:
    start_ms = now_ms() - count * step_ms if start_ms is None else start_ms
    out = []
    for i in range(count):
        t = start_ms + i * step_ms
        out += [Reading("air_temperature", "air", "temperature", round(20 + i / 100, 2), "°C", t),
                Reading("air_humidity", "air", "humidity", round(50 + i / 100, 2), "%RH", t),
                Reading("door", "door", "state", i % 2, "", t)]
    return out


def as_keys(batch: list[Reading]) -> dict[tuple[str, int], object]:
    return {(r.series, r.timestamp_ms): r.value for r in batch}


# ------------------------------------------------------------------------------------------ delivering

@pytest.mark.parametrize("qos", [1, 2])
def test_mqtt_send_delivers_every_reading_with_value_unit_and_timestamp(broker, subscribe, tmp_path, qos):
    subscriber = subscribe(broker, f"{PREFIX}/#")
    uploader = uploader_for(broker, tmp_path, qos=qos)
    batch = readings(400)
    uploader.send(batch)
    subscriber.sync()
    assert subscriber.readings(PREFIX) == as_keys(batch)
    data = subscriber.received(PREFIX + "/air_temperature")
    assert len(data) == 400, "every reading once"
    assert data[0].json() == {"value": 20.0, "unit": "°C", "timestamp_ms": batch[0].timestamp_ms}
    assert subscriber.received(PREFIX + "/status")[-1].payload == b"online"
    kept = retained(broker, f"{PREFIX}/#")
    assert set(kept) == {f"{PREFIX}/status", *(f"{PREFIX}/{s}/state" for s in ("air_temperature", "air_humidity",
                                                                                  "door"))}, "only those retained"
    uploader.close()


def test_mqtt_bare_value_payload_keeps_the_timestamp_in_a_user_property(broker, subscribe, tmp_path):
    if not broker.mqtt5:
        pytest.skip(f"{broker.kind} has no MQTT 5, so no user properties")
    subscriber = subscribe(broker, f"{PREFIX}/#", mqtt5=True)
    uploader = uploader_for(broker, tmp_path, payload="value")
    batch = readings(3)
    uploader.send(batch)
    subscriber.sync()
    doors = subscriber.received(PREFIX + "/door")
    assert [m.payload for m in doors] == [b"0", b"1", b"0"]
    assert [dict(m.properties.UserProperty)["timestamp_ms"] for m in doors] == \
        [str(r.timestamp_ms) for r in batch if r.series == "door"]
    assert subscriber.received(PREFIX + "/air_humidity")[0].payload == b"50.0"


def test_mqtt_state_topic_takes_only_the_newest_recent_reading_and_never_goes_back(broker, subscribe, tmp_path):
    subscriber = subscribe(broker, f"{PREFIX}/+/state")
    uploader = uploader_for(broker, tmp_path)
    old = readings(50, start_ms=now_ms() - 3_600_000)  # an hour ago: a backlog after an outage
    uploader.send(old)
    recent = readings(5)
    uploader.send(recent)
    uploader.send(old[-6:])  # an old batch again (a dead letter retried): the state stays
    subscriber.sync()
    states = subscriber.received(PREFIX + "/air_temperature/state")
    assert [m.json()["timestamp_ms"] for m in states] == [recent[-1].timestamp_ms], "old readings are not state"
    kept = retained(broker, f"{PREFIX}/+/state")
    assert set(kept) == {f"{PREFIX}/{s}/state" for s in ("air_temperature", "air_humidity", "door")}


# ------------------------------------------------------------------------------------------ failures

def test_mqtt_wrong_password_is_transient_and_says_what_to_check(broker, tmp_path):
    uploader = uploader_for(broker, tmp_path, password="not-the-password")
    with pytest.raises(TransientUploadError) as info:
        uploader.send(readings(1))
    message = str(info.value)
    assert "refused the connection: Not authorized" in message and "check username and password" in message
    assert "not-the-password" not in message


def test_mqtt_broker_away_then_back_the_same_uploader_delivers(broker, subscribe, tmp_path):
    subscriber = subscribe(broker, f"{PREFIX}/#")
    uploader = uploader_for(broker, tmp_path, timeout="2s")
    first = readings(10)
    uploader.send(first)
    broker.stop()
    second = readings(10, start_ms=now_ms())
    with pytest.raises(TransientUploadError) as info:
        uploader.send(second)  # the broken connection is noticed now, or at the reconnect
    assert "broker" in str(info.value)
    with pytest.raises(TransientUploadError, match="connection refused"):
        uploader.send(second)
    broker.start()
    subscriber.wait_connected()
    uploader.send(second)
    subscriber.sync()
    got = subscriber.readings(PREFIX)
    assert got == as_keys(first + second)
    assert len(subscriber.received(PREFIX + "/door", firsts=True)) == 20, "each reading arrived once"


def test_mqtt_a_silent_broker_is_a_timeout(broker, tmp_path):
    uploader = uploader_for(broker, tmp_path, timeout="1s")
    uploader.send(readings(1))
    broker.freeze()
    began = time.monotonic()
    with pytest.raises(TransientUploadError, match="did not acknowledge every message within 1 s"):
        uploader.send(readings(2, start_ms=now_ms()))
    assert time.monotonic() - began < 10
    broker.thaw()


def once_each(subscriber, topic: str) -> list[int]:
    """The timestamps that arrived more than once on `topic` (not counting the broker's re-sends to the tests)."""
    times = [m.json()["timestamp_ms"] for m in subscriber.received(topic, firsts=True)]
    return sorted(t for t in set(times) if times.count(t) > 1)


def test_mqtt_a_retry_does_not_send_again_what_the_broker_took(broker, subscribe, tmp_path):
    """The broker hangs with a batch unacknowledged and then takes it; the retry sends nothing twice."""
    subscriber = subscribe(broker, f"{PREFIX}/#")
    uploader = uploader_for(broker, tmp_path, timeout="1s")
    uploader.send(readings(1))
    batch = readings(300, start_ms=now_ms())
    broker.freeze()
    with pytest.raises(TransientUploadError, match="within 1 s"):
        uploader.send(batch)
    broker.thaw()
    uploader.send(batch)
    subscriber.sync()
    assert subscriber.readings(PREFIX).items() >= as_keys(batch).items()
    assert not once_each(subscriber, PREFIX + "/air_temperature"), "readings arrived twice"


def test_mqtt_a_reconnect_sends_the_unacknowledged_batch_once(broker, cable, subscribe, tmp_path):
    """The link dies with a batch in flight; the retry reconnects and that batch arrives, each reading once."""
    subscriber = subscribe(broker, f"{PREFIX}/#")
    uploader = uploader_for(broker, tmp_path, timeout="1s", port=cable.port)
    uploader.send(readings(1))
    batch = readings(200, start_ms=now_ms())
    cable.drop()  # what the uploader sends now is lost on the way
    with pytest.raises(TransientUploadError):
        uploader.send(batch)
    cable.cut()
    wait_until(lambda: not uploader.link.connected, "the uploader to see the link go")
    uploader.send(batch)
    subscriber.sync()
    assert subscriber.readings(PREFIX).items() >= as_keys(batch).items()
    assert not once_each(subscriber, PREFIX + "/air_temperature"), "readings arrived twice"


def test_mqtt_a_different_batch_after_a_failure_starts_a_new_session(broker, cable, subscribe, tmp_path):
    """What paho still holds of a batch the outbox no longer offers is never sent."""
    subscriber = subscribe(broker, f"{PREFIX}/#")
    uploader = uploader_for(broker, tmp_path, timeout="1s", port=cable.port)
    uploader.send(readings(1))
    abandoned = readings(20, start_ms=now_ms())
    cable.drop()
    with pytest.raises(TransientUploadError):
        uploader.send(abandoned)
    cable.cut()
    wait_until(lambda: not uploader.link.connected, "the uploader to see the link go")
    other = readings(20, start_ms=now_ms() + 100_000)
    uploader.send(other)
    subscriber.sync()
    got = subscriber.readings(PREFIX)
    assert not set(got) & set(as_keys(abandoned)), "paho's memory of the abandoned batch went out"
    assert got.items() >= as_keys(other).items()


def test_mqtt_a_topic_the_acl_denies_keeps_its_readings_waiting(broker, subscribe, tmp_path):
    """Not authorised to publish is the broker's set-up, not the data: transient, and said so."""
    if broker.kind != "mosquitto":
        pytest.skip(f"the test sets an ACL in mosquitto's format, not {broker.kind}'s")
    broker.limit(f"user sensorkit\ntopic write {PREFIX}/status\ntopic write {PREFIX}/air_temperature\n"
                 f"topic write {PREFIX}/air_humidity\ntopic write {PREFIX}/+/state\nuser tester\ntopic read #\n"
                 "topic write sensorkit-test/#\n")
    subscriber = subscribe(broker, f"{PREFIX}/#")
    uploader = uploader_for(broker, tmp_path)
    batch = readings(5)
    with pytest.raises(TransientUploadError) as info:
        uploader.send(batch)
    assert "the broker refused 5 message(s) (door taken at" in str(info.value)
    assert f"Not authorized — check that the broker lets user sensorkit publish to {PREFIX}/#" in str(info.value)
    with pytest.raises(TransientUploadError):
        uploader.send(batch)  # the retry sends the refused ones again, and only those
    subscriber.sync()
    assert len(subscriber.received(PREFIX + "/air_temperature", firsts=True)) == 5, "taken once, not again"


# ------------------------------------------------------------------------------------------- protocol

def test_mqtt_a_broker_without_mqtt_5_gets_3_1_1(broker, subscribe, tmp_path, caplog):
    """A broker that answers MQTT 5 with "unacceptable protocol version", as 3.1.1-only brokers do."""
    caplog.set_level(logging.INFO, logger="sensorkit.uploaders.mqtt")
    old_broker = Cable(broker, refuse_mqtt5=True)
    try:
        subscriber = subscribe(broker, f"{PREFIX}/#")
        uploader = uploader_for(broker, tmp_path, port=old_broker.port, protocol="auto")
        batch = readings(20)
        uploader.send(batch)
        subscriber.sync()
        assert subscriber.readings(PREFIX) == as_keys(batch)
        assert uploader.link.protocol == 4
        assert any("does not speak MQTT 5; using MQTT 3.1.1" in r.getMessage() for r in caplog.records)
        told = uploader_for(broker, tmp_path / "b", port=old_broker.port, protocol="5")
        with pytest.raises(TransientUploadError, match="refused the connection: Unsupported protocol version"):
            told.send(batch)
    finally:
        old_broker.close()


# ------------------------------------------------------------------------------------------------ TLS

def test_mqtt_tls_with_the_right_ca_delivers(broker, subscribe, tmp_path):
    subscriber = subscribe(broker, f"{PREFIX}/#")
    uploader = uploader_for(broker, tmp_path, tls=True)
    batch = readings(5)
    uploader.send(batch)
    subscriber.sync()
    assert subscriber.readings(PREFIX) == as_keys(batch)


def test_mqtt_tls_with_a_wrong_ca_is_refused(broker, tmp_path):
    config_text = SENSORS + broker.uploader_table(tls=True, password_file=password_file(tmp_path, "x"))
    config_text = config_text.replace(str(broker.certs.ca), str(broker.certs.other_ca))
    [settings] = parse_config(config_text, "t.toml", {}).enabled_uploaders
    uploader = build_uploader(settings, tmp_path)
    with pytest.raises(TransientUploadError) as info:
        uploader.send(readings(1))
    assert "TLS certificate could not be verified" in str(info.value) and "check ca_file" in str(info.value)


def test_mqtt_tls_to_the_plain_port_says_which_port(broker, tmp_path):
    uploader = uploader_for(broker, tmp_path, tls=True, port=broker.port, timeout="3s")
    with pytest.raises(TransientUploadError, match="TLS port"):
        uploader.send(readings(1))


# ------------------------------------------------------------------------------------------ availability

def test_mqtt_close_says_offline_and_the_status_is_retained(broker, tmp_path):
    uploader = uploader_for(broker, tmp_path)
    uploader.send(readings(1))
    assert retained(broker, f"{PREFIX}/status") == {f"{PREFIX}/status": b"online"}
    uploader.close()
    assert retained(broker, f"{PREFIX}/status") == {f"{PREFIX}/status": b"offline"}
