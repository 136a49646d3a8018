"""Home Assistant discovery: the payloads (pure), and what a real broker ends up holding."""
from __future__ import annotations

import json

from sensorkit import __version__
from sensorkit.uploaders import homeassistant as ha
from tests.sensorkit.mosquitto import (  # noqa: F401 - fixtures
    broker_fixture,
    make_broker_fixture,
    mqtt_certs_fixture,
    retained,
    subscribe_fixture,
    wait_until,
)
from tests.sensorkit.uploaders.test_mqtt_uploader import PREFIX, SENSORS, readings, uploader_for

AIR_T = ha.SeriesInfo("air_temperature", "air", "temperature", "°C", 2.0)
DOOR = ha.SeriesInfo("door", "door", "state", "", 1.0, device_class="door")
EVERY_FIELD = {"unique_id", "name", "state_topic", "value_template", "availability", "expire_after", "device"}
DEVICE_FIELDS = {"identifiers", "name", "model", "sw_version", "manufacturer"}


def payload(info: ha.SeriesInfo, kind: str = "json") -> dict:
    return ha.discovery_payload(info, device_id="pi", state_topic=f"{PREFIX}/{info.series}/state",
                                status_topic=f"{PREFIX}/status", payload=kind, send_delay_s=5.0,
                                board="raspberry-pi-4b", version="9.9")


def test_ha_sensor_payload_has_every_field():
    doc = payload(AIR_T)
    assert EVERY_FIELD | {"unit_of_measurement", "device_class", "state_class"} <= set(doc)
    assert doc["unique_id"] == "sensorkit_pi_air_temperature" and doc["name"] == "air temperature"
    assert doc["state_topic"] == f"{PREFIX}/air_temperature/state"
    assert doc["value_template"] == "{{ value_json.value }}"
    assert (doc["unit_of_measurement"], doc["device_class"], doc["state_class"]) == ("°C", "temperature",
                                                                                      "measurement")
    assert doc["availability"] == [{"topic": f"{PREFIX}/status", "payload_available": "online",
                                    "payload_not_available": "offline"}]
    assert doc["expire_after"] == 3 * 2 + 5 + 10
    assert doc["device"] == {"identifiers": ["sensorkit_pi"], "name": "pi", "model": "raspberry-pi-4b",
                             "manufacturer": "sensorkit", "sw_version": "9.9"}


def test_ha_units_and_classes_are_home_assistants():
    humidity = payload(ha.SeriesInfo("air_humidity", "air", "humidity", "%RH", 2.0))
    assert (humidity["unit_of_measurement"], humidity["device_class"]) == ("%", "humidity")
    pressure = payload(ha.SeriesInfo("air_pressure", "air", "pressure", "hPa", 2.0))
    assert (pressure["unit_of_measurement"], pressure["device_class"]) == ("hPa", "atmospheric_pressure")
    counter = payload(ha.SeriesInfo("rain_count", "rain", "count", "", 60.0))
    assert counter["state_class"] == "total_increasing" and "unit_of_measurement" not in counter
    assert "device_class" not in counter


def test_ha_a_gpio_state_is_a_binary_sensor_with_its_device_class():
    assert DOOR.component == "binary_sensor"
    assert ha.config_topic("homeassistant", "pi", DOOR) == "homeassistant/binary_sensor/pi/door/config"
    doc = payload(DOOR)
    assert EVERY_FIELD <= set(doc) and doc["device_class"] == "door"
    assert (doc["payload_on"], doc["payload_off"]) == ("ON", "OFF")
    assert doc["value_template"] == "{{ 'ON' if value_json.value else 'OFF' }}"
    assert "state_class" not in doc and "unit_of_measurement" not in doc
    assert payload(DOOR, "value")["value_template"] == "{{ 'ON' if value | int(0) else 'OFF' }}"
    assert "device_class" not in payload(ha.SeriesInfo("pir", "pir", "state", "", 1.0))
    assert "motion" in ha.BINARY_SENSOR_DEVICE_CLASSES and "moisture" in ha.BINARY_SENSOR_DEVICE_CLASSES


