"""HTU21D family over I2C: TE HTU21D(F)/HTU20D, Sensirion SHT21, Silicon Labs Si7021/Si7020.

No-hold-master measurements only (0xF5 RH, 0xF3 T): the Raspberry Pi's I2C
adapter mishandles clock stretching, so the driver waits the datasheet
maximum itself and a NACKed read means "not done yet". References are to
TE's HTU21D(F) datasheet HPC199_3 (Oct 2013), Sensirion's SHT21 datasheet
v1.1 and Silicon Labs' Si7021-A20 rev 1.1.

Identity (first read, and again after every failed one) goes through
`drivers._probe_0x40`, which tells an HDC1080 from this family without
sending either one the other's commands (0xFE is this family's soft reset
and the HDC1080's manufacturer-ID pointer). It names the part from the
electronic ID where the chip has one.

One reading, fewest transactions without clock stretching:

- Si70xx (identified by SNB_3): write 0xF5; wait t(RH) + t(T) (an RH
  measurement also measures T, Si7021 Table 2 note 1); then one combined
  transfer: read RH + CRC, repeated start, write 0xE0, read the temperature
  of that same RH measurement (§5.1.2; no CRC exists for 0xE0, so the
  temperature word is checked by its status bits only). Two transactions,
  and temperature and humidity come from one conversion.
- HTU21D/SHT21: write 0xF5; wait; read RH + CRC and, after a repeated start
  in the same transaction, write 0xF3; wait; read T + CRC. Three.

Humidity: the formula spans -6..119 %RH. Silicon Labs (§5.1.1) allows
truncating values "slightly" outside 0..100; TE says the output can reach
-6 and 118 %RH through process tolerance. Values up to `RH_CLIP_BAND`
beyond either end are clipped; further out is an `ImplausibleReading`.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from drivers import (
    ChecksumError,
    DriverConfigError,
    DriverError,
    ImplausibleReading,
    NotReady,
    SensorNotFound,
    WrongChip,
)
from drivers._crc import crc8
from drivers._driver import Driver
from drivers._i2c_io import Link, all_ff_advice, bus_label
from drivers._probe_0x40 import SILABS_PARTS, probe_0x40

log = logging.getLogger(__name__)

ADDRESSES = (0x40,)  # fixed on every part of the family
QUANTITIES = ("temperature", "humidity")
# option value -> (user register bit 7, bit 0); HTU21D "User register" table.
RESOLUTIONS = {"rh12-t14": (0, 0), "rh8-t12": (0, 1), "rh10-t13": (1, 0), "rh11-t11": (1, 1)}
_BITS = {"rh12-t14": (12, 14), "rh8-t12": (8, 12), "rh10-t13": (10, 13), "rh11-t11": (11, 11)}

_CMD_MEASURE_RH = b"\xF5"  # no hold master
_CMD_MEASURE_T = b"\xF3"  # no hold master
_CMD_T_FROM_RH = b"\xE0"  # Si70xx §5.1.2
_CMD_WRITE_USER = 0xE6
_CMD_READ_USER = b"\xE7"
_CMD_SOFT_RESET = b"\xFE"
_POWER_UP_S = 0.080  # Si7021 Table 2: 80 ms over the full temperature range (HTU21D/SHT21: 15 ms)
_SOFT_RESET_S = 0.015  # HTU21D/SHT21 "soft reset takes less than 15 ms"; Si7021 Table 2: 15 ms max
_USER_RESOLUTION_MASK = 0x81  # bits 7 and 0; every other bit is written back as read
_USER_END_OF_BATTERY = 0x40
_CRC_INIT = 0x00  # x^8 + x^5 + x^4 + 1, init 0 (HTU21D p.14; Si7021 §5.1)
_STATUS_HUMIDITY = 0x02  # LSB bit 1: 1 = RH, 0 = T ("xxxxxx10" / "xxxxxx00")
# Maximum measuring times, seconds, per resolution bits.
_HTU_T = {14: 0.050, 13: 0.025, 12: 0.013, 11: 0.007}  # HTU21D p.4/p.6
_HTU_RH = {12: 0.016, 11: 0.008, 10: 0.005, 8: 0.003}
_SHT_T = {14: 0.085, 13: 0.043, 12: 0.022, 11: 0.011}  # SHT21 Table 7
_SHT_RH = {12: 0.029, 11: 0.015, 10: 0.009, 8: 0.004}
_SI_T = {14: 0.0108, 13: 0.0062, 12: 0.0038, 11: 0.0024}  # Si7021 Table 2
_SI_RH = {12: 0.012, 11: 0.007, 10: 0.0045, 8: 0.0031}
_MARGIN_S = 0.001  # Linux sleeps overshoot less than this; oscillators vary
RH_CLIP_BAND = 5.0  # %RH beyond 0..100 still taken as "slightly outside" and clipped
_T_FLOOR, _T_CEILING = 0x0000, 0xFFFC  # the converter's end stops


def conversion_time_s(resolution: str = "rh12-t14", **_: object) -> float:
    """The longest RH + T conversion in the family at this resolution (the SHT21's)."""
    rh_bits, t_bits = _BITS.get(resolution, _BITS["rh12-t14"])
    return _SHT_RH[rh_bits] + _SHT_T[t_bits]


def raw_to_celsius(word: int) -> float:
    """HTU21D "Temperature conversion": T = -46.85 + 175.72 * S_T / 2^16 (status bits cleared)."""
    return -46.85 + 175.72 * (word & 0xFFFC) / 65536.0


def raw_to_humidity(word: int) -> float:
    """HTU21D "Relative humidity conversion": RH = -6 + 125 * S_RH / 2^16 (status bits cleared)."""
    return -6.0 + 125.0 * (word & 0xFFFC) / 65536.0


def parse_result(data: bytes, quantity: str, *, has_crc: bool = True) -> int:
    """MSB, LSB[, CRC] -> the 16-bit word, checked; raises ChecksumError.

    Checks the CRC (init 0x00) and the status bit that says which measurement
    the word is (bit 1: 1 for humidity, 0 for temperature).
    """
    word = int.from_bytes(data[:2], "big")
    if has_crc:
        expected = crc8(data[:2], init=_CRC_INIT)
        if expected != data[2]:
            raise ChecksumError(
                f"HTU21D {quantity} word 0x{word:04X}: CRC expected 0x{expected:02X}, received "
                f"0x{data[2]:02X}; check the I2C wiring for noise (long wires, missing pull-ups)"
            )
    is_humidity = bool(word & _STATUS_HUMIDITY)
    if is_humidity != (quantity == "humidity"):
        raise ChecksumError(
            f"HTU21D {quantity} word 0x{word:04X} carries the status bits of a "
            f"{'humidity' if is_humidity else 'temperature'} result; the chip answered another "
            "command than the one sent (another program on the bus?) or the data is corrupt"
        )
    return word


def humidity_in_range(rh: float) -> float:
    """Clip values slightly outside 0..100 %RH; raise ImplausibleReading further out."""
    if -RH_CLIP_BAND <= rh <= 100.0 + RH_CLIP_BAND:
        return min(100.0, max(0.0, rh))
    raise ImplausibleReading(
        f"HTU21D humidity {rh:.2f} %RH is outside 0..100 %RH by more than {RH_CLIP_BAND:g} %RH "
        "(the chip's tolerance band); a wet or damaged sensor reads like this: let it dry, "
        "check it against another sensor"
    )


def identify(bus: object, address: int = 0x40, *, sleep: Callable[[float], None] = time.sleep) -> str | None:
    """The part ("Si7021", "HTU21D", ...) when this family answers at `address`, else None.

    Sends what `drivers._probe_0x40` documents: a bare read, then 0xE7 (read
    user register) and 0xFC 0xC9 (electronic ID) only to a chip that is no
    HDC1080. Nothing is reset, measured or written.
    """
    if address not in ADDRESSES:
        return None
    probe = probe_0x40(bus, address, sleep=sleep)
    return probe.part if probe.family == "htu21d" else None


class HTU21D(Driver):
    """An HTU21D, SHT21, HTU20D or Si7021/Si7020 on an smbus2-compatible bus; the constructor does no I/O."""

    def __init__(
        self,
        bus: object,
        address: int = 0x40,
        *,
        resolution: str = "rh12-t14",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(address, int) or address not in ADDRESSES:
            raise DriverConfigError(
                f"HTU21D address {address!r} is not possible: the HTU21D, SHT21 and Si7021 are fixed at 0x40"
            )
        if resolution not in RESOLUTIONS:
            raise DriverConfigError(f"HTU21D resolution {resolution!r} is not one of {', '.join(RESOLUTIONS)}")
        self._bus = bus
        self.address = address
        self.resolution = resolution
        self._sleep = sleep
        self._link = Link(bus, address, "HTU21D")
        self._checked = False
        self._reset_next = False
        self._e0_refused = False
        self.part: str | None = None  # named by the first identity check

    # -- identity and set-up ---------------------------------------------------

    def _not_found(self) -> SensorNotFound:
        label = bus_label(self._bus)
        return SensorNotFound(
            f"no HTU21D/Si7021 answered at 0x{self.address:02X} on I2C bus {label}: check the "
            f"wiring of SDA, SCL, VCC (3.3 V) and GND, the pull-ups, and what `i2cdetect -y {label}` shows"
        )

    def _check_identity(self) -> None:
        probe = probe_0x40(self._bus, self.address, sleep=self._sleep, part="HTU21D")
        if not probe.answered:
            self._sleep(_POWER_UP_S)  # a chip still powering up does not answer yet
            probe = probe_0x40(self._bus, self.address, sleep=self._sleep, part="HTU21D")
        if not probe.answered:
            raise self._not_found()
        if probe.all_ff:
            raise SensorNotFound(all_ff_advice("HTU21D", self.address, self._bus))
        if probe.family == "hdc1080":
            raise WrongChip(
                "an HDC1080 (manufacturer ID 0x5449, device ID 0x1050) answers at 0x40, not an "
                'HTU21D/Si7021: set driver = "hdc1080"',
                found="HDC1080",
            )
        if probe.family != "htu21d":
            what = f"a {probe.part}" if probe.part else "a chip that is neither an HTU21D-family part nor an HDC1080"
            raise WrongChip(f"{what} answers at 0x40, not an HTU21D/Si7021", found=probe.part)
        user = probe.user_register
        assert user is not None
        if self._reset_next:
            self.soft_reset()
            user = self._read_user()
        self._configure(user)
        self.part = probe.part
        self._checked, self._reset_next = True, False

    def _read_user(self) -> int:
        data = self._link.write_read(_CMD_READ_USER, 1)
        if data is None:
            raise self._not_found()
        return data[0]

    def _configure(self, user: int) -> None:
        bit7, bit0 = RESOLUTIONS[self.resolution]
        wanted = (user & ~_USER_RESOLUTION_MASK & 0xFF) | (bit7 << 7) | bit0
        if wanted != user and not self._link.write(bytes([_CMD_WRITE_USER, wanted])):
            raise self._not_found()
        if user & _USER_END_OF_BATTERY:
            log.warning("HTU21D at 0x%02X reports VDD below 2.25 V (end of battery)", self.address)

    def soft_reset(self) -> None:
        """0xFE: reboot with default settings (the heater bit is kept); 15 ms."""
        if not self._link.write(_CMD_SOFT_RESET):
            raise self._not_found()
        self._sleep(_SOFT_RESET_S)
        self._checked = False

    # -- measuring -------------------------------------------------------------

    def _waits(self, quantity: str) -> tuple[float, float]:
        """(first wait, extra wait before the one retry) for one conversion."""
        rh_bits, t_bits = _BITS[self.resolution]
        if self.part in SILABS_PARTS:
            first = _SI_RH[rh_bits] + _SI_T[t_bits] if quantity == "humidity" else _SI_T[t_bits]
            return first + _MARGIN_S, _MARGIN_S
        # Unnamed parts and 0x32 ("HTU2xD/SHT2x") may be an SHT21: try at the HTU21D
        # maximum, retry once at the (slower) SHT21 maximum.
        htu, sht = (_HTU_RH[rh_bits], _SHT_RH[rh_bits]) if quantity == "humidity" else (_HTU_T[t_bits], _SHT_T[t_bits])
        return htu + _MARGIN_S, sht - htu + _MARGIN_S

    def _fetch(self, quantity: str, *then: bytes | int) -> list[bytes]:
        first, retry = self._waits(quantity)
        self._sleep(first)
        got = self._link.transfer(3, *then)
        if got is None:
            self._sleep(retry)
            got = self._link.transfer(3, *then)
        if got is None:
            raise NotReady(
                f"HTU21D at 0x{self.address:02X} took the {quantity} command but had no result "
                f"{1000 * (first + retry):.1f} ms later; the driver resets it before the next reading"
            )
        return got

    def _start(self, command: bytes) -> None:
        if not self._link.write(command):
            raise self._not_found()

    def _measure(self) -> tuple[int, int]:
        self._start(_CMD_MEASURE_RH)
        if self.part in SILABS_PARTS and not self._e0_refused:
            try:
                rh_data, t_data = self._fetch("humidity", _CMD_T_FROM_RH, 2)
            except NotReady:
                # A clone that refuses 0xE0 fails the same way; measure T itself from now on.
                self._e0_refused = True
                log.warning("HTU21D at 0x%02X: no answer to 0xE0; measuring temperature separately", self.address)
                raise
            return parse_result(t_data, "temperature", has_crc=False), parse_result(rh_data, "humidity")
        (rh_data,) = self._fetch("humidity", _CMD_MEASURE_T)
        rh_word = parse_result(rh_data, "humidity")
        (t_data,) = self._fetch("temperature")
        return parse_result(t_data, "temperature"), rh_word

    def read(self) -> dict[str, float]:
        """One RH and one T measurement: temperature °C and humidity %RH, 2 decimals."""
        try:
            if not self._checked:
                self._check_identity()
            t_word, rh_word = self._measure()
            if t_word & 0xFFFC in (_T_FLOOR, _T_CEILING):
                raise ImplausibleReading(
                    f"HTU21D temperature word 0x{t_word:04X} ({raw_to_celsius(t_word):.2f} °C) sits at "
                    "the converter's end stop, which is no measurement: check the sensor's power"
                )
            humidity = humidity_in_range(raw_to_humidity(rh_word))
        except DriverError as exc:
            self._checked = False
            self._reset_next = isinstance(exc, NotReady)
            raise
        return {"temperature": round(raw_to_celsius(t_word), 2), "humidity": round(humidity, 2)}

    def __repr__(self) -> str:
        return f"HTU21D(address=0x{self.address:02X}, resolution={self.resolution!r}, part={self.part!r})"


__all__ = [
    "ADDRESSES",
    "QUANTITIES",
    "RESOLUTIONS",
    "HTU21D",
    "conversion_time_s",
    "humidity_in_range",
    "identify",
    "parse_result",
    "raw_to_celsius",
    "raw_to_humidity",
]
