"""Register-level twin of a Bosch BME280 (temperature, humidity, pressure).

Attach it at 0x76 (SDO to GND) or 0x77 (SDO to VDDIO) and set `temperature`
(°C), `humidity` (%RH) and `pressure` (hPa) to what the chip should measure.
The behaviour shared with the BMP280 (register file, conversions, filter,
modes, reset) is described in `drivers.emulated._bosch`; what is the
BME280's own: chip id 0x60, the humidity channel (ctrl_hum 0xF2, latched by
the next ctrl_meas write; hum_msb/lsb 0xFD/0xFE; calibration 0xE1..0xE7 with
dig_H4/dig_H5 sharing 0xE5), normal-mode standby codes 110/111 = 10/20 ms,
and 20-bit temperature and pressure output while the IIR filter is on
(BST-BME280-DS002 §5.2 Table 17).
"""
from __future__ import annotations

import time
from typing import Callable

from drivers._bosch import Calibration
from drivers.emulated._bosch import DEFAULT_CALIBRATION, EmulatedBoschChip

# §5.4.6 Table 27: t_sb code -> standby time, seconds.
STANDBY_S = (0.0005, 0.0625, 0.125, 0.25, 0.5, 1.0, 0.010, 0.020)
# calib34..calib41 (0xE8..0xF0) hold no published parameter; "individual" per part (Table 18).
_UNUSED_CALIB = bytes([0x41, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])


class EmulatedBME280(EmulatedBoschChip):
    """A BME280 on an emulated bus; faults: "absent", "all-ff", "stops-answering" (no CRC)."""

    CHIP_ID = 0x60  # §5.4.1
    HAS_HUMIDITY = True
    STANDBY_S = STANDBY_S
    FILTER_GIVES_20_BITS = True

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        temperature: float = 22.0,
        humidity: float = 45.0,
        pressure: float = 1013.25,
        calibration: Calibration = DEFAULT_CALIBRATION,
    ) -> None:
        super().__init__(clock=clock, temperature=temperature, pressure=pressure, calibration=calibration)
        self.humidity = humidity

    def _true_humidity(self) -> float:
        return self.humidity

    def _register(self, register: int, now: float) -> int:
        if 0xE8 <= register <= 0xF0:
            return _UNUSED_CALIB[register - 0xE8]
        return super()._register(register, now)


__all__ = ["EmulatedBME280", "STANDBY_S"]
