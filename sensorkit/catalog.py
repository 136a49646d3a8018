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
    # `sensorkit detect` asks the drivers that can live at an address in this order (lower
    # first): a family whose identity probe is safe for its neighbours goes first.
    probe_rank: int = 0

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
        DriverSpec(
            name="aht2x",
            part="Aosong AHT20/AHT21/AHT25/AM2301B/DHT20 and AHT10 temperature and humidity (I2C)",
            transport="i2c",
            quantities=("temperature", "humidity"),
            target="drivers.aht2x:AHT2x",
            addresses=(0x38, 0x39),
            address_help="0x38 (the AHT20 family has no other); 0x39 only for an AHT10 with its ADR pin high",
            options=(
                Option(
                    "variant",
                    CHOICE,
                    "aht20",
                    ("aht20", "aht10"),
                    "aht20: AHT20/AHT21/AHT25/AM2301B/DHT20 (init 0xBE, CRC checked); aht10: AHT10 (init 0xE1, no CRC)",
                ),
            ),
            timing="drivers.aht2x:conversion_time_s",
            # 80 ms conversion; Aosong and the Linux aht10 driver advise >= 2 s between
            # measurements against self-heating, so the default stays well above.
            default_interval_s=10.0,
            min_interval_s=0.1,
            simulated_faults=("absent", "crc", "stuck-bus", "all-ff", "stops-answering", "wrong-chip"),
            twin="drivers.emulated.aht2x:EmulatedAHT2x",
            world=("temperature", "humidity"),
            sibling="drivers.emulated.aht2x:EmulatedAHT10",
        ),
        DriverSpec(
            name="htu21d",
            part="TE HTU21D/HTU20D, Sensirion SHT21, Silicon Labs Si7021/Si7020 temperature and humidity (I2C)",
            transport="i2c",
            quantities=("temperature", "humidity"),
            target="drivers.htu21d:HTU21D",
            addresses=(0x40,),
            address_help="fixed at 0x40 (shared with the HDC1080: one of the two per bus)",
            options=(
                Option(
                    "resolution",
                    CHOICE,
                    "rh12-t14",
                    ("rh12-t14", "rh8-t12", "rh10-t13", "rh11-t11"),
                    "humidity/temperature bits: rh12-t14 (slowest, default), rh8-t12, rh10-t13, rh11-t11",
                ),
            ),
            timing="drivers.htu21d:conversion_time_s",
            min_interval_s=0.05,
            simulated_faults=("absent", "crc", "stuck-bus", "all-ff", "stops-answering", "wrong-chip"),
            twin="drivers.emulated.htu21d:EmulatedHTU21D",
            world=("temperature", "humidity"),
            sibling="drivers.emulated.hdc1080:EmulatedHDC1080",
        ),
        DriverSpec(
            name="hdc1080",
            part="TI HDC1080 temperature and humidity (I2C)",
            transport="i2c",
            quantities=("temperature", "humidity"),
            target="drivers.hdc1080:HDC1080",
            addresses=(0x40,),
            address_help="fixed at 0x40 (shared with the HTU21D/Si7021: one of the two per bus)",
            options=(
                Option(
                    "resolution_temperature", CHOICE, 14, (14, 11), "temperature bits: 14 (6.35 ms) or 11 (3.65 ms)"
                ),
                Option(
                    "resolution_humidity", CHOICE, 14, (14, 11, 8), "humidity bits: 14 (6.5 ms), 11 (3.85), 8 (2.5)"
                ),
                Option("heater", BOOL, False, (), "true: heat the sensor during conversions (dries condensation)"),
            ),
            timing="drivers.hdc1080:conversion_time_s",
            min_interval_s=0.05,
            simulated_faults=("absent", "stuck-bus", "all-ff", "stops-answering", "wrong-chip"),
            twin="drivers.emulated.hdc1080:EmulatedHDC1080",
            world=("temperature", "humidity"),
            sibling="drivers.emulated.htu21d:EmulatedHTU21D",
        ),
        DriverSpec(
            name="bme280",
            part="Bosch BME280 temperature, humidity and pressure (I2C)",
            transport="i2c",
            quantities=("temperature", "humidity", "pressure"),
            target="drivers.bme280:BME280",
            addresses=(0x76, 0x77),
            address_help="0x76 with SDO to GND, 0x77 with SDO to VDDIO (Adafruit's breakouts use 0x77)",
            options=(
                Option("oversampling_temperature", CHOICE, 1, (1, 2, 4, 8, 16),
                       "temperature oversampling (needed to compensate the others, so it cannot be skipped)"),
                Option("oversampling_pressure", CHOICE, 1, (0, 1, 2, 4, 8, 16),
                       "pressure oversampling; 0 skips pressure"),
                Option("oversampling_humidity", CHOICE, 1, (0, 1, 2, 4, 8, 16),
                       "humidity oversampling; 0 skips humidity"),
                Option("iir_filter", CHOICE, 0, (0, 2, 4, 8, 16),
                       "IIR filter coefficient, 0 = off; in forced mode it filters once per reading"),
            ),
            timing="drivers.bme280:conversion_time_s",
            # 9.3 ms at x1 (113 ms at x16 everywhere); 20 Hz self-heats the chip long before.
            min_interval_s=0.05,
            simulated_faults=("absent", "stuck-bus", "all-ff", "stops-answering", "wrong-chip"),
            twin="drivers.emulated.bme280:EmulatedBME280",
            world=("temperature", "humidity", "pressure"),
            sibling="drivers.emulated.bmp280:EmulatedBMP280",
        ),
        DriverSpec(
            name="bmp280",
            part="Bosch BMP280 temperature and pressure (I2C)",
            transport="i2c",
            quantities=("temperature", "pressure"),
            target="drivers.bmp280:BMP280",
            addresses=(0x76, 0x77),
            address_help="0x76 with SDO to GND, 0x77 with SDO to VDDIO (Adafruit's breakouts use 0x77)",
            options=(
                Option("oversampling_temperature", CHOICE, 1, (1, 2, 4, 8, 16),
                       "temperature oversampling (needed to compensate pressure, so it cannot be skipped)"),
                Option("oversampling_pressure", CHOICE, 1, (0, 1, 2, 4, 8, 16),
                       "pressure oversampling; 0 skips pressure"),
                Option("iir_filter", CHOICE, 0, (0, 2, 4, 8, 16),
                       "IIR filter coefficient, 0 = off; in forced mode it filters once per reading"),
            ),
            timing="drivers.bmp280:conversion_time_s",
            min_interval_s=0.05,
            simulated_faults=("absent", "stuck-bus", "all-ff", "stops-answering", "wrong-chip"),
            twin="drivers.emulated.bmp280:EmulatedBMP280",
            world=("temperature", "pressure"),
            sibling="drivers.emulated.bme280:EmulatedBME280",
        ),
        # -- new I2C chips go above this line, one entry each --
        # -- one GPIO each: DHT sensors (through adafruit_dht) and gpiozero devices --
        *(
            DriverSpec(
                name=model,
                part=part,
                transport="dht",
                quantities=("temperature", "humidity"),
                target=f"drivers.dht:{model.upper()}",
                options=(
                    Option("attempts", INT, 3, (), "reads tried per sample, 2 s apart, as many as fit in "
                           "the interval", minimum=1, maximum=10),
                ),
                default_interval_s=10.0,
                # Both parts: adafruit_dht hands back its cached value for 2 s after a read
                # (DHT22: also the AM2302 manual; DHT11: Aosong's manual says > 2 s).
                min_interval_s=2.0,
                simulated_faults=("flaky", "hang", "absent"),
                twin="drivers.emulated.dht:EmulatedDHT",
                world=("temperature", "humidity"),
            )
            for model, part in (
                ("dht22", "Aosong DHT22 / AM2302 temperature and humidity (one GPIO, 10 kΩ pull-up)"),
                ("dht11", "Aosong DHT11 temperature and humidity (one GPIO, 10 kΩ pull-up)"),
            )
        ),
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
                Option("pull", CHOICE, None, ("up", "down", "none"),
                       'internal resistor: "up" (active when pulled to GND), "down" (the default, active '
                       'when high) or "none" (external resistor; needs active_state)'),
                Option("pull_up", BOOL, None, (), 'older spelling: true = pull "up", false = pull "down"'),
                Option("active_state", CHOICE, None, ("high", "low"),
                       'the level that means active; needed with pull = "none"'),
                Option("bounce_time", DURATION, None, (), 'ignore changes this soon after one (debounce), e.g. "5ms"'),
            ),
            default_interval_s=1.0,
            min_interval_s=0.01,
            world=("motion",),
        ),
        DriverSpec(
            name="counter",
            part="pulse counter on a GPIO pin (rain gauge, anemometer, flow meter)",
            transport="gpio",
            quantities=("count", "rate", "amount", "amount_rate"),
            target="drivers.counter:Counter",
            options=(
                Option("pull", CHOICE, "up", ("up", "down", "none"),
                       'internal resistor: "up" for a reed switch to GND (the default)'),
                Option("edge", CHOICE, "falling", ("falling", "rising"), "the transition counted"),
                Option("bounce_time", DURATION, None, (), 'ignore edges this soon after a pulse, e.g. "5ms"'),
                Option("scale", FLOAT, None, (), "amount of unit per pulse (per = pulse) or per Hz (per = hz)"),
                Option("k_factor", FLOAT, None, (), "pulses (per = pulse) or Hz (per = hz) per unit; "
                       "instead of scale"),
                Option("per", CHOICE, "pulse", ("pulse", "hz"),
                       '"pulse": amount and amount per hour; "hz": the rate times the scale'),
                Option("unit", STR, None, (), 'unit of the scaled amount, e.g. "mm", "km/h", "L/min"'),
            ),
            default_interval_s=60.0,
            min_interval_s=0.1,
            world=("pulses",),
        ),
    )
}
