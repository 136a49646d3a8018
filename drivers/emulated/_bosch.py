"""Register-level twin core of the Bosch BME280 and BMP280 (see their modules).

Follows BST-BME280-DS002-15 rev 1.6 (section numbers) and BST-BMP280-DS001:
a register file at one I2C address; a write is the register pointer followed
by (register, value) pairs (§6.2.1: writes do not auto-increment), a read
streams from the pointer with auto-increment (§6.2.2), with or without a
repeated start. True values become raw ADC counts by inverting the
datasheet's double-precision compensation (§8.1) numerically with the
part's calibration, then quantising as the chip would: 16 + (osrs - 1) bits
for temperature and pressure (20 bits with the BME280's IIR filter on),
16 bits for humidity. The drivers compensate with the integer formulas, so
every reading cross-checks the two.

Modelling choices where the datasheets leave room:

- Conversions take the §9.1 *maximum* time (the slowest part allowed);
  status bit 3 (measuring) is set from the ctrl_meas write until then, and
  the data registers change only at the end, all at once.
- The true values are sampled when a conversion starts.
- After a soft reset, im_update is set and the calibration image registers
  read 0x00 for the 2 ms start-up (the NVM copy); the chip still ACKs. The
  twin starts with its power-on already complete. The short im_update at
  the start of every conversion (§5.4.4) is not modelled.
- Reserved registers read 0x00 and ignore writes ("no specific value is
  guaranteed", §5.1); so do the BMP280's humidity registers and a read
  past 0xFF. Read-only registers ignore writes.
- A ctrl_meas write during a conversion is carried out when it ends
  (§3.3.1: mode changes wait for the running measurement); a config write
  in normal mode is ignored (§5.4.6 "may be ignored").
"""
from __future__ import annotations

import math
import struct
import time
from typing import Callable

from drivers._bosch import Calibration, measurement_time_s
from drivers.emulated.base import EmulatedI2CDevice

REG_CALIB_TP, REG_CHIP_ID, REG_RESET, REG_CALIB_H = 0x88, 0xD0, 0xE0, 0xE1
REG_CTRL_HUM, REG_STATUS, REG_CTRL_MEAS, REG_CONFIG, REG_DATA = 0xF2, 0xF3, 0xF4, 0xF5, 0xF7
RESET_WORD = 0xB6
STATUS_MEASURING, STATUS_IM_UPDATE = 0x08, 0x01
START_UP_S = 0.002  # §1 Table 1 t_startup; Bosch BME280_driver waits 2 ms after a reset
# Table 18 reset values of press, temp (0x80 0x00 0x00 each) and hum (0x80 0x00).
DATA_RESET = bytes([0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00])
# osrs code -> oversampling factor (§5.4.5 Table 24: 101 and above are all x16).
OVERSAMPLING = {0: 0, 1: 1, 2: 2, 3: 4, 4: 8, 5: 16, 6: 16, 7: 16}
# filter code -> coefficient (§5.4.6 Table 28: 100 and above are all 16).
FILTER = {0: 0, 1: 2, 2: 4, 3: 8, 4: 16, 5: 16, 6: 16, 7: 16}
ADC_20_BIT_MAX = (1 << 20) - 1
ADC_16_BIT_MAX = (1 << 16) - 1
# Normal-mode cycles worked through one by one after a long idle (the filter has settled by then).
_MAX_CATCH_UP_CYCLES = 64

# The BMP280 datasheet's example calibration (§3.12, also hardware-facts.md §1.2), with
# humidity constants as read from a real BME280.
DEFAULT_CALIBRATION = Calibration(
    t1=27504, t2=26435, t3=-1000,
    p1=36477, p2=-10685, p3=3024, p4=2855, p5=140, p6=-7, p7=15500, p8=-14600, p9=6000,
    h1=75, h2=362, h3=0, h4=313, h5=50, h6=30,
)  # fmt: skip


