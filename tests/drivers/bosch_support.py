"""Helpers for the BME280/BMP280 tests: what "within quantisation" means for one reading.

The twin rounds the ADC count it would need to the resolution the chip has for
the settings (16 + (osrs - 1) bits; a steady input leaves the IIR filter's
output there too; 16 bits for humidity), so a reading may be off by half a count step in the double-precision
formula. On top come the differences of the drivers' integer path from it (our
sweep in test_bosch_compensation: 0.008 °C, 0.01 Pa, 0.01 %RH, and t_fine's),
and the driver's rounding of pressure and humidity to 3 decimals.
"""
from __future__ import annotations

from typing import Any

from smbus2 import i2c_msg

from drivers._bosch import Calibration, compensate_temperature
from drivers.emulated._bosch import DEFAULT_CALIBRATION, humidity_double, pressure_double, temperature_double

T_PATHS_C = 0.008
P_PATHS_PA = 0.01
H_PATHS_RH = 0.01
ROUNDING_3_DECIMALS = 0.0005

# Constants as read from another real BME280, with dig_H3 != 0 and a negative dig_H5/dig_H6,
# so every term of the humidity formula and the nibble signs matter.
OTHER_PART = Calibration(
    t1=28485, t2=26735, t3=50,
    p1=37099, p2=-10475, p3=3024, p4=7799, p5=-163, p6=-7, p7=9900, p8=-10230, p9=4285,
    h1=80, h2=370, h3=40, h4=330, h5=-20, h6=-12,
)  # fmt: skip


def registers(bus: object, address: int, first: int, count: int) -> bytes:
    pointer, data = i2c_msg.write(address, [first]), i2c_msg.read(address, count)
    bus.i2c_rdwr(pointer, data)  # type: ignore[attr-defined]
    return bytes(data)


def raw_counts(bus: object, address: int) -> dict[str, int]:
    """The last conversion's counts and the chip's settings, read from its registers."""
    at = dict(zip(range(0xF2, 0xFF), registers(bus, address, 0xF2, 13)))
    return {
        "pressure": at[0xF7] << 12 | at[0xF8] << 4 | at[0xF9] >> 4,
        "temperature": at[0xFA] << 12 | at[0xFB] << 4 | at[0xFC] >> 4,
        "humidity": at[0xFD] << 8 | at[0xFE],
        "osrs_t": at[0xF4] >> 5,
        "osrs_p": (at[0xF4] >> 2) & 0x07,
        "filter": (at[0xF5] >> 2) & 0x07,
    }


def _step(osrs: int) -> int:
    return 1 << (20 - (15 + min(osrs, 5)))


def tolerances(bus: object, address: int, *, calibration: Calibration = DEFAULT_CALIBRATION) -> dict[str, float]:
    """How far each quantity of the last reading (of a steady input) may be from the twin's true value."""
    raw = raw_counts(bus, address)
    cal = calibration
    adc_t, step_t = raw["temperature"], _step(raw["osrs_t"])
    t_fine, _ = temperature_double(adc_t, cal)
    t_fine_int, _ = compensate_temperature(adc_t, cal)
    half_t = abs(temperature_double(adc_t + step_t, cal)[1] - temperature_double(adc_t, cal)[1]) / 2
    out = {"temperature": half_t + T_PATHS_C}
    adc_p, step_p = raw["pressure"], _step(raw["osrs_p"])
    half_p = abs(pressure_double(adc_p + step_p, t_fine, cal) - pressure_double(adc_p, t_fine, cal)) / 2
    t_fine_effect = abs(pressure_double(adc_p, t_fine_int, cal) - pressure_double(adc_p, t_fine, cal))
    out["pressure"] = (half_p + t_fine_effect + P_PATHS_PA) / 100 + ROUNDING_3_DECIMALS
    adc_h = raw["humidity"]
    half_h = abs(humidity_double(adc_h + 1, t_fine, cal) - humidity_double(adc_h, t_fine, cal)) / 2
    t_fine_effect = abs(humidity_double(adc_h, t_fine_int, cal) - humidity_double(adc_h, t_fine, cal))
    out["humidity"] = half_h + t_fine_effect + H_PATHS_RH + ROUNDING_3_DECIMALS
    return out


class Spy:
    """Records what a twin is sent: every write transaction's bytes."""

    def __init__(self, chip: Any) -> None:
        self.writes: list[bytes] = []
        original = chip.write

        def write(data: bytes) -> None:
            self.writes.append(bytes(data))
            original(data)

        chip.write = write  # type: ignore[method-assign]

    def pointers(self) -> list[int]:
        return [w[0] for w in self.writes if len(w) == 1]

    def register_writes(self) -> list[tuple[int, int]]:
        return [(w[i], w[i + 1]) for w in self.writes if len(w) >= 2 for i in range(0, len(w) - 1, 2)]
