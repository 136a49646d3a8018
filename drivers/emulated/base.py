"""What every emulated I2C chip shares: the faults a miswired or failing part shows.

A twin subclasses `EmulatedI2CDevice` and implements `_write(data, now)` and
`_read(length, now)` as its datasheet describes; the base answers for the
faults that look the same on any chip, so each twin models only its own:

- ``"absent"``: NACKs everything, address probes included (a cut wire);
- ``"all-ff"``: ACKs, but every byte reads as 0xFF (SDA not driven: a chip
  without power that still pulls the line, or a wrong pull-up);
- ``"stops-answering"``: answers `answers_before_silence` more transfers,
  then NACKs everything until the fault is cleared (a hung chip);
- ``"crc"``: the twin corrupts every CRC it sends (`self.corrupt_crc`);
  chips without a CRC cannot show it.

``"stuck-bus"`` belongs to the bus (`EmulatedSMBus.stuck`) and
``"wrong-chip"`` to whoever wires the bus (a sibling twin at the address).
"""
from __future__ import annotations

import time
from typing import Callable

from drivers.emulated.smbus import Nack

CHIP_FAULTS = ("absent", "crc", "all-ff", "stops-answering")
BUS_FAULTS = ("stuck-bus", "wrong-chip")
FAULTS = CHIP_FAULTS + BUS_FAULTS
# "stops-answering": how many transfers still succeed after the fault is set.
DEFAULT_ANSWERS_BEFORE_SILENCE = 4


class EmulatedI2CDevice:
    """Base of the register-level twins; see the module docstring."""

    has_crc = True  # False on chips that send no CRC (they cannot show "crc")

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._fault: str | None = None
        self._answers_left = 0
        self.answers_before_silence = DEFAULT_ANSWERS_BEFORE_SILENCE

    # -- faults --------------------------------------------------------------

    @property
    def fault(self) -> str | None:
        return self._fault

    @fault.setter
    def fault(self, name: str | None) -> None:
        if name is not None and name not in CHIP_FAULTS:
            raise ValueError(f"a chip can show {', '.join(CHIP_FAULTS)}, not {name!r}")
        if name == "crc" and not self.has_crc:
            raise ValueError(f"{type(self).__name__} sends no CRC, so it cannot show 'crc'")
        self._fault = name
        self._answers_left = self.answers_before_silence

    @property
    def absent(self) -> bool:
        return self._fault == "absent"

    @absent.setter
    def absent(self, value: bool) -> None:
        self.fault = "absent" if value else None

    @property
    def corrupt_crc(self) -> bool:
        return self._fault == "crc"

    @corrupt_crc.setter
    def corrupt_crc(self, value: bool) -> None:
        self.fault = "crc" if value else None

    def _silent(self) -> bool:
        if self._fault == "absent":
            return True
        if self._fault == "stops-answering":
            if self._answers_left <= 0:
                return True
            self._answers_left -= 1
        return False

    # -- I2CChip -------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._silent():
            raise Nack()
        self._write(bytes(data), self._clock())

    def read(self, length: int) -> bytes:
        if self._silent():
            raise Nack()
        data = self._read(length, self._clock())
        if self._fault == "all-ff":
            return b"\xff" * length
        return data

    # -- what a twin implements ----------------------------------------------

    def _write(self, data: bytes, now: float) -> None:
        raise NotImplementedError

    def _read(self, length: int, now: float) -> bytes:
        raise NotImplementedError


__all__ = ["BUS_FAULTS", "CHIP_FAULTS", "FAULTS", "EmulatedI2CDevice"]
