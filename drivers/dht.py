"""Aosong DHT22 (AM2302) and DHT11 temperature and humidity on one GPIO, through adafruit_dht.

The sensor answers a start signal with a 40-bit frame; on Linux the frame is
bit-banged by Adafruit's library, which fails often and says so only with a
`RuntimeError` message. This driver wraps a device object with the
adafruit_dht interface (`measure()`, `.temperature`, `.humidity`, `exit()`),
retries within the sample slot no faster than the sensor and the library
allow, turns the library's messages into `DriverError`s, rejects values the
part cannot measure, and never records the library's cached value as new.

The library's cache: `measure()` only talks to the sensor when more than 2 s
passed since its previous start (`_last_called`, set *before* the transfer,
so a failed transfer also starts the 2 s); otherwise it silently returns the
previous values, even after a failure. The driver spaces its start signals
more than 2 s apart on its own clock, so the cache is never the answer, and
checks `_last_called` moved where the object has it, so that it never is.

Sources: Aosong AM2302 product manual (range −40..80 °C, 0..100 %RH, 2 s
between reads, 1 s settling after power-up); D-Robotics DHT11 datasheet
(20..90 %RH, 0..50 °C, sampling period ≥ 1 s; Aosong's own DHT11 manual says
> 2 s); Adafruit_CircuitPython_DHT 4.0.x `adafruit_dht.py` (messages, cache,
timings, decoding).
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Any, Callable

from drivers import ChecksumError, DriverConfigError, DriverError, ImplausibleReading, NotReady, SensorNotFound
from drivers._driver import Driver

MODELS = ("dht22", "dht11")
QUANTITIES = ("temperature", "humidity")

# Measuring range: AM2302 manual §3 (−40..80 °C, 0..100 %RH); DHT11 datasheet §2 (0..50 °C, 20..90 %RH).
TEMPERATURE_RANGE_C = {"dht22": (-40.0, 80.0), "dht11": (0.0, 50.0)}
HUMIDITY_RANGE_RH = {"dht22": (0.0, 100.0), "dht11": (20.0, 90.0)}
# Shortest time between two start signals the part itself allows (AM2302 manual; DHT11 datasheet §6).
SENSOR_MIN_INTERVAL_S = {"dht22": 2.0, "dht11": 1.0}
# After power-up the part answers nothing for 1 s (both manuals: "don't send any instruction within one second").
POWER_ON_S = 1.0
# adafruit_dht measure(): a new transfer only if `monotonic() - _last_called > 2`, for every model.
LIBRARY_CACHE_S = 2.0
# Start signals are spaced by this much more than the cache, on our clock (covers clock granularity).
SPACING_MARGIN_S = 0.05
# One bit-banged transfer in adafruit_dht (use_pulseio=False): line high 0.1 s, start low
# (DHT22 1000 µs, DHT11 18000 µs), then 0.25 s of listening for edges.
LIBRARY_READ_S = {"dht22": 0.1 + 0.001 + 0.25, "dht11": 0.1 + 0.018 + 0.25}
DEFAULT_ATTEMPTS = 3

# adafruit_dht 4.0.x RuntimeError messages (what the library raises; the twin raises the same).
MSG_NOT_FOUND = "DHT sensor not found, check wiring"
MSG_PARTIAL = "A full buffer was not returned. Try again."
MSG_CHECKSUM = "Checksum did not validate. Try again."
MSG_UNPLAUSIBLE = "Received unplausible data. Try again."

# What an attempt came to, by how far it got: the furthest says most about a persistent failure.
_NOT_FOUND, _TIMING, _CHECKSUM, _IMPLAUSIBLE = "not found", "timing", "checksum", "implausible"
_PROGRESS = {_NOT_FOUND: 0, _TIMING: 1, _CHECKSUM: 2, _IMPLAUSIBLE: 3}


# --------------------------------------------------------------------------- the frame


def frame_checksum(data: bytes) -> int:
    """The 5th byte of a frame: the low 8 bits of the sum of the first four (sign bit included)."""
    return sum(data[:4]) & 0xFF


def decode_frame(frame: bytes, model: str) -> tuple[float, float]:
    """(humidity %RH, temperature °C) from the 5 bytes of a frame, as adafruit_dht decodes them.

    DHT22: RH = u16/10; T = (u16 & 0x7FFF)/10, negative when bit 15 is set
    (sign and magnitude, not two's complement). DHT11: RH = byte 0; T = byte 2
    + (byte 3 & 0x0F)/10. Raises ChecksumError when byte 4 does not match.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
    if len(frame) != 5:
        raise ValueError(f"a DHT frame has 5 bytes, got {len(frame)}")
    expected = frame_checksum(frame)
    if expected != frame[4]:
        raise ChecksumError(
            f"DHT frame {frame.hex(' ')}: checksum expected 0x{expected:02X}, received 0x{frame[4]:02X}"
        )
    if model == "dht11":
        return float(frame[0]), frame[2] + (frame[3] & 0x0F) / 10
    humidity = ((frame[0] << 8) | frame[1]) / 10
    temperature = (((frame[2] & 0x7F) << 8) | frame[3]) / 10
    return humidity, -temperature if frame[2] & 0x80 else temperature


def encode_frame(humidity: float, temperature: float, model: str) -> bytes:
    """The frame a sensor sends for these values (what the twin puts on the wire).

    Values are rounded to the part's resolution and limited to what its
    bytes can carry; a DHT11 has no sign, so it sends 0 °C below freezing.
    """
    if model == "dht11":
        rh = min(255, max(0, round(humidity)))
        tenths = min(255 * 10 + 9, max(0, round(temperature * 10)))
        body = bytes((rh, 0, tenths // 10, tenths % 10))
    elif model == "dht22":
        rh = min(0xFFFF, max(0, round(humidity * 10)))
        magnitude = min(0x7FFF, round(abs(temperature) * 10))
        sign = 0x8000 if temperature < 0 and magnitude else 0
        body = rh.to_bytes(2, "big") + (sign | magnitude).to_bytes(2, "big")
    else:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
    return body + bytes((frame_checksum(body),))


def classify_library_error(exc: BaseException) -> str:
    """Which failure an adafruit_dht RuntimeError stands for (its message is all it says)."""
    text = str(exc).lower()
    if "not found" in text:
        return _NOT_FOUND
    if "checksum" in text:
        return _CHECKSUM
    if "unplausible" in text or "implausible" in text:
        return _IMPLAUSIBLE
    # "A full buffer was not returned", pulseio's "Timed out waiting for PulseIn message", ...
    return _TIMING


def attempt_spacing_s(model: str) -> float:
    """Start-to-start time between two transfers: the part's minimum and the library's cache, plus a margin."""
    return max(SENSOR_MIN_INTERVAL_S[model], LIBRARY_CACHE_S) + SPACING_MARGIN_S


def attempts_in_slot(model: str, attempts: int, slot_s: float | None) -> int:
    """How many of `attempts` transfers fit in a sample slot of `slot_s` (at least one).

    A retry starts only if the next slot's first transfer can still start on
    time (a full spacing before the slot ends), so retrying never delays the
    next reading away from its timestamp.
    """
    if slot_s is None:
        return attempts
    return max(1, min(attempts, int(slot_s // attempt_spacing_s(model))))


def max_read_s(model: str, attempts: int = DEFAULT_ATTEMPTS, slot_s: float | None = None) -> float:
    """The longest a `read()` takes when the library does not hang: a wait for spacing, then the attempts.

    What a read timeout for this sensor must allow (plus a margin).
    """
    spacing = attempt_spacing_s(model)
    n = attempts_in_slot(model, attempts, slot_s)
    return spacing + (n - 1) * spacing + LIBRARY_READ_S[model]


# --------------------------------------------------------------------------- the real library

_IMPORT_LOCK = threading.Lock()


def library_device(model: str, pin: int) -> Callable[[], Any]:
    """A factory for the real `adafruit_dht.DHT22/DHT11(board.D<pin>, use_pulseio=False)`.

    Nothing is imported until the factory is called (on the first read). On
    machines Blinka does not know, importing it prints a warning to stdout,
    which would corrupt `--output jsonl`: stdout is sent to stderr meanwhile.
    `redirect_stdout` swaps `sys.stdout` for the whole process, hence the lock;
    sensorkit's outputs keep their own reference to the real stdout.
    Bit-banging (no pulseio) avoids libgpiod_pulsein, the helper process known
    to hang or spin after hours on a Pi.
    """
    if model not in MODELS:
        raise DriverConfigError(f"DHT model must be one of {', '.join(MODELS)}, not {model!r}")

    def create() -> Any:
        with _IMPORT_LOCK, contextlib.redirect_stdout(sys.stderr):
            try:
                import adafruit_dht
                import board
            except ImportError as exc:
                raise DriverConfigError(
                    f"the {model.upper()} needs adafruit_dht ({exc}): pip install adafruit-circuitpython-dht"
                ) from exc
            except Exception as exc:  # noqa: BLE001 - Blinka raises plain exceptions for unknown boards
                raise DriverConfigError(
                    f"adafruit_dht cannot run on this board ({exc}); DHT sensors need a Raspberry Pi "
                    "or another board Blinka supports (use --simulate elsewhere)"
                ) from exc
        board_pin = getattr(board, f"D{pin}", None)
        if board_pin is None:
            raise DriverConfigError(f"this board's Blinka pin table has no D{pin} for GPIO{pin} (BCM numbering)")
        cls = adafruit_dht.DHT22 if model == "dht22" else adafruit_dht.DHT11
        try:
            return cls(board_pin, use_pulseio=False)
        except ValueError as exc:  # "Bitbanging is not supported when using CircuitPython."
            raise DriverConfigError(f"adafruit_dht refused GPIO{pin}: {exc}") from exc

    return create


# --------------------------------------------------------------------------- the driver


class _Failed(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class _DHT(Driver):
    """Shared by DHT22 and DHT11; see the module docstring."""

    model = ""

    def __init__(
        self,
        device: Any,
        *,
        pin: int | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        slot_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`device` is an object with the adafruit_dht interface, or a no-argument factory
        for one (called on the first read, so the constructor does no I/O).

        `attempts` transfers at most per read, never more than fit in `slot_s`
        (the sample interval; None: no limit). `pin` names the GPIO in messages.
        """
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise DriverConfigError(f"{self._part} attempts must be a whole number of 1 or more, got {attempts!r}")
        if slot_s is not None and not slot_s > 0:
            raise DriverConfigError(f"{self._part} slot must be more than 0 s, got {slot_s!r}")
        if hasattr(device, "measure"):
            self._device: Any | None = device
            self._factory: Callable[[], Any] | None = None
        elif callable(device):
            self._device, self._factory = None, device
        else:
            raise DriverConfigError(f"{self._part} needs a DHT device object or a factory for one, got {device!r}")
        self.pin = pin
        self.attempts = attempts
        self.slot_s = slot_s
        self._sleep = sleep
        self._monotonic = monotonic
        self._spacing_s = attempt_spacing_s(self.model)
        self._last_start: float | None = None
        self._closed = False

    # -- helpers -------------------------------------------------------------

    @property
    def _part(self) -> str:
        return "DHT22 (AM2302)" if self.model == "dht22" else "DHT11"

    @property
    def _where(self) -> str:
        return f"GPIO{self.pin}" if self.pin is not None else "its pin"

    @property
    def max_read_s(self) -> float:
        """The longest one `read()` takes unless the library hangs (what a read timeout must allow)."""
        return max_read_s(self.model, self.attempts, self.slot_s)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def device(self) -> Any | None:
        """The library object in use (None before the first read and after close)."""
        return self._device

    def _check_open(self) -> None:
        if self._closed:
            raise DriverError(f"the {self._part} on {self._where} was closed; create it again")

    def _get_device(self) -> Any:
        if self._device is None:
            assert self._factory is not None
            self._device = self._factory()
        return self._device

    def _check_range(self, temperature: float, humidity: float) -> None:
        t_low, t_high = TEMPERATURE_RANGE_C[self.model]
        h_low, h_high = HUMIDITY_RANGE_RH[self.model]
        if t_low <= temperature <= t_high and h_low <= humidity <= h_high:
            return
        detail = (f"{temperature:g} °C / {humidity:g} %RH is outside what a {self._part} measures "
                  f"({t_low:g}..{t_high:g} °C, {h_low:g}..{h_high:g} %RH)")
        if self.model == "dht11" and humidity < h_low and temperature < 4:
            # A DHT22 frame read as DHT11: byte 0 (RH high byte) is 0..3, byte 2 is 0..1 or has the sign bit.
            detail += '; a DHT22/AM2302 read as a DHT11 looks like this: check driver = "dht22"'
        raise _Failed(_IMPLAUSIBLE, detail)

    def _attempt(self, device: Any) -> dict[str, float]:
        before = getattr(device, "_last_called", None)
        try:
            device.measure()
            # Both properties measure() again: within 2 s that is the cache, i.e. the same transfer.
            temperature = device.temperature
            humidity = device.humidity
        except RuntimeError as exc:
            kind = classify_library_error(exc)
            if kind == _IMPLAUSIBLE and self.model == "dht22":
                # The library checks only 0 <= RH <= 100: a DHT11 frame read as DHT22 has RH = byte0*25.6.
                raise _Failed(kind, f"adafruit_dht: {exc} (a DHT11 read as a DHT22 gives humidity over "
                              '100 %RH: check driver = "dht11")') from exc
            raise _Failed(kind, f"adafruit_dht: {exc}") from exc
        except OSError as exc:
            raise DriverError(
                f"{self._part} on {self._where}: the GPIO could not be used ({exc}); another program "
                "or a previous, abandoned read may still hold the line"
            ) from exc
        after = getattr(device, "_last_called", None)
        if temperature is None or humidity is None or (before is not None and after == before):
            raise _Failed(_TIMING, "adafruit_dht returned its cached value instead of a new transfer")
        self._check_range(temperature, humidity)
        return {"temperature": round(float(temperature), 1), "humidity": round(float(humidity), 1)}

    def _persistent(self, failures: list[_Failed]) -> DriverError:
        worst = max(failures, key=lambda f: _PROGRESS[f.kind])
        counts = ", ".join(
            f"{sum(f.kind == k for f in failures)}× {k}" for k in _PROGRESS if any(f.kind == k for f in failures)
        )
        tried = f"{len(failures)} attempt{'s' if len(failures) != 1 else ''} ({counts})"
        prefix = f"{self._part} on {self._where}: {tried}"
        if worst.kind == _NOT_FOUND:
            return SensorNotFound(
                f"{prefix}: no answer. Check VCC (3.3 V), GND and the data wire on {self._where}, "
                "the 10 kΩ pull-up from data to 3.3 V, and that the sensor is not power-cycling "
                f"(it answers 1 s after power-up). Last: {worst.detail}"
            )
        if worst.kind == _IMPLAUSIBLE:
            return ImplausibleReading(f"{prefix}: {worst.detail}")
        if worst.kind == _CHECKSUM:
            return ChecksumError(
                f"{prefix}: frames arrived but failed their checksum, so bits were mis-timed: keep the "
                "data wire short, use a 4.7-10 kΩ pull-up to 3.3 V, and avoid a fully loaded CPU. "
                f"Last: {worst.detail}"
            )
        return NotReady(
            f"{prefix}: the frames were incomplete (Linux missed edges while bit-banging); it usually "
            f"passes at the next sample, otherwise check the pull-up and the wiring. Last: {worst.detail}"
        )

    # -- public API ----------------------------------------------------------

    def read(self) -> dict[str, float]:
        """One transfer's temperature (°C) and humidity (%RH), retried within the slot.

        Raises SensorNotFound, ChecksumError, NotReady or ImplausibleReading
        after the last attempt failed (the kind the furthest attempt got to).
        """
        self._check_open()
        entry = self._monotonic()
        # A retry must leave a full spacing before the next slot, so that slot starts on time.
        latest = None if self.slot_s is None else entry + self.slot_s - self._spacing_s
        failures: list[_Failed] = []
        for number in range(self.attempts):
            now = self._monotonic()
            start = now if self._last_start is None else max(now, self._last_start + self._spacing_s)
            if number > 0 and latest is not None and start > latest:
                break
            if start > now:
                self._sleep(start - now)
            self._check_open()  # closed meanwhile: the sampler gave up on this read
            self._last_start = self._monotonic()
            try:
                return self._attempt(self._get_device())
            except _Failed as failure:
                failures.append(failure)
        raise self._persistent(failures)

    def close(self) -> None:
        """Release the pin (`exit()` on the library object); safe to call twice and from another thread."""
        self._closed = True
        device, self._device = self._device, None
        if device is not None:
            device.exit()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pin={self.pin}, attempts={self.attempts})"


class DHT22(_DHT):
    """Aosong DHT22 / AM2302: −40..80 °C and 0..100 %RH at 0.1 resolution; one read per 2 s."""

    model = "dht22"


class DHT11(_DHT):
    """Aosong DHT11: 0..50 °C and 20..90 %RH; read no faster than adafruit_dht's 2 s."""

    model = "dht11"


__all__ = [
    "DHT11",
    "DHT22",
    "MODELS",
    "QUANTITIES",
    "decode_frame",
    "encode_frame",
    "frame_checksum",
    "library_device",
    "max_read_s",
]
