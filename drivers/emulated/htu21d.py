"""Register-level twin of the HTU21D family: TE HTU21D/HTU20D, Sensirion SHT21, Silicon Labs Si7021/Si7020.

One command byte (two for the electronic ID) per transfer, as in TE's
HTU21D(F) datasheet (HPC199_3, Oct 2013) and Silicon Labs' Si7021-A20
(rev 1.1) §5: 0xF5/0xF3 measure RH/T without holding the master (reads are
NACKed until the result is ready), 0xE5/0xE3 with holding, 0xE7/0xE6 read
/ write the user register, 0xFE soft reset; results are MSB, LSB (two status
bits: bit 1 = 1 for RH) and a CRC-8 (x^8+x^5+x^4+1, init 0x00). The Si70xx
parts add 0xE0 (the temperature measured with the last RH measurement, no
CRC), 0x51/0x11 (heater register) and 0x84 0xB8 (firmware revision).

`part` picks the chip: "HTU21D" (default), "SHT21", "Si7021" or "Si7020";
it sets the conversion times, the user register's power-on value, the
commands the chip knows and its electronic ID.

Modelling choices where the datasheets leave room:

- A command the part does not list is NACKed (Silicon Labs: "undefined and
  should not be sent"); so is a read with no result or register behind it,
  and any write while a no-hold measurement runs.
- Conversions take the datasheet maximum for the resolution; a hold-master
  command (clock stretching) answers at once, as if the master was held.
- Electronic ID (0xFA 0x0F / 0xFC 0xC9): Si70xx as in Si7021-A20 §5.3 (SNB_3
  names the part: 0x15 Si7021, 0x14 Si7020). TE and Sensirion document it
  only in an application note; the layout used here (SNB, then SNC_1 SNC_0
  SNA_1 SNA_0 with SNC_1 = 0x32, SNA = 0x4854) is the one HTU2xD/SHT2x
  libraries report (enjoyneering's HTU2xD_SHT2x_Si70xx). Each CRC covers the
  data bytes of that read up to it (the first one, the only one the driver
  checks, covers exactly the two bytes before it on every account).
- Reserved user-register bits cannot be changed (the datasheets forbid it);
  a write that tries sets `reserved_bits_written` so tests can catch it. On
  the HTU21D/SHT21, bit 1 = 0 ("OTP reload") reloads the default resolution
  before every measurement, keeping the heater bit.
- Soft reset and power-up: NACK everything for the datasheet time (15 ms;
  Si7021 power-up 25 ms), user register to default except the heater bit.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

from drivers._crc import crc8
from drivers.emulated.base import EmulatedI2CDevice
from drivers.emulated.smbus import Nack

CMD_MEASURE_T_HOLD, CMD_MEASURE_RH_HOLD = 0xE3, 0xE5
CMD_MEASURE_T, CMD_MEASURE_RH = 0xF3, 0xF5  # no hold master
CMD_READ_T_FROM_RH = 0xE0  # Si70xx only
CMD_WRITE_USER, CMD_READ_USER = 0xE6, 0xE7
CMD_WRITE_HEATER, CMD_READ_HEATER = 0x51, 0x11  # Si70xx only
CMD_SOFT_RESET = 0xFE
CMD_EID_FIRST = b"\xFA\x0F"
CMD_EID_SECOND = b"\xFC\xC9"
CMD_FIRMWARE = b"\x84\xB8"  # Si70xx only
FIRMWARE_REVISION_2_0 = 0x20
CRC_INIT = 0x00
SOFT_RESET_S = 0.015

USER_RES1, USER_EOB, USER_HEATER, USER_OTP_DISABLE, USER_RES0 = 0x80, 0x40, 0x04, 0x02, 0x01
# (bit 7, bit 0) -> (RH bits, T bits), HTU21D user register table.
RESOLUTIONS = {(0, 0): (12, 14), (0, 1): (8, 12), (1, 0): (10, 13), (1, 1): (11, 11)}


@dataclass(frozen=True)
class Part:
    name: str
    t_max_s: dict[int, float]  # conversion time (max) per temperature resolution
    rh_max_s: dict[int, float]  # per humidity resolution
    user_default: int
    writable: int  # user register bits a write may change
    silabs: bool  # 0xE0, heater register, firmware revision; RH conversion includes T
    eid_id: int  # SNB_3 (Si70xx) or SNC_1 (HTU2xD/SHT2x)
    power_up_s: float


_HTU = dict(user_default=0x02, writable=USER_RES1 | USER_HEATER | USER_OTP_DISABLE | USER_RES0, silabs=False)
_SI = dict(user_default=0x3A, writable=USER_RES1 | USER_HEATER | USER_RES0, silabs=True, power_up_s=0.025)
PARTS = {
    # HTU21D(F) p.4/p.6 measuring time, max.
    "HTU21D": Part("HTU21D", {14: 0.050, 13: 0.025, 12: 0.013, 11: 0.007},
                   {12: 0.016, 11: 0.008, 10: 0.005, 8: 0.003}, eid_id=0x32, power_up_s=0.015, **_HTU),
    # SHT21/SHT20 datasheet Table 7, max; user register 0x3A as Sensirion parts read.
    "SHT21": Part("SHT21", {14: 0.085, 13: 0.043, 12: 0.022, 11: 0.011},
                  {12: 0.029, 11: 0.015, 10: 0.009, 8: 0.004}, eid_id=0x32, power_up_s=0.015,
                  **{**_HTU, "user_default": 0x3A}),
    # Si7021-A20 Table 2, max; user register 1 reset value 0011_1010.
    "Si7021": Part("Si7021", {14: 0.0108, 13: 0.0062, 12: 0.0038, 11: 0.0024},
                   {12: 0.012, 11: 0.007, 10: 0.0045, 8: 0.0031}, eid_id=0x15, **_SI),
    "Si7020": Part("Si7020", {14: 0.0108, 13: 0.0062, 12: 0.0038, 11: 0.0024},
                   {12: 0.012, 11: 0.007, 10: 0.0045, 8: 0.0031}, eid_id=0x14, **_SI),
}  # fmt: skip
DEFAULT_SERIAL = 0x1C3E_5A07_7B2D_9E41


def _quantise(scaled: float, bits: int) -> int:
    step = 1 << (16 - bits)
    return max(0, min(0x10000 - step, round(scaled / step) * step)) & 0xFFFC


def celsius_to_word(temperature: float, bits: int = 14) -> int:
    """Inverse of T = -46.85 + 175.72 * S / 2^16, to `bits` bits, status bits 00."""
    return _quantise((temperature + 46.85) / 175.72 * 65536.0, bits)


def humidity_to_word(humidity: float, bits: int = 12) -> int:
    """Inverse of RH = -6 + 125 * S / 2^16, to `bits` bits, status bits 10.

    The ASIC's output stops at -6 and 118 %RH (HTU21D "Conversion of signal outputs").
    """
    humidity = max(-6.0, min(118.0, humidity))
    return _quantise((humidity + 6.0) / 125.0 * 65536.0, bits) | 0b10


class EmulatedHTU21D(EmulatedI2CDevice):
    """An HTU21D-family chip on an emulated bus; see the module docstring."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        temperature: float = 22.0,
        humidity: float = 45.0,
        part: str = "HTU21D",
        serial_number: int = DEFAULT_SERIAL,
    ) -> None:
        if part not in PARTS:
            raise ValueError(f"part must be one of {', '.join(PARTS)}, not {part!r}")
        super().__init__(clock=clock)
        self.part = PARTS[part]
        self.temperature = temperature
        self.humidity = humidity
        self.serial_number = serial_number & 0xFFFF_FFFF_FFFF_FFFF
        self.reserved_bits_written = False
        self._listening_at = -math.inf
        self._user = self.part.user_default
        self._power_on_state(keep_heater=False)

    def _power_on_state(self, *, keep_heater: bool) -> None:
        heater = self._user & USER_HEATER if keep_heater else 0
        self._user = self.part.user_default | heater
        self._heater_register = 0x00
        self._response: bytes | None = None
        self._ready_at = -math.inf
        self._last_rh_temperature = 0x0000  # T measured with the last RH measurement (Si70xx)

    def power_cycle(self) -> None:
        self._power_on_state(keep_heater=False)
        self._listening_at = self._clock() + self.part.power_up_s

    # -- state -----------------------------------------------------------------

    @property
    def user_register(self) -> int:
        return self._user

    @property
    def resolution(self) -> tuple[int, int]:
        """(RH bits, T bits) from the user register."""
        return RESOLUTIONS[(self._user >> 7 & 1, self._user & 1)]

    @property
    def heater_on(self) -> bool:
        return bool(self._user & USER_HEATER)

    def measuring(self) -> bool:
        return self._response is not None and self._clock() < self._ready_at

    # -- what the chip sends ---------------------------------------------------

    def _with_crc(self, data: bytes, every: int) -> bytes:
        """`data` with a CRC after every `every` bytes, each over the bytes so far."""
        out = bytearray()
        for i in range(0, len(data), every):
            out += data[i : i + every]
            crc = crc8(data[: i + every], init=CRC_INIT)
            out.append(crc ^ 0xFF if self.corrupt_crc else crc)
        return bytes(out)

    def _word(self, word: int) -> bytes:
        pair = word.to_bytes(2, "big")
        crc = crc8(pair, init=CRC_INIT)
        return pair + bytes([crc ^ 0xFF if self.corrupt_crc else crc])

    def _eid(self, command: bytes) -> bytes:
        serial = self.serial_number
        if self.part.silabs:  # Si7021-A20 §5.3: SNA_3..SNA_0, then SNB_3 (the part) .. SNB_0
            if command == CMD_EID_FIRST:
                return self._with_crc((serial >> 32).to_bytes(4, "big"), 1)
            snb = (self.part.eid_id << 24) | (serial & 0xFF_FFFF)
            return self._with_crc(snb.to_bytes(4, "big"), 2)
        if command == CMD_EID_FIRST:  # SNB_3 .. SNB_0
            return self._with_crc((serial & 0x00FF_FFFF).to_bytes(4, "big"), 1)
        snc_sna = (self.part.eid_id << 24) | ((serial >> 32) & 0xFF) << 16 | 0x4854
        return self._with_crc(snc_sna.to_bytes(4, "big"), 2)

    # -- I2CChip ---------------------------------------------------------------

    def _write(self, data: bytes, now: float) -> None:
        if now < self._listening_at:
            raise Nack()
        if not data:
            return  # address probe
        if self._response is not None and now < self._ready_at:
            raise Nack()  # busy measuring (no hold master)
        command = data[0]
        if command in (CMD_MEASURE_RH, CMD_MEASURE_T, CMD_MEASURE_RH_HOLD, CMD_MEASURE_T_HOLD):
            self._measure(command, now)
        elif command == CMD_READ_T_FROM_RH and self.part.silabs:
            self._response, self._ready_at = self._last_rh_temperature.to_bytes(2, "big"), now
        elif command == CMD_READ_USER:
            self._response, self._ready_at = bytes([self._user]), now
        elif command == CMD_WRITE_USER:
            if len(data) >= 2:
                self._write_user(data[1])
            self._response = None
        elif command == CMD_READ_HEATER and self.part.silabs:
            self._response, self._ready_at = bytes([self._heater_register]), now
        elif command == CMD_WRITE_HEATER and self.part.silabs:
            if len(data) >= 2:
                self._heater_register = data[1] & 0x0F  # bits 7:4 reserved
            self._response = None
        elif command == CMD_SOFT_RESET:
            self._power_on_state(keep_heater=True)
            self._listening_at = now + SOFT_RESET_S
        elif data[:2] in (CMD_EID_FIRST, CMD_EID_SECOND):
            self._response, self._ready_at = self._eid(data[:2]), now
        elif data[:2] == CMD_FIRMWARE and self.part.silabs:
            self._response, self._ready_at = bytes([FIRMWARE_REVISION_2_0]), now
        else:
            raise Nack()  # not in this part's command table

    def _write_user(self, value: int) -> None:
        writable = self.part.writable
        reserved = ~(writable | USER_EOB) & 0xFF
        if (value ^ self._user) & reserved:
            self.reserved_bits_written = True
        self._user = (self._user & ~writable) | (value & writable)

    def _measure(self, command: int, now: float) -> None:
        part = self.part
        if not part.silabs and not self._user & USER_OTP_DISABLE:
            # OTP reload: default settings before every measurement, heater bit kept.
            self._user = part.user_default | (self._user & USER_HEATER)
        rh_bits, t_bits = self.resolution
        t_word = celsius_to_word(self.temperature, t_bits)
        if command in (CMD_MEASURE_RH, CMD_MEASURE_RH_HOLD):
            word = humidity_to_word(self.humidity, rh_bits)
            duration = part.rh_max_s[rh_bits] + (part.t_max_s[t_bits] if part.silabs else 0.0)
            self._last_rh_temperature = t_word  # Si70xx: T measured for the RH compensation
        else:
            word, duration = t_word, part.t_max_s[t_bits]
        hold = command in (CMD_MEASURE_RH_HOLD, CMD_MEASURE_T_HOLD)
        self._response = self._word(word)
        self._ready_at = now if hold else now + duration

    def _read(self, length: int, now: float) -> bytes:
        if now < self._listening_at or self._response is None or now < self._ready_at:
            raise Nack()  # no result (yet): the read header is not acknowledged
        data, self._response = self._response, None
        return data[:length]  # past the last byte the line idles high


class EmulatedSi7021(EmulatedHTU21D):
    """The Si7021 variant (electronic ID 0x15, 0xE0 supported)."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("part", "Si7021")
        super().__init__(**kwargs)  # type: ignore[arg-type]


__all__ = ["PARTS", "EmulatedHTU21D", "EmulatedSi7021", "celsius_to_word", "humidity_to_word"]