def test_ha_bare_values_are_templated_as_they_are():
    assert payload(AIR_T, "value")["value_template"] == "{{ value }}"


# ------------------------------------------------------------------------------------------- broker

def config_messages(subscriber) -> dict[str, bytes]:
    return {m.topic: m.payload for m in subscriber.under("homeassistant/") if m.topic.endswith("/config")}


def test_ha_discovery_is_announced_retained_at_start(broker, subscribe, tmp_path):
    subscriber = subscribe(broker, "homeassistant/#")
    uploader = uploader_for(broker, tmp_path, homeassistant=True)
    uploader.send(readings(1))
    subscriber.sync()
    kept = retained(broker, "homeassistant/#")
    assert set(kept) == {"homeassistant/sensor/pi/air_temperature/config",
                         "homeassistant/sensor/pi/air_humidity/config",
                         "homeassistant/binary_sensor/pi/door/config"}
    for topic, raw in kept.items():
        doc = json.loads(raw)
        assert EVERY_FIELD <= set(doc), topic
        assert set(doc["device"]) == DEVICE_FIELDS
        assert doc["device"]["model"] == "simulated" and doc["device"]["sw_version"] == __version__
    assert config_messages(subscriber) == kept


def test_ha_discovery_goes_again_when_home_assistant_restarts(broker, subscribe, tmp_path):
    subscriber = subscribe(broker, "homeassistant/+/pi/#")
    uploader = uploader_for(broker, tmp_path, homeassistant=True)
    uploader.send(readings(1))
    subscriber.sync()
    before = len(subscriber.under("homeassistant/"))
    subscriber.client.publish("homeassistant/status", b"online", qos=1, retain=True)  # as HA's birth message
    wait_until(lambda: len(subscriber.under("homeassistant/")) >= before + 3, "discovery to be sent again")
    subscriber.sync()
    assert len(subscriber.under("homeassistant/")) == before + 3
    # Retained, that birth message comes again with every new subscription; that is not a restart.
    uploader.link.reset()
    uploader.send(readings(1))
    subscriber.sync()
    assert len(subscriber.under("homeassistant/")) == before + 6, "announced once for the new connection only"
    subscriber.client.publish("homeassistant/status", b"offline", qos=1, retain=True)
    subscriber.sync()
    assert len(subscriber.under("homeassistant/")) == before + 6


def test_ha_a_removed_sensor_is_cleared_and_leaves_no_ghost(broker, tmp_path):
    first = uploader_for(broker, tmp_path, homeassistant=True)
    first.send(readings(2))
    first.close()
    assert "homeassistant/binary_sensor/pi/door/config" in retained(broker, "homeassistant/#")
    assert f"{PREFIX}/door/state" in retained(broker, f"{PREFIX}/#")
    without_door = SENSORS[:SENSORS.index("[[sensor]]\nname = \"door\"")]
    second = uploader_for(broker, tmp_path, sensors=without_door, homeassistant=True)
    second.send(readings(1)[:2])
    kept = retained(broker, "homeassistant/#")
    assert set(kept) == {"homeassistant/sensor/pi/air_temperature/config",
                         "homeassistant/sensor/pi/air_humidity/config"}
    assert f"{PREFIX}/door/state" not in retained(broker, f"{PREFIX}/#")
    remembered = json.loads((tmp_path / "state" / "mqtt_retained.json").read_text())["retained"]
    assert not any("door" in topic for topic in remembered)


def test_ha_turned_off_clears_every_discovery_topic(broker, tmp_path):
    uploader_for(broker, tmp_path, homeassistant=True).send(readings(1))
    assert len(retained(broker, "homeassistant/#")) == 3
    uploader_for(broker, tmp_path, homeassistant=False).send(readings(1, start_ms=readings(1)[0].timestamp_ms + 1))
    assert retained(broker, "homeassistant/#") == {}
    assert len(retained(broker, f"{PREFIX}/+/state")) == 3, "the state topics stay: they are not Home Assistant's"
