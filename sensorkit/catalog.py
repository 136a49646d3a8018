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
                Option(
                    "mode",
                    CHOICE,
                    "single",
                    ("single", "periodic", "art"),
                    "single: one measurement per reading; periodic: the chip measures mps times a "
                    "second and a reading fetches the latest; art: periodic at 4 Hz with accelerated "
                    "response time",
                ),
                Option(
                    "mps",
                    CHOICE,
                    1,
                    (0.5, 1, 2, 4, 10),
                    "measurements per second in periodic mode (the interval must be at least 1/mps; "
                    "10 self-heats the sensor)",
                ),
                Option(
                    "heater",
                    BOOL,
                    False,
                    (),
                    "true: keep the on-chip heater on (warms the sensor by several degrees; for "
                    "plausibility checks and to drive off condensation)",
                ),
            ),
            # 15 ms conversion plus the bus transactions: 20 Hz is the most a
            # single-shot SHT3x sustains, and it self-heats well before that.
            min_interval_s=0.05,
            timing="drivers.sht3x:conversion_time_s",
            simulated_faults=("absent", "crc", "stuck-bus", "all-ff", "stops-answering", "wrong-chip"),
            twin="drivers.emulated.sht3x:EmulatedSHT3x",
            world=("temperature", "humidity"),
            sibling="drivers.emulated.sht4x:EmulatedSHT4x",
        ),
        DriverSpec(
            name="sht4x",
            part="Sensirion SHT40/SHT41/SHT43/SHT45 temperature and humidity (I2C)",
            transport="i2c",
            quantities=("temperature", "humidity"),
            target="drivers.sht4x:SHT4x",
            addresses=(0x44, 0x45, 0x46),
            address_help="fixed by the part number: SHT4x-AD1B 0x44 (most breakouts), -BD1B 0x45, "
            "SHT40-CD1B 0x46",
            options=(
                Option(
                    "precision",
                    CHOICE,
                    "high",
                    ("high", "medium", "low"),
                    "measurement precision (repeatability): high (8.3 ms), medium (4.5 ms), low (1.6 ms)",
                ),
                Option(
                    "heater",
                    CHOICE,
                    "off",
                    ("off", "high-1s", "high-0.1s", "medium-1s", "medium-0.1s", "low-1s", "low-0.1s"),
                    "a heater pulse after each reading (200/110/20 mW for 1 s or 0.1 s) against "
                    "condensation and creep at high humidity; the 10 % duty cycle makes the interval "
                    "at least 11 s (1-s pulses) or 1.1 s (0.1-s pulses)",
                ),
            ),
            min_interval_s=0.05,
            timing="drivers.sht4x:conversion_time_s",
            simulated_faults=("absent", "crc", "stuck-bus", "all-ff", "stops-answering", "wrong-chip"),
            twin="drivers.emulated.sht4x:EmulatedSHT4x",
            world=("temperature", "humidity"),
            sibling="drivers.emulated.sht3x:EmulatedSHT3x",
        ),
        DriverSpec(
            name="shtc3",
            part="Sensirion SHTC3 temperature and humidity (I2C)",
            transport="i2c",
            quantities=("temperature", "humidity"),
            target="drivers.shtc3:SHTC3",
            addresses=(0x70,),
            address_help="an SHTC3 is always at 0x70",
            options=(
                Option(
                    "power_mode",
                    CHOICE,
                    "normal",
                    ("normal", "low"),
                    "normal (12.1 ms) or low power (0.8 ms, noisier readings)",
                ),
            ),
            min_interval_s=0.05,
            timing="drivers.shtc3:conversion_time_s",
            simulated_faults=("absent", "crc", "stuck-bus", "all-ff", "stops-answering", "wrong-chip"),
            twin="drivers.emulated.shtc3:EmulatedSHTC3",
            world=("temperature", "humidity"),
            sibling="drivers.emulated.shtc3:EmulatedSHTC1",
        ),
        # -- new I2C chips go above this line, one entry each --
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