def calibration_image(cal: Calibration) -> tuple[bytes, bytes]:
    """Table 16 register contents: 26 bytes from 0x88 and 7 bytes from 0xE1."""
    if not -2048 <= cal.h4 <= 2047 or not -2048 <= cal.h5 <= 2047:
        raise ValueError("dig_H4 and dig_H5 are 12-bit signed values")
    words = struct.pack("<HhhHhhhhhhhh", cal.t1, cal.t2, cal.t3, cal.p1, cal.p2, cal.p3, cal.p4,
                        cal.p5, cal.p6, cal.p7, cal.p8, cal.p9)  # fmt: skip
    tp = words + bytes([0x00, cal.h1])  # 0xA0 reserved, 0xA1 dig_H1
    humidity = struct.pack("<hB", cal.h2, cal.h3) + bytes(
        [(cal.h4 >> 4) & 0xFF, (cal.h5 & 0x0F) << 4 | (cal.h4 & 0x0F), (cal.h5 >> 4) & 0xFF, cal.h6 & 0xFF]
    )
    return tp, humidity


# -- §8.1 double-precision compensation (independent of the drivers' integer path) --


def temperature_double(adc_t: float, cal: Calibration) -> tuple[int, float]:
    """(t_fine, °C); t_fine is truncated to an integer as the reference code's cast does."""
    var1 = (adc_t / 16384.0 - cal.t1 / 1024.0) * cal.t2
    var2 = (adc_t / 131072.0 - cal.t1 / 8192.0) ** 2 * cal.t3
    return int(var1 + var2), (var1 + var2) / 5120.0


def pressure_double(adc_p: float, t_fine: int, cal: Calibration) -> float:
    """Pa."""
    var1 = t_fine / 2.0 - 64000.0
    var2 = var1 * var1 * cal.p6 / 32768.0 + var1 * cal.p5 * 2.0
    var2 = var2 / 4.0 + cal.p4 * 65536.0
    var1 = (cal.p3 * var1 * var1 / 524288.0 + cal.p2 * var1) / 524288.0
    var1 = (1.0 + var1 / 32768.0) * cal.p1
    if var1 == 0:
        return 0.0  # as the reference code, which avoids the division
    p = (1048576.0 - adc_p - var2 / 4096.0) * 6250.0 / var1
    return p + (cal.p9 * p * p / 2147483648.0 + p * cal.p8 / 32768.0 + cal.p7) / 16.0


def humidity_double(adc_h: float, t_fine: int, cal: Calibration) -> float:
    """%RH before the 0..100 clamp (the inversion needs the unclamped curve)."""
    x = t_fine - 76800.0
    h = (adc_h - (cal.h4 * 64.0 + cal.h5 / 16384.0 * x)) * (
        cal.h2 / 65536.0 * (1.0 + cal.h6 / 67108864.0 * x * (1.0 + cal.h3 / 67108864.0 * x))
    )
    return h * (1.0 - cal.h1 * h / 524288.0)


def _solve(f: Callable[[float], float], target: float, low: float, high: float) -> float:
    """The x in [low, high] where the monotonic f(x) = target (the nearer end if none)."""
    f_low, f_high = f(low), f(high)
    rising = f_high > f_low
    if (target <= f_low) == rising:
        return low
    if (target >= f_high) == rising:
        return high
    for _ in range(60):
        mid = (low + high) / 2
        if (f(mid) < target) == rising:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _quantise(adc: float, bits: int) -> int:
    step = 1 << (20 - bits)
    return max(0, min(ADC_20_BIT_MAX - step + 1, round(adc / step) * step))


