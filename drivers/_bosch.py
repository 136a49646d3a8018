"""What the Bosch BME280 and BMP280 share: register map, calibration and compensation.

The BME280 is register compatible with the BMP280 (BME280 datasheet
BST-BME280-DS002-15 rev 1.6, §5.2 Table 17) apart from the chip id, two
standby times and the humidity registers, so both drivers use this module.
Section numbers below are the BME280 datasheet's unless they say BMP280
(BST-BMP280-DS001).

Compensation follows the datasheet's integer reference code (§4.2.3: 32-bit
temperature and humidity, 64-bit pressure), not the double-precision
variant of §8.1: Python integers make the 64-bit path exact and free, its
results are bit-for-bit what Bosch's own code gives on any platform (so the
datasheet's worked example can be checked exactly), and its resolution
(0.01 °C, 1/256 Pa, 1/1024 %RH) is finer than the chip's noise. The emulated
twins invert the double-precision formulas, so the tests cross-check both.
"""
from __future__ import annotations

from dataclasses import dataclass

# §5.3 Table 18 memory map (BMP280 DS001 §4.2 Table 18: the same without humidity).
REG_CALIB_TP = 0x88  # calib00..calib25 at 0x88..0xA1: dig_T1..dig_P9, (0xA0 reserved), dig_H1
CALIB_TP_LENGTH = 26
REG_CHIP_ID = 0xD0  # §5.4.1
REG_RESET = 0xE0  # §5.4.2: write 0xB6 for a power-on reset; reads 0x00
REG_CALIB_H = 0xE1  # calib26..: dig_H2..dig_H6 at 0xE1..0xE7 (BME280 only)
CALIB_H_LENGTH = 7
REG_CTRL_HUM = 0xF2  # §5.4.3 osrs_h[2:0]; effective only after a write to ctrl_meas
REG_STATUS = 0xF3  # §5.4.4
REG_CTRL_MEAS = 0xF4  # §5.4.5 osrs_t[7:5] osrs_p[4:2] mode[1:0]
REG_CONFIG = 0xF5  # §5.4.6 t_sb[7:5] filter[4:2] spi3w_en[0]; writes in normal mode may be ignored
REG_DATA = 0xF7  # §5.4.7-9: press msb/lsb/xlsb, temp msb/lsb/xlsb, hum msb/lsb (0xF7..0xFE)
REG_TEMP = 0xFA

RESET_WORD = 0xB6  # §5.4.2
STATUS_MEASURING = 0x08  # §5.4.4 bit 3: a conversion is running
STATUS_IM_UPDATE = 0x01  # §5.4.4 bit 0: NVM being copied to the image registers
MODE_SLEEP = 0b00  # §5.4.5 Table 25 (01 and 10 are both forced mode)
MODE_FORCED = 0b01
MODE_NORMAL = 0b11
# §1 Table 1 / Bosch BME280_driver bme280_defs.h BME280_STARTUP_DELAY: 2 ms after a reset.
START_UP_S = 0.002

# Register 0xD0 (§5.2 Table 17): what each Bosch part of this family answers.
CHIP_IDS = {0x60: "BME280", 0x58: "BMP280", 0x57: "BMP280", 0x56: "BMP280"}
# Other Bosch parts found at 0x76/0x77 with an id at 0xD0 (BMP180 0x55, BME680 0x61).
OTHER_CHIP_IDS = {0x55: "BMP180", 0x61: "BME680"}

# §5.4.3 Table 20 / §5.4.5 Tables 23-24: oversampling -> osrs code (0 = skipped).
OVERSAMPLING_CODES = {0: 0b000, 1: 0b001, 2: 0b010, 4: 0b011, 8: 0b100, 16: 0b101}
OVERSAMPLINGS = tuple(OVERSAMPLING_CODES)
# §5.4.6 Table 28: IIR filter coefficient -> filter code (0 = off).
FILTER_CODES = {0: 0b000, 2: 0b001, 4: 0b010, 8: 0b011, 16: 0b100}
FILTERS = tuple(FILTER_CODES)
# §3.4.2/§3.4.3: a skipped channel reads 0x80000 (pressure, temperature) or 0x8000 (humidity);
# these are also the data registers' reset values (Table 18).
SKIPPED_20_BIT = 0x80000
SKIPPED_16_BIT = 0x8000

# §9.1 (Appendix B) maximum measurement time, ms: 1.25 + [2.3 osrs_t] + [2.3 osrs_p + 0.575]
# + [2.3 osrs_h + 0.575], a bracket dropped when its channel is skipped. Bosch's
# bme280_cal_meas_delay uses the same 1250/2300/575 µs.
_T_BASE_MS = 1.25
_T_PER_SAMPLE_MS = 2.3
_T_CHANNEL_MS = 0.575

# Operating range (§1 Table 1, BMP280 DS001 §1 Table 1) and the datasheet's absolute
# accuracy at its ends: a value farther out than that is not a measurement.
TEMPERATURE_RANGE_C = (-40.0, 85.0)
TEMPERATURE_MARGIN_C = 1.0
PRESSURE_RANGE_HPA = (300.0, 1100.0)
PRESSURE_MARGIN_HPA = 1.7
HUMIDITY_Q22_10_MAX = 419430400  # §4.2.3: 100 %RH in the clamp before the final >> 12


