"""The config model: what a checked config file holds, before and after it meets a board."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensorkit.catalog import DRIVERS, DriverSpec
from sensorkit.errors import ConfigError
from sensorkit.uploaders.settings import OUTBOX_KEYS, UploaderConfig

CONFIG_NAME = "sensorkit.toml"
SYSTEM_CONFIG = Path("/etc/sensorkit") / CONFIG_NAME

# Names become series names at iobeam and field names at Byteport: keep to the
# characters both accept (0-9 a-z A-Z - _, no leading or trailing - or _).
# Each uploader checks its own further rules (lengths, reserved names).
NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,30}[A-Za-z0-9])?$")
NAME_RULE = "1-32 letters, digits, '_' or '-', starting and ending with a letter or digit"

TOP_LEVEL = ("device", "sensor", "watch", "uploader", "outbox")
DEVICE_KEYS = ("board", "i2c_buses", "gpio_pins", "onewire_pin", "altitude_m", "serial_console", "clock")
COMMON_SENSOR_KEYS = ("name", "driver", "interval", "timeout", "enabled", "series", "simulate_fault", "power_pin",
                      "power_cycle_after", "device_class")
# Keys each transport kind takes in [[sensor]]: I2C chips, GPIO devices, DHT sensors (one GPIO
# each) and 1-wire sensors (found on the board's 1-wire bus, picked by the driver's `serial`).
TRANSPORT_KEYS = {"i2c": ("bus", "address"), "gpio": ("pin",), "dht": ("pin",), "w1": ()}


@dataclass(frozen=True)
class SensorConfig:
    """One `[[sensor]]` table, checked but not yet tied to a board."""

    name: str
    driver: str
    interval_s: float
    series: Mapping[str, str]  # quantity -> series name, for every quantity
    enabled: bool = True
    bus: int | None = None
    address: int | None = None
    pin: int | str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    simulate_fault: str | None = None  # only honoured under --simulate
    timeout_s: float | None = None  # the longest one read may take; None: the driver's conversion + a margin
    power_pin: int | str | None = None  # a GPIO that switches the sensor's supply (high = on)
    power_cycle_after: int | None = None  # consecutive failures after which the supply is switched off and on
    device_class: str | None = None  # what a 0/1 input is to Home Assistant ("door", "motion", ...)
    line: int | None = None
    key_lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def spec(self) -> DriverSpec:
        return DRIVERS[self.driver]


@dataclass(frozen=True)
class WatchConfig:
    """One `[[watch]]` table: a directory whose added and changed files go to Byteport (sensorkit.watching)."""

    name: str  # the readings' `sensor`: how the Byteport uploader finds the device uid
    path: Path  # absolute; checked to be a directory at load (when enabled)
    device_uid: str
    interval_s: float = 5.0
    compression: str | None = None  # None, "gzip" (a zlib stream, as the reference client) or "bzip2"
    media_type: str | None = None  # of files sent as bytes; None: guessed from the name
    pattern: str = "*"
    enabled: bool = True
    line: int | None = None
    key_lines: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DeviceConfig:
    board: str = "auto"
    i2c_buses: Mapping[int, tuple[int, int]] | None = None
    gpio_pins: tuple[int, ...] | None = None
    onewire_pin: int | None = None
    key_lines: Mapping[str, int] = field(default_factory=dict)
    # Height of the board above sea level: the simulated world's air pressure follows it.
    altitude_m: float = 0.0
    # False frees the serial console's pins (GPIO14/15), which a profile reserves for it.
    serial_console: bool = True
    # "ntp": readings wait for the clock to be synchronised (sensorkit.holding); "trusted": a board with a
    # battery-backed clock; "auto": ntp on a Raspberry Pi, trusted elsewhere (see sensorkit.clock.choose_clock).
    clock: str = "auto"


@dataclass(frozen=True)
class Config:
    source: str
    device: DeviceConfig
    sensors: tuple[SensorConfig, ...]
    uploaders: tuple[UploaderConfig, ...] = ()
    outbox: Mapping[str, Any] = field(default_factory=lambda: {k.name: k.default for k in OUTBOX_KEYS})
    watches: tuple[WatchConfig, ...] = ()
    # Not problems, but worth telling: a secret others can read, a token sent in clear text.
    warnings: tuple[str, ...] = ()

    @property
    def enabled_sensors(self) -> tuple[SensorConfig, ...]:
        return tuple(s for s in self.sensors if s.enabled)

    @property
    def enabled_watches(self) -> tuple[WatchConfig, ...]:
        return tuple(w for w in self.watches if w.enabled)

    @property
    def enabled_uploaders(self) -> tuple[UploaderConfig, ...]:
        return tuple(u for u in self.uploaders if u.enabled)

    def uploader(self, name: str) -> UploaderConfig | None:
        return next((u for u in self.uploaders if u.name == name), None)

    def require_inputs(self) -> None:
        """Raise ConfigError when nothing would produce a reading (no enabled sensor or [[watch]]).

        Sampling commands call this; a config that only names uploaders is still fine for
        `register`. Watched directories count as inputs: a config of only [[watch]] runs.
        """
        if self.enabled_sensors or self.enabled_watches:
            return
        if self.watches and not self.sensors:
            what = f"all {len(self.watches)} [[watch]] table(s) have enabled = false: set enabled = true on one"
        elif self.sensors:
            what = (f"all {len(self.sensors)} sensor(s) have enabled = false: set enabled = true on "
                    "at least one")
        else:
            what = ("it has no [[sensor]] table: add one, e.g.\n\n    [[sensor]]\n    name = \"air\"\n"
                    "    driver = \"sht3x\"\n    address = 0x44\n\nor a [[watch]] table with the path of a directory "
                    "(README: 'Configuration')")
        raise ConfigError(f"{self.source}: nothing to read — {what}")


@dataclass(frozen=True)
class ResolvedSensor:
    """A sensor with its bus and pin checked against a board."""

    config: SensorConfig
    bus: int | None = None
    address: int | None = None
    pin: int | None = None
    power_pin: int | None = None  # BCM number of the sensor's power switch, checked against the board

    @property
    def name(self) -> str:
        return self.config.name

    def where(self) -> str:
        if self.bus is not None and self.address is not None:
            return f"I2C bus {self.bus} address {self.address:#04x}"
        if self.pin is not None:
            return f"GPIO{self.pin}"
        if self.config.spec.transport == "w1":
            serial = self.config.options.get("serial")
            return f"1-wire {serial}" if serial else "1-wire bus"
        return ""


def config_error(problems: list[str]) -> ConfigError:
    if len(problems) == 1:
        return ConfigError(problems[0], problems)
    return ConfigError(f"{len(problems)} problems:\n" + "\n".join(problems), problems)