class EmulatedBoschChip(EmulatedI2CDevice):
    """Shared by `EmulatedBME280` and `EmulatedBMP280`; see the module docstring."""

    has_crc = False
    CHIP_ID = 0x00
    HAS_HUMIDITY = False
    # config t_sb code -> standby time in normal mode, seconds (§5.4.6 Table 27 / BMP280 Table 11).
    STANDBY_S: tuple[float, ...] = ()
    # With the IIR filter on, the BME280's output has 20 bits; the BMP280's keeps osrs bits (§5.2 Table 17).
    FILTER_GIVES_20_BITS = False

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        temperature: float,
        pressure: float,
        calibration: Calibration | None = None,
        chip_id: int | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.temperature = temperature
        self.pressure = pressure
        self.calibration = calibration or DEFAULT_CALIBRATION
        self._tp_image, self._h_image = calibration_image(self.calibration)
        self.chip_id = self.CHIP_ID if chip_id is None else chip_id
        self._pointer = 0x00
        self._power_on_reset(-math.inf)  # powered up long before anyone talks to it

    def _power_on_reset(self, now: float) -> None:
        self._ctrl_hum = self._ctrl_meas = self._config = 0x00
        self._osrs_h = 0  # the ctrl_hum value latched by the last ctrl_meas write
        self._data = bytearray(DATA_RESET)
        self._copy_until = now + START_UP_S
        self._conversion: tuple[float, dict[str, int | None]] | None = None  # (ends at, raw counts)
        self._pending_ctrl_meas: int | None = None
        self._next_cycle: float | None = None  # normal mode: when the next conversion starts
        self._iir: dict[str, float | None] = {"temperature": None, "pressure": None}

    # -- state ---------------------------------------------------------------

    @property
    def mode(self) -> str:
        return {0: "sleep", 3: "normal"}.get(self._ctrl_meas & 0x03, "forced")

    @property
    def measuring(self) -> bool:
        return self._conversion is not None

    def _advance(self, now: float) -> None:
        """Bring conversions, normal-mode cycles and the NVM copy up to `now`."""
        cycles = 0
        while True:
            if self._conversion is not None and self._conversion[0] <= now:
                ends_at, raw = self._conversion
                self._conversion = None
                self._finish(raw, ends_at)
            elif self._conversion is None and self._next_cycle is not None and self._next_cycle <= now:
                cycles += 1
                if cycles > _MAX_CATCH_UP_CYCLES:
                    period = self._measurement_s() + self._standby_s()
                    self._next_cycle += period * math.floor((now - self._next_cycle) / period)
                self._start_conversion(self._next_cycle)
            else:
                return

    def _measurement_s(self) -> float:
        osrs_t, osrs_p = OVERSAMPLING[self._ctrl_meas >> 5], OVERSAMPLING[(self._ctrl_meas >> 2) & 0x07]
        return measurement_time_s(osrs_t, osrs_p, OVERSAMPLING[self._osrs_h])

    def _standby_s(self) -> float:
        return self.STANDBY_S[self._config >> 5]

    def _apply_ctrl_meas(self, value: int, at: float) -> None:
        self._ctrl_meas = value
        self._osrs_h = self._ctrl_hum  # §5.4.3: ctrl_hum takes effect with this write
        self._next_cycle = None
        if value & 0x03:
            self._start_conversion(at)

    def _start_conversion(self, at: float) -> None:
        self._conversion = (at + self._measurement_s(), self._sample())

    def _sample(self) -> dict[str, int | None]:
        """Raw counts for the true values; None for a skipped channel."""
        cal = self.calibration
        osrs_t, osrs_p = self._ctrl_meas >> 5, (self._ctrl_meas >> 2) & 0x07
        adc_t = _solve(lambda a: temperature_double(a, cal)[1], self.temperature, 0, ADC_20_BIT_MAX)
        raw_t = _quantise(adc_t, self._bits(osrs_t)) if osrs_t else None
        t_fine, _ = temperature_double(adc_t if raw_t is None else raw_t, cal)
        raw: dict[str, int | None] = {"temperature": raw_t, "pressure": None, "humidity": None}
        if osrs_p:
            adc_p = _solve(lambda a: pressure_double(a, t_fine, cal), 100.0 * self.pressure, 0, ADC_20_BIT_MAX)
            raw["pressure"] = _quantise(adc_p, self._bits(osrs_p))
        if self.HAS_HUMIDITY and self._osrs_h:
            adc_h = _solve(lambda a: humidity_double(a, t_fine, cal), self._true_humidity(), 0, ADC_16_BIT_MAX)
            raw["humidity"] = round(adc_h)
        return raw

    def _true_humidity(self) -> float:
        return 0.0

    @staticmethod
    def _bits(osrs: int) -> int:
        return 15 + min(osrs, 5)  # §3.4.2: the ADC gives 16 + (osrs - 1) bits

    def _finish(self, raw: dict[str, int | None], at: float) -> None:
        """End of a conversion: filter, then update the data registers together (§3.4)."""
        coefficient = FILTER[(self._config >> 2) & 0x07]
        osrs = {"temperature": self._ctrl_meas >> 5, "pressure": (self._ctrl_meas >> 2) & 0x07}
        out = {}
        for name in ("pressure", "temperature"):
            value = raw[name]
            if value is None:
                out[name] = 0x80000  # skipped; the filter memory is kept (§3.4.4)
                continue
            if coefficient:
                # §3.4.4: new memory = (memory * (c - 1) + ADC) / c, sent to the output registers.
                memory = self._iir[name]
                memory = value if memory is None else (memory * (coefficient - 1) + value) / coefficient
                self._iir[name] = memory
                value = _quantise(memory, 20 if self.FILTER_GIVES_20_BITS else self._bits(osrs[name]))
            out[name] = value
        self._data[0:3] = (out["pressure"] << 4).to_bytes(3, "big")
        self._data[3:6] = (out["temperature"] << 4).to_bytes(3, "big")
        humidity = raw["humidity"]
        self._data[6:8] = (0x8000 if humidity is None else humidity).to_bytes(2, "big")
        if self.mode == "forced":
            self._ctrl_meas &= ~0x03  # §3.3.3: back to sleep mode after one conversion
        elif self.mode == "normal":
            self._next_cycle = at + self._standby_s()
        if self._pending_ctrl_meas is not None:
            value, self._pending_ctrl_meas = self._pending_ctrl_meas, None
            self._apply_ctrl_meas(value, at)

    # -- registers -----------------------------------------------------------

    def _register(self, register: int, now: float) -> int:
        copying = now < self._copy_until
        if REG_CALIB_TP <= register < REG_CALIB_TP + len(self._tp_image):
            return 0x00 if copying else self._tp_image[register - REG_CALIB_TP]
        if self.HAS_HUMIDITY and REG_CALIB_H <= register < REG_CALIB_H + len(self._h_image):
            return 0x00 if copying else self._h_image[register - REG_CALIB_H]
        if register == REG_CHIP_ID:
            return self.chip_id
        if register == REG_CTRL_HUM and self.HAS_HUMIDITY:
            return self._ctrl_hum
        if register == REG_STATUS:
            return (STATUS_MEASURING if self.measuring else 0) | (STATUS_IM_UPDATE if copying else 0)
        if register == REG_CTRL_MEAS:
            return self._ctrl_meas
        if register == REG_CONFIG:
            return self._config
        data_end = REG_DATA + (8 if self.HAS_HUMIDITY else 6)
        if REG_DATA <= register < data_end:
            return self._data[register - REG_DATA]
        return 0x00  # reserved (and the reset register, which always reads 0x00)

    def _write_register(self, register: int, value: int, now: float) -> None:
        if register == REG_RESET:
            if value == RESET_WORD:  # §5.4.2: other values have no effect
                self._power_on_reset(now)
        elif register == REG_CTRL_HUM and self.HAS_HUMIDITY:
            self._ctrl_hum = value & 0x07  # bits 7:3 reserved
        elif register == REG_CTRL_MEAS:
            if self.measuring:
                self._pending_ctrl_meas = value
            else:
                self._apply_ctrl_meas(value, now)
        elif register == REG_CONFIG:
            if self.mode != "normal":
                self._config = value & 0xFD  # bit 1 reserved
                self._iir = {"temperature": None, "pressure": None}  # §3.4.4: writing filter resets it

    # -- I2CChip -------------------------------------------------------------

    def _write(self, data: bytes, now: float) -> None:
        if not data:
            return  # address-only probe: ACK
        self._advance(now)
        pairs, rest = data[: len(data) // 2 * 2], data[len(data) // 2 * 2 :]
        for register, value in zip(pairs[0::2], pairs[1::2]):
            self._write_register(register, value, now)
            self._pointer = register
        if rest:
            self._pointer = rest[0]  # a lone register byte: where the next read starts

    def _read(self, length: int, now: float) -> bytes:
        self._advance(now)
        start = self._pointer
        out = bytes(self._register(start + i, now) if start + i <= 0xFF else 0x00 for i in range(length))
        self._pointer = (start + length) & 0xFF
        return out


__all__ = ["DEFAULT_CALIBRATION", "EmulatedBoschChip", "calibration_image"]