def measurement_time_s(osrs_t: int, osrs_p: int, osrs_h: int = 0) -> float:
    """§9.1 maximum measurement time for the oversampling factors (0 = skipped), seconds."""
    for factor in (osrs_t, osrs_p, osrs_h):
        if factor not in OVERSAMPLING_CODES:
            raise ValueError(f"oversampling {factor!r} is not one of {', '.join(map(str, OVERSAMPLINGS))}")
    ms = _T_BASE_MS + _T_PER_SAMPLE_MS * osrs_t
    for factor in (osrs_p, osrs_h):
        if factor:
            ms += _T_PER_SAMPLE_MS * factor + _T_CHANNEL_MS
    return ms / 1000.0


@dataclass(frozen=True)
class Calibration:
    """The trimming parameters dig_T1..dig_H6 (§4.2.2 Table 16); H* are 0 on a BMP280."""

    t1: int
    t2: int
    t3: int
    p1: int
    p2: int
    p3: int
    p4: int
    p5: int
    p6: int
    p7: int
    p8: int
    p9: int
    h1: int = 0
    h2: int = 0
    h3: int = 0
    h4: int = 0
    h5: int = 0
    h6: int = 0


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "little")


def _s16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "little", signed=True)


def _s8(value: int) -> int:
    return value - 256 if value & 0x80 else value


def parse_calibration(tp: bytes, humidity: bytes | None = None) -> Calibration:
    """Table 16: `tp` = 26 bytes from 0x88, `humidity` = 7 bytes from 0xE1 (BME280 only).

    dig_H4 and dig_H5 are 12-bit signed values sharing 0xE5: H4 = 0xE4[7:0] 0xE5[3:0],
    H5 = 0xE6[7:0] 0xE5[7:4]; their top byte is signed, as in Bosch's driver.
    """
    if len(tp) != CALIB_TP_LENGTH:
        raise ValueError(f"need {CALIB_TP_LENGTH} calibration bytes from 0x88, got {len(tp)}")
    words = dict(
        t1=_u16(tp, 0), t2=_s16(tp, 2), t3=_s16(tp, 4), p1=_u16(tp, 6),
        **{f"p{i}": _s16(tp, 6 + 2 * (i - 1)) for i in range(2, 10)},
    )  # fmt: skip
    if humidity is None:
        return Calibration(**words)
    if len(humidity) != CALIB_H_LENGTH:
        raise ValueError(f"need {CALIB_H_LENGTH} humidity calibration bytes from 0xE1, got {len(humidity)}")
    e4, e5, e6 = humidity[3], humidity[4], humidity[5]
    return Calibration(
        **words,
        h1=tp[25],
        h2=_s16(humidity, 0),
        h3=humidity[2],
        h4=_s8(e4) * 16 | (e5 & 0x0F),
        h5=_s8(e6) * 16 | (e5 >> 4),
        h6=_s8(humidity[6]),
    )


def _c_div(a: int, b: int) -> int:
    """C integer division (truncates toward zero), as the reference code's 64-bit '/'."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def compensate_temperature(adc_t: int, cal: Calibration) -> tuple[int, int]:
    """§4.2.3 BME280_compensate_T_int32: (t_fine, temperature in 0.01 °C)."""
    var1 = (((adc_t >> 3) - (cal.t1 << 1)) * cal.t2) >> 11
    var2 = (((((adc_t >> 4) - cal.t1) * ((adc_t >> 4) - cal.t1)) >> 12) * cal.t3) >> 14
    t_fine = var1 + var2
    return t_fine, (t_fine * 5 + 128) >> 8


def compensate_pressure(adc_p: int, t_fine: int, cal: Calibration) -> int | None:
    """§4.2.3 BME280_compensate_P_int64: pressure in Pa as Q24.8 (value / 256 = Pa).

    None where the reference code returns 0 to avoid a division by zero.
    """
    var1 = t_fine - 128000
    var2 = var1 * var1 * cal.p6
    var2 = var2 + ((var1 * cal.p5) << 17)
    var2 = var2 + (cal.p4 << 35)
    var1 = ((var1 * var1 * cal.p3) >> 8) + ((var1 * cal.p2) << 12)
    var1 = (((1 << 47) + var1) * cal.p1) >> 33
    if var1 == 0:
        return None
    p = 1048576 - adc_p
    p = _c_div(((p << 31) - var2) * 3125, var1)
    var1 = (cal.p9 * (p >> 13) * (p >> 13)) >> 25
    var2 = (cal.p8 * p) >> 19
    return ((p + var1 + var2) >> 8) + (cal.p7 << 4)


def compensate_humidity(adc_h: int, t_fine: int, cal: Calibration) -> int:
    """§4.2.3 bme280_compensate_H_int32: humidity in %RH as Q22.10 (value / 1024 = %RH).

    The reference code clamps to 0..100 %RH itself; that clamp is kept.
    """
    x = t_fine - 76800
    offset = (((adc_h << 14) - (cal.h4 << 20) - (cal.h5 * x)) + 16384) >> 15
    gain = ((((((x * cal.h6) >> 10) * (((x * cal.h3) >> 11) + 32768)) >> 10) + 2097152) * cal.h2 + 8192) >> 14
    v = offset * gain
    v = v - (((((v >> 15) * (v >> 15)) >> 7) * cal.h1) >> 4)
    v = max(0, min(v, HUMIDITY_Q22_10_MAX))
    return v >> 12


__all__ = [
    "CHIP_IDS",
    "FILTERS",
    "OVERSAMPLINGS",
    "Calibration",
    "compensate_humidity",
    "compensate_pressure",
    "compensate_temperature",
    "measurement_time_s",
    "parse_calibration",
]
