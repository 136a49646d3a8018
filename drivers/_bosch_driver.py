"""The forced-mode reading both Bosch drivers share (BME280 and BMP280).

One reading, once the chip is set up, is two I2C transactions: a write of
ctrl_meas (0xF4) with the oversampling and mode = forced, then, after the
datasheet's maximum measurement time, one combined write-then-read burst of
the data registers (0xF7..0xFE; shadowing keeps them from one conversion
only when read in one burst, §4). ctrl_hum and config are written only when
the chip is set up: both are kept in sleep mode, ctrl_hum is latched by the
ctrl_meas write that follows it, and a config write would reset the IIR
filter (§3.4.4) every time.

Setting up happens on the first read and after every failed one: the chip id
is read (a wrong chip is refused before anything is written to it), a soft
reset puts the chip into its power-on state (sleep mode, so the config write
is not ignored, §5.4.6), the status is read until the NVM copy (im_update)
is done, the calibration is read once and cached, and the settings go out
in the same transaction as the first forced-mode trigger.

The status register is read only when needed: when the burst still shows the
data registers' reset values (no conversion has landed, e.g. a read too
early), and on a BME280 when humidity reads 0x8000, the skipped pattern,
to tell a chip that lost ctrl_hum (a power glitch resets it) from a real
0x8000 reading.
"""
from __future__ import annotations

import errno
import time
from typing import Callable

from drivers import BusError, DriverConfigError, DriverError, ImplausibleReading, NotReady, SensorNotFound, WrongChip
from drivers import _bosch as b
from drivers._driver import Driver
from drivers._i2c_io import bus_error, bus_label, is_nack

ADDRESSES = (0x76, 0x77)  # §6.2: SDO to GND -> 0x76, SDO to VDDIO -> 0x77
# After a reset, how often to look at im_update (1 ms apart) before giving up.
_IM_UPDATE_TRIES = 5
_IM_UPDATE_WAIT_S = 0.001
# A conversion still running after the datasheet maximum: wait this much once more.
_RETRY_WAIT_S = 0.005


def read_chip_id(bus: object, address: int) -> int | None:
    """The chip id register (0xD0), or None if nothing answers.

    Read-only: one combined transfer that writes the register pointer 0xD0
    (which only selects where the next read starts) and reads one byte.
    """
    from smbus2 import i2c_msg

    pointer, data = i2c_msg.write(address, [b.REG_CHIP_ID]), i2c_msg.read(address, 1)
    try:
        bus.i2c_rdwr(pointer, data)
    except OSError:
        return None
    return bytes(data)[0]


