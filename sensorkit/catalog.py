"""What the application knows about each driver: transport, options, quantities.

The drivers themselves stay free of config concerns; this table is what the
config loader validates against and what the composition module builds from.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

# option kinds understood by the config loader
BOOL, INT, FLOAT, STR, CHOICE = "bool", "int", "float", "str", "choice"


@dataclass(frozen=True)
class Option:
    """A driver-specific key in a `[[sensor]]` table."""

    name: str
    kind: str
    default: Any = None
    choices: tuple[Any, ...] = ()
    help: str = ""


@dataclass(frozen=True)
class DriverSpec:
    """One configurable driver."""

    name: str
    part: str
    transport: str  # "i2c" or "gpio"
    quantities: tuple[str, ...]
    target: str  # "module:Class"
    addresses: tuple[int, ...] = ()
    options: tuple[Option, ...] = ()
    default_interval_s: float = 10.0
    min_interval_s: float = 0.05
    address_help: str = ""
    # faults its emulated twin can show under --simulate (`simulate_fault = "..."`)
    simulated_faults: tuple[str, ...] = ()

    def load_class(self) -> Callable[..., Any]:
        module_name, _, attr = self.target.partition(":")
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
        ),
    )
}
