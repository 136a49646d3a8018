"""Home Assistant's MQTT discovery: what one series is announced as, built from the config alone.

Pure data, no MQTT: the MQTT uploader publishes what these functions return.
One retained config message per series, at
``<discovery_prefix>/<component>/<device_id>/<series>/config``: a `sensor`,
or a `binary_sensor` for a 0/1 `state` (a GPIO input). Home Assistant reads
the state topic (the latest reading, retained), marks the entity unavailable
when `<topic_prefix>/status` says `offline`, and after `expire_after` seconds
without a reading.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MANUFACTURER = "sensorkit"
EXPIRE_INTERVALS = 3  # an entity expires after this many intervals without a reading ...
EXPIRE_MARGIN_S = 10.0  # ... plus the send delay and this, for commits and the network
ONLINE, OFFLINE = "online", "offline"

# Home Assistant's device classes for what the drivers measure (quantity -> class).
SENSOR_DEVICE_CLASSES = {"temperature": "temperature", "humidity": "humidity", "pressure": "atmospheric_pressure"}
# Units Home Assistant expects for those classes, where ours are written differently.
HA_UNITS = {"%RH": "%"}
# Quantities that only ever grow (Home Assistant handles a reset to 0 after a restart).
COUNTERS = frozenset({"count"})
# Binary sensors: the classes a `device_class` key on a 0/1 sensor may name (Home Assistant's list).
BINARY_SENSOR_DEVICE_CLASSES = (
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door", "garage_door", "gas",
    "heat", "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug", "power",
    "presence", "problem", "running", "safety", "smoke", "sound", "tamper", "update", "vibration", "window",
)


@dataclass(frozen=True)
class SeriesInfo:
    """What discovery needs to know of one configured series."""

    series: str
    sensor: str
    quantity: str
    unit: str
    interval_s: float
    device_class: str | None = None  # the sensor's `device_class` key, for binary sensors

    @property
    def binary(self) -> bool:
        return self.quantity == "state"

    @property
    def component(self) -> str:
        return "binary_sensor" if self.binary else "sensor"


def series_of(sensors: Iterable[Any]) -> list[SeriesInfo]:
    """The series of the enabled sensors of a config (`SensorConfig`s), in config order."""
    from drivers import QUANTITIES

    out = []
    for sensor in sensors:
        if not getattr(sensor, "enabled", True):
            continue
        for quantity, series in sensor.series.items():
            out.append(SeriesInfo(series, sensor.name, quantity, QUANTITIES.get(quantity, ""), sensor.interval_s,
                                  getattr(sensor, "device_class", None)))
    return out


def expire_after_s(info: SeriesInfo, send_delay_s: float) -> int:
    """Seconds after which Home Assistant shows the entity unavailable when no reading came."""
    return math.ceil(EXPIRE_INTERVALS * info.interval_s + send_delay_s + EXPIRE_MARGIN_S)


def config_topic(discovery_prefix: str, device_id: str, info: SeriesInfo) -> str:
    return f"{discovery_prefix}/{info.component}/{device_id}/{info.series}/config"


def value_template(info: SeriesInfo, payload: str) -> str:
    value = "value_json.value" if payload == "json" else "value"
    if info.binary:
        # JSON carries 0/1 (or true/false); the bare payload carries 1/0.
        test = value if payload == "json" else "value | int(0)"
        return f"{{{{ 'ON' if {test} else 'OFF' }}}}"
    return f"{{{{ {value} }}}}"


def discovery_payload(info: SeriesInfo, *, device_id: str, state_topic: str, status_topic: str, payload: str,
                      send_delay_s: float, board: str, version: str) -> dict[str, Any]:
    """The config message that announces `info` to Home Assistant."""
    doc: dict[str, Any] = {
        "unique_id": f"sensorkit_{device_id}_{info.series}",
        "name": info.series.replace("_", " "),
        "state_topic": state_topic,
        "value_template": value_template(info, payload),
    }
    if info.binary:
        doc.update(payload_on="ON", payload_off="OFF")
        if info.device_class:
            doc["device_class"] = info.device_class
    else:
        if info.unit:
            doc["unit_of_measurement"] = HA_UNITS.get(info.unit, info.unit)
        device_class = SENSOR_DEVICE_CLASSES.get(info.quantity)
        if device_class:
            doc["device_class"] = device_class
        doc["state_class"] = "total_increasing" if info.quantity in COUNTERS else "measurement"
    doc.update(
        availability=[{"topic": status_topic, "payload_available": ONLINE, "payload_not_available": OFFLINE}],
        expire_after=expire_after_s(info, send_delay_s),
        device={
            "identifiers": [f"sensorkit_{device_id}"],
            "name": device_id,
            "model": board,
            "manufacturer": MANUFACTURER,
            "sw_version": version,
        },
        origin={"name": "sensorkit", "sw_version": version},
    )
    return doc