class BoschSensor(Driver):
    """Base of `BME280` and `BMP280`; see the module docstring."""

    PART = ""
    DRIVER = ""
    HAS_HUMIDITY = False

    def __init__(
        self,
        bus: object,
        address: int,
        *,
        oversampling_temperature: int,
        oversampling_pressure: int,
        oversampling_humidity: int,
        iir_filter: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(address, int) or isinstance(address, bool) or address not in ADDRESSES:
            raise DriverConfigError(
                f"{self.PART} address {address!r} is not possible: use 0x76 (SDO pin to GND) "
                "or 0x77 (SDO pin to VDDIO, Adafruit's breakouts)"
            )
        options = {"oversampling_temperature": oversampling_temperature, "oversampling_pressure": oversampling_pressure}
        if self.HAS_HUMIDITY:
            options["oversampling_humidity"] = oversampling_humidity
        for name, value in options.items():
            if isinstance(value, bool) or value not in b.OVERSAMPLINGS:
                raise DriverConfigError(
                    f"{self.PART} {name} {value!r} is not one of {', '.join(map(str, b.OVERSAMPLINGS))} "
                    "(0 skips the measurement)"
                )
        if oversampling_temperature == 0:
            raise DriverConfigError(
                f"{self.PART} oversampling_temperature cannot be 0: the temperature is needed to "
                "compensate pressure and humidity; use 1 (the datasheet's weather-monitoring setting)"
            )
        if isinstance(iir_filter, bool) or iir_filter not in b.FILTERS:
            raise DriverConfigError(
                f"{self.PART} iir_filter {iir_filter!r} is not one of {', '.join(map(str, b.FILTERS))} (0 = off)"
            )
        self._bus = bus
        self.address = address
        self.oversampling_temperature = oversampling_temperature
        self.oversampling_pressure = oversampling_pressure
        self.oversampling_humidity = oversampling_humidity if self.HAS_HUMIDITY else 0
        self.iir_filter = iir_filter
        self._sleep = sleep
        self._wait_s = b.measurement_time_s(oversampling_temperature, oversampling_pressure, self.oversampling_humidity)
        self._ctrl_hum = b.OVERSAMPLING_CODES[self.oversampling_humidity]
        self._ctrl_meas = (
            b.OVERSAMPLING_CODES[oversampling_temperature] << 5
            | b.OVERSAMPLING_CODES[oversampling_pressure] << 2
            | b.MODE_FORCED
        )
        self._config = b.FILTER_CODES[iir_filter] << 2  # t_sb unused in forced mode, spi3w_en off
        # The burst covers only what is measured: from pressure (0xF7) or temperature (0xFA)
        # to temperature xlsb (0xFC) or humidity lsb (0xFE).
        self._burst_start = b.REG_DATA if oversampling_pressure else b.REG_TEMP
        self._burst_end = 0xFE if self.oversampling_humidity else 0xFC
        self._calibration: b.Calibration | None = None

    # -- bus access ----------------------------------------------------------

    def _where(self) -> str:
        return f"0x{self.address:02X} on I2C bus {bus_label(self._bus)}"

    def _failed(self, exc: OSError) -> DriverError:
        if not is_nack(exc):
            return bus_error(exc, self._bus, self.PART, self.address)
        return SensorNotFound(self._not_found_message())

    def _not_found_message(self) -> str:
        (other,) = (a for a in ADDRESSES if a != self.address)
        found = b.CHIP_IDS.get(read_chip_id(self._bus, other))  # type: ignore[arg-type]
        nothing = f"nothing at 0x{self.address:02X} on I2C bus {bus_label(self._bus)}"
        if found == self.PART:
            return f"{nothing}; a {found} answers at 0x{other:02X}: set address = 0x{other:02X}"
        if found is not None:
            return (
                f'{nothing}; a {found} answers at 0x{other:02X}: set driver = "{found.lower()}" '
                f"and address = 0x{other:02X}"
            )
        return (
            f"no {self.PART} answered at {self._where()}: check the wiring of SDA, SCL, VCC (3.3 V) and GND, "
            "that CSB is tied high (I2C mode), that SDO matches the address (GND = 0x76, VDDIO = 0x77, "
            f"Adafruit's default), and what `i2cdetect -y {bus_label(self._bus)}` shows"
        )

    def _read_registers(self, register: int, length: int) -> bytes:
        """One combined transfer: write the register pointer, repeated start, read `length` bytes."""
        from smbus2 import i2c_msg

        pointer, data = i2c_msg.write(self.address, [register]), i2c_msg.read(self.address, length)
        try:
            self._bus.i2c_rdwr(pointer, data)
        except OSError as exc:
            raise self._failed(exc) from exc
        return bytes(data)

    def _write_registers(self, *pairs: tuple[int, int]) -> None:
        """One write of (register, value) pairs (§6.2.1: writes do not auto-increment)."""
        from smbus2 import i2c_msg

        payload = [byte for pair in pairs for byte in pair]
        try:
            self._bus.i2c_rdwr(i2c_msg.write(self.address, payload))
        except OSError as exc:
            raise self._failed(exc) from exc

    # -- setting up ----------------------------------------------------------

    def _check_identity(self) -> None:
        (chip_id,) = self._read_registers(b.REG_CHIP_ID, 1)
        if chip_id in b.CHIP_IDS and b.CHIP_IDS[chip_id] == self.PART:
            return
        found = b.CHIP_IDS.get(chip_id) or b.OTHER_CHIP_IDS.get(chip_id)
        where = self._where()
        if found in b.CHIP_IDS.values():
            extra = " (it has no humidity sensor)" if found == "BMP280" else " (it also measures humidity)"
            raise WrongChip(
                f'a {found} (chip id 0x{chip_id:02X}) answers at {where}, not a {self.PART}: '
                f'set driver = "{found.lower()}"{extra}',
                found=found,
            )
        if found is not None:
            raise WrongChip(
                f"a {found} (chip id 0x{chip_id:02X}) answers at {where}, not a {self.PART}; "
                "sensorkit has no driver for it",
                found=found,
            )
        if chip_id in (0x00, 0xFF):
            why = (
                "every bit reads as one: SDA is not driven (a chip without power behind the pull-ups?)"
                if chip_id == 0xFF
                else "every bit reads as zero: SDA is held low or the chip is not powered"
            )
        else:
            why = "another kind of chip answers at this address"
        raise WrongChip(
            f"the device at {where} reads chip id 0x{chip_id:02X} at register 0xD0, not a {self.PART}'s "
            f"0x{self._expected_id():02X}: {why}; check the wiring and the address",
            found=None,
        )

    def _expected_id(self) -> int:
        return next(i for i, name in b.CHIP_IDS.items() if name == self.PART)

    def _soft_reset(self) -> None:
        """Power-on reset (§5.4.2), then wait for the start-up and the NVM copy (im_update)."""
        self._write_registers((b.REG_RESET, b.RESET_WORD))
        self._sleep(b.START_UP_S)
        for attempt in range(_IM_UPDATE_TRIES):
            (status,) = self._read_registers(b.REG_STATUS, 1)
            if not status & b.STATUS_IM_UPDATE:
                return
            if attempt < _IM_UPDATE_TRIES - 1:
                self._sleep(_IM_UPDATE_WAIT_S)
        raise NotReady(
            f"the {self.PART} at {self._where()} was still copying its calibration (status im_update) "
            f"{1000 * (b.START_UP_S + (_IM_UPDATE_TRIES - 1) * _IM_UPDATE_WAIT_S):.0f} ms after a reset; "
            "check its supply voltage"
        )

    def _read_calibration(self) -> b.Calibration:
        tp = self._read_registers(b.REG_CALIB_TP, b.CALIB_TP_LENGTH)
        humidity = self._read_registers(b.REG_CALIB_H, b.CALIB_H_LENGTH) if self.HAS_HUMIDITY else None
        calibration = b.parse_calibration(tp, humidity)
        if calibration.t1 == 0 or calibration.p1 == 0:
            # dig_P1 is a divisor; a real part never has zero there.
            raise NotReady(
                f"the {self.PART} at {self._where()} gave calibration with dig_T1 = {calibration.t1} and "
                f"dig_P1 = {calibration.p1}: its NVM was not copied; it is read again on the next reading"
            )
        return calibration

    def _trigger(self) -> None:
        """Start one forced-mode conversion; on a fresh set-up the settings go in the same write."""
        if self._calibration is None:
            self._check_identity()
            self._soft_reset()
            self._calibration = self._read_calibration()
            settings = [(b.REG_CONFIG, self._config)]
            if self.HAS_HUMIDITY:
                settings.insert(0, (b.REG_CTRL_HUM, self._ctrl_hum))  # latched by the ctrl_meas write
            self._write_registers(*settings, (b.REG_CTRL_MEAS, self._ctrl_meas))
        else:
            self._write_registers((b.REG_CTRL_MEAS, self._ctrl_meas))

    # -- reading -------------------------------------------------------------

    def _burst(self) -> dict[str, int]:
        data = self._read_registers(self._burst_start, self._burst_end - self._burst_start + 1)
        at = dict(zip(range(self._burst_start, self._burst_end + 1), data))
        if any(at[xlsb] & 0x0F for xlsb in (0xF9, 0xFC) if xlsb in at):
            # Table 18: xlsb bits 3:0 always read 0, so these bytes did not come from the chip.
            raise BusError(
                errno.EIO,
                f"the {self.PART} at {self._where()} sent data bytes {data.hex(' ')} with bits set that it "
                "always sends as 0 (xlsb[3:0]): SDA is not driven or is disturbed (loose wire, no power, "
                "missing pull-ups)",
            )

        def twenty(msb: int) -> int:
            return at[msb] << 12 | at[msb + 1] << 4 | at[msb + 2] >> 4

        raw = {"temperature": twenty(0xFA)}
        if self.oversampling_pressure:
            raw["pressure"] = twenty(0xF7)
        if self.oversampling_humidity:
            raw["humidity"] = at[0xFD] << 8 | at[0xFE]
        return raw

    def _is_reset_pattern(self, raw: dict[str, int]) -> bool:
        """All measured channels still at their reset values (Table 18): no conversion has landed.

        Temperature alone could be a real 0x80000 (about 25 °C on many parts), so the
        pattern needs a second channel.
        """
        if len(raw) < 2:
            return False
        skipped = {"temperature": b.SKIPPED_20_BIT, "pressure": b.SKIPPED_20_BIT, "humidity": b.SKIPPED_16_BIT}
        return all(value == skipped[name] for name, value in raw.items())

    def _settled_burst(self) -> dict[str, int]:
        raw = self._burst()
        if self._is_reset_pattern(raw):
            (status,) = self._read_registers(b.REG_STATUS, 1)
            if status & b.STATUS_MEASURING:
                self._sleep(_RETRY_WAIT_S)
                raw = self._burst()
            if self._is_reset_pattern(raw):
                raise NotReady(
                    f"the {self.PART} at {self._where()} took the forced-mode command but its data registers "
                    f"still hold their reset values {1000 * (self._wait_s + _RETRY_WAIT_S):.1f} ms later; "
                    "it is reset and set up again on the next read"
                )
        if raw.get("humidity") == b.SKIPPED_16_BIT:
            (ctrl_hum,) = self._read_registers(b.REG_CTRL_HUM, 1)
            if ctrl_hum & 0x07 != self._ctrl_hum:
                raise NotReady(
                    f"the {self.PART} at {self._where()} skipped humidity: its ctrl_hum reads 0x{ctrl_hum:02X}, "
                    f"not 0x{self._ctrl_hum:02X}, so it has lost its settings (a power glitch resets them); "
                    "it is set up again on the next read"
                )
        return raw

    def _convert(self, raw: dict[str, int]) -> dict[str, float]:
        assert self._calibration is not None
        t_fine, centi_celsius = b.compensate_temperature(raw["temperature"], self._calibration)
        temperature = centi_celsius / 100
        self._check_range("temperature", temperature, b.TEMPERATURE_RANGE_C, b.TEMPERATURE_MARGIN_C, "°C")
        reading = {"temperature": temperature}
        if "pressure" in raw:
            q24_8 = b.compensate_pressure(raw["pressure"], t_fine, self._calibration)
            if q24_8 is None:
                raise ImplausibleReading(
                    f"the {self.PART} at {self._where()} gave a temperature (t_fine {t_fine}) at which its "
                    "pressure compensation divides by zero; its calibration is read again on the next read"
                )
            pressure = round(q24_8 / 25600, 3)
            self._check_range("pressure", pressure, b.PRESSURE_RANGE_HPA, b.PRESSURE_MARGIN_HPA, "hPa")
            reading["pressure"] = pressure
        if "humidity" in raw:
            # The datasheet formula clamps to 0..100 %RH itself (§4.2.3): clipped, never refused.
            reading["humidity"] = round(b.compensate_humidity(raw["humidity"], t_fine, self._calibration) / 1024, 3)
        return reading

    def _check_range(self, quantity: str, value: float, span: tuple[float, float], margin: float, unit: str) -> None:
        low, high = span
        if not low - margin <= value <= high + margin:
            raise ImplausibleReading(
                f"the {self.PART} at {self._where()} gave {quantity} {value:g} {unit}, outside what it "
                f"measures ({low:g}..{high:g} {unit}, ±{margin:g} {unit}); a corrupted calibration is the "
                "likely cause: it is read again on the next read"
            )

    # -- public API ----------------------------------------------------------

    def read(self) -> dict[str, float]:
        """One forced-mode conversion: temperature °C, pressure hPa (and humidity %RH on a BME280).

        A skipped channel (oversampling 0) is left out. Any failure makes the next
        read check the chip id, reset the chip and read its calibration again.
        """
        try:
            self._trigger()
            self._sleep(self._wait_s)
            return self._convert(self._settled_burst())
        except DriverError:
            self._calibration = None
            raise

    def soft_reset(self) -> None:
        """Reset the chip (0xE0 <- 0xB6); the next read sets it up again."""
        self._calibration = None
        self._soft_reset()

    def close(self) -> None:
        """Nothing to release: the board owns the bus. The chip is left in sleep mode."""

    def __repr__(self) -> str:
        options = f"oversampling_temperature={self.oversampling_temperature}, "
        options += f"oversampling_pressure={self.oversampling_pressure}, "
        if self.HAS_HUMIDITY:
            options += f"oversampling_humidity={self.oversampling_humidity}, "
        return f"{type(self).__name__}(address=0x{self.address:02X}, {options}iir_filter={self.iir_filter})"
