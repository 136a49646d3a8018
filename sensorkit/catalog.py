"""What the application knows about each driver: transport, options, quantities.

The drivers themselves stay free of config concerns; this table is what the
config loader validates against and what the composition module builds from.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

# option kinds understood by the config loader; DURATION takes "5ms", "2s", ... or
# seconds and gives float seconds; TABLE is a table of string keys to string values.
BOOL, INT, FLOAT, STR, CHOICE, DURATION, TABLE = "bool", "int", "float", "str", "choice", "duration", "table"


@dataclass(frozen=True)
class Option:
    """A driver-specific key in a `[[sensor]]` table."""

    name: str
    kind: str
    default: Any = None
    choices: tuple[Any, ...] = ()
    help: str = ""
    # inclusive bounds for INT, FLOAT and DURATION (None: unbounded; FLOAT and DURATION are never negative)
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class DriverSpec:
    """One configurable driver."""

    name: str
    part: str
    transport: str  # "i2c", "gpio", "w1" or "dht"
    quantities: tuple[str, ...]
    target: str  # "module:Class"
    addresses: tuple[int, ...] = ()
    options: tuple[Option, ...] = ()
    default_interval_s: float = 10.0
    min_interval_s: float = 0.05
    address_help: str = ""
    # faults its emulated twin can show under --simulate (`simulate_fault = "..."`)
    simulated_faults: tuple[str, ...] = ()
    # "module:function": the longest conversion for the configured options, in
    # seconds (`timing(**options) -> float`); sets the minimum interval per option.
    timing: str = ""
    # The emulated twin under --simulate: "module:Class", the world quantities
    # set on it before each reading, and the sibling that answers instead under
    # simulate_fault = "wrong-chip".
    twin: str = ""
    world: tuple[str, ...] = ()
    sibling: str = ""

    def load_class(self) -> Callable[..., Any]:
        return load(self.target)

    def conversion_s(self, options: dict[str, Any]) -> float:
        """The longest conversion a read with these options waits for (0 when the driver says nothing)."""
        if not self.timing:
            return 0.0
        return float(load(self.timing)(**options))

    def min_interval(self, options: dict[str, Any]) -> float:
        """The shortest interval the sensor sustains with these options."""
        return max(self.min_interval_s, self.conversion_s(options))


def load(target: str) -> Any:
    """The object a "module:attribute" string names."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)



DRIVERS: dict[str, DriverSpec] = {
    spec.name: spec
    for spec in (
        DriverSpec(
            name="sht3x",
            part="Sensirion SHT30/SHT31/SHT35 temperature and humidity (I2C)",
            transport="i2c",
            quantities=("temperature", "humidity"),
            target="drivers.sht3x:SHT3x",
            addresses=(0x44, 0x45),
            address_help="0x44 with the ADDR pin to GND (most breakouts), 0x45 with ADDR to VDD",
            options=(
                Option(
                    "repeatability",
                    CHOICE,
                    "high",
                    ("high", "medium", "low"),
                    "measurement repeatability: high (15 ms), medium (6 ms), low (4 ms)",
                ),
            ),
            # 15 ms conversion plus the bus transactions: 20 Hz is the most a
            # single-shot SHT3x sustains, and it self-heats well before that.
            min_interval_s=0.05,
            simulated_faults=("absent", "crc", "stuck-bus"),
            twin="drivers.emulated.sht3x:EmulatedSHT3x",
            world=("temperature", "humidity"),
        ),
        # -- new I2C chips go above this line, one entry each --
        DriverSpec(
            name="ds18b20",
            part="Maxim DS18B20 thermometer and its w1_therm family: DS18S20, DS1822, DS1825, DS28EA00 (1-wire)",
            transport="w1",
            quantities=("temperature",),
            target="drivers.ds18b20:DS18B20",
            options=(
                Option("serial", STR, None, (), 'which sensor, as /sys/bus/w1/devices names it ("28-00000a1b2c3d"); '
                       "without it every thermometer on the bus is read"),
                Option("resolution", INT, 12, (), "bits: 9 (93.75 ms), 10 (187.5 ms), 11 (375 ms) or 12 "
                       "(750 ms, 0.0625 °C steps)", minimum=9, maximum=12),
                Option("aliases", TABLE, None, (), 'names for the sensors found without serial, e.g. '
                       '{ "28-00000a1b2c3d" = "soil" }'),
            ),
            default_interval_s=10.0,
            # The longest conversion at the configured resolution (datasheet Table 3).
            timing="drivers.ds18b20:conversion_time_s",
            simulated_faults=("absent", "crc", "power-on", "zeros"),
            twin="drivers.emulated.w1:EmulatedW1Bus",
            world=("temperature",),
        ),
        DriverSpec(
            name="gpio_input",
            part="on/off input on a GPIO pin (PIR motion sensor, reed switch, button)",
            transport="gpio",
            quantities=("state",),
            target="drivers.gpio_input:DigitalInput",
            options=(
                Option("pull_up", BOOL, False, (), "true: internal pull-up, active when pulled to GND"),
                Option("bounce_time", FLOAT, None, (), "seconds to ignore changes after one (debounce)"),
            ),
            default_interval_s=1.0,
            min_interval_s=0.01,
            world=("motion",),
        ),
    )
}
