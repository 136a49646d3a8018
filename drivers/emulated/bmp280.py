"""Register-level twin of a Bosch BMP280 (temperature and pressure).

Attach it at 0x76 (SDO to GND) or 0x77 (SDO to VDDIO) and set `temperature`
(°C) and `pressure` (hPa). The behaviour shared with the BME280 is described
in `drivers.emulated._bosch`; the BMP280's own (BST-BMP280-DS001, and the
BME280 datasheet's §5.2 Table 17): chip id 0x58 (engineering samples 0x56 and
0x57, `chip_id=`), no humidity (0xF2 and 0xFD/0xFE are reserved: writes are
ignored, reads give 0x00), standby codes 110/111 = 2/4 s, and output
resolution set by the oversampling alone, filter or not.
"""
from __future__ import annotations

import time
from typing import Callable

from drivers._bosch import Calibration
from drivers.emulated._bosch import DEFAULT_CALIBRATION, EmulatedBoschChip

# BMP280 §3.6.3 Table 11: t_sb code -> standby time, seconds.
STANDBY_S = (0.0005, 0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
CHIP_IDS = (0x58, 0x57, 0x56)  # mass production, samples


class EmulatedBMP280(EmulatedBoschChip):
    """A BMP280 on an emulated bus; faults: "absent", "all-ff", "stops-answering" (no CRC)."""

    CHIP_ID = 0x58
    HAS_HUMIDITY = False
    STANDBY_S = STANDBY_S
    FILTER_GIVES_20_BITS = False

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        temperature: float = 22.0,
        pressure: float = 1013.25,
        calibration: Calibration = DEFAULT_CALIBRATION,
        chip_id: int = 0x58,
    ) -> None:
        if chip_id not in CHIP_IDS:
            raise ValueError(f"a BMP280 answers 0x58 (or 0x56/0x57 as a sample), not 0x{chip_id:02X}")
        super().__init__(
            clock=clock, temperature=temperature, pressure=pressure, calibration=calibration, chip_id=chip_id
        )


__all__ = ["CHIP_IDS", "EmulatedBMP280", "STANDBY_S"]
