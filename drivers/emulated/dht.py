"""The emulated DHT22 / DHT11: the part on the wire and the adafruit_dht object that reads it.

`EmulatedDHTSensor` is the part: it sends, for each start signal, the frame
of the measurement it made after the *previous* transfer (both Aosong manuals:
"the host always reads the previous measurement"), answers nothing for 1 s
after power-up, and — an assumption, the manuals only say not to — answers
nothing while it is still measuring, i.e. sooner than its minimum interval
after the last transfer.

`EmulatedDHT` is a drop-in for `adafruit_dht.DHT22/DHT11`: `measure()`,
`.temperature` and `.humidity` (each measures first), `exit()`, and the
library's 2 s cache with its `_last_called`, set before the transfer, so a
failed transfer also starts the 2 s and a call within them hands back the
previous values without an error. The frame goes through `decode_frame` as
the library decodes it, and failures raise the library's RuntimeErrors.

Faults (`fault = ...`):

- ``"absent"``: the part never answers ("DHT sensor not found, check wiring");
- ``"flaky"``: a seeded share of transfers fail as bit-banging on Linux does:
  mostly incomplete frames, then bit errors (checksum), rarely no edges at all;
- ``"hang"``: after `hang_after` good transfers the object's next transfer
  blocks, like the library's pulse-reading helper after hours on a Pi, until
  `release()` or `exit()`; then it and every later transfer fail. A fresh
  object (on the same `sensor`) works again.
"""
from __future__ import annotations

import random
import threading
import time
from typing import Callable

from drivers import ChecksumError
from drivers.dht import (
    LIBRARY_CACHE_S,
    LIBRARY_READ_S,
    MODELS,
    MSG_CHECKSUM,
    MSG_NOT_FOUND,
    MSG_PARTIAL,
    MSG_UNPLAUSIBLE,
    POWER_ON_S,
    SENSOR_MIN_INTERVAL_S,
    decode_frame,
    encode_frame,
)

FAULTS = ("flaky", "hang", "absent")
# "flaky": share of transfers that fail, and how they fail. Users of adafruit_dht on a
# Pi report from one in ten to one in two reads failing; most are incomplete frames.
FLAKY_SHARE = 0.3
FLAKY_KINDS = (("partial", 0.6), ("checksum", 0.35), ("not found", 0.05))


class EmulatedDHTSensor:
    """The DHT part itself: what it measures, when it answers, what it sends."""

    def __init__(
        self,
        model: str = "dht22",
        *,
        clock: Callable[[], float] = time.monotonic,
        temperature: float = 21.0,
        humidity: float = 50.0,
        powered_at: float | None = None,
    ) -> None:
        """`powered_at` None: powered long ago (ready); else the clock time power came on."""
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
        self.model = model
        self._clock = clock
        self.temperature = temperature
        self.humidity = humidity
        self.absent = False
        self._powered_at = powered_at
        self._recorded: tuple[float, float] | None = None  # (humidity, temperature) measured after the last transfer
        self._last_transfer: float | None = None
        self.transfers = 0  # frames sent

    def power_cycle(self) -> None:
        """Power off and on: the measurement is lost and the part settles for 1 s."""
        self._powered_at = self._clock()
        self._recorded = None
        self._last_transfer = None

    def respond(self) -> bytes | None:
        """The frame sent for a start signal now, or None when the part does not answer."""
        now = self._clock()
        if self.absent:
            return None
        if self._powered_at is not None and now - self._powered_at < POWER_ON_S:
            return None
        if self._last_transfer is not None and now - self._last_transfer < SENSOR_MIN_INTERVAL_S[self.model]:
            return None
        # Straight after power-up the part has measured once while settling: today's values.
        humidity, temperature = self._recorded or (self.humidity, self.temperature)
        self._recorded = (self.humidity, self.temperature)
        self._last_transfer = now
        self.transfers += 1
        return encode_frame(humidity, temperature, self.model)


class EmulatedDHT:
    """A stand-in for an `adafruit_dht.DHT22/DHT11` object; see the module docstring."""

    def __init__(
        self,
        model: str = "dht22",
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        temperature: float = 21.0,
        humidity: float = 50.0,
        fault: str | None = None,
        seed: int = 0,
        hang_after: int = 0,
        flaky_share: float = FLAKY_SHARE,
        flaky_kinds: tuple[tuple[str, float], ...] = FLAKY_KINDS,
        sensor: EmulatedDHTSensor | None = None,
    ) -> None:
        """`sleep`, when given, is called with the library's transfer time (0.35 s), so a
        read takes as long as on a Pi. `sensor` shares one part between objects (a
        re-created library object reads the same sensor); it may be another model
        than the object, as when a config names the wrong one."""
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
        self.model = model
        self.sensor = sensor or EmulatedDHTSensor(model, clock=clock, temperature=temperature, humidity=humidity)
        self._clock = clock
        self._sleep = sleep
        self._rng = random.Random(seed)
        self.hang_after = hang_after
        self.flaky_share = flaky_share
        self.flaky_kinds = flaky_kinds
        self._good = 0
        self._stuck = False
        self._released = threading.Event()
        self.hanging = threading.Event()  # set while a transfer is blocked (tests wait on it)
        self._fault: str | None = None
        self.fault = fault
        # The library's own state, under the library's names.
        self._last_called: float = 0
        self._temperature: float | None = None
        self._humidity: float | None = None
        self.exited = False

    # -- faults --------------------------------------------------------------

    @property
    def fault(self) -> str | None:
        return self._fault

    @fault.setter
    def fault(self, name: str | None) -> None:
        if name is not None and name not in FAULTS:
            raise ValueError(f"an emulated DHT can show {', '.join(FAULTS)}, not {name!r}")
        self._fault = name
        self.sensor.absent = name == "absent"

    def release(self) -> None:
        """Let a hung transfer return (it fails, as every later one on this object does)."""
        self._released.set()

    # -- the adafruit_dht interface ------------------------------------------

    def exit(self) -> None:
        """As `DHTBase.exit()`; also ends a hung transfer, as deinit of the pulse helper would."""
        self.exited = True
        self._released.set()

    def measure(self) -> None:
        now = self._clock()
        if self._last_called != 0 and now - self._last_called <= LIBRARY_CACHE_S:
            return  # the library's cache: the previous values stand, even after a failure
        self._last_called = now
        if self._stuck or (self._fault == "hang" and self._good >= self.hang_after):
            self._stuck = True
            self.hanging.set()
            self._released.wait()
            self.hanging.clear()
            raise RuntimeError(MSG_PARTIAL)
        if self._sleep is not None:
            self._sleep(LIBRARY_READ_S[self.model])
        frame = self.sensor.respond()
        if frame is None:
            raise RuntimeError(MSG_NOT_FOUND)
        if self._fault == "flaky" and self._rng.random() < self.flaky_share:
            frame = self._garble(frame)
        try:
            humidity, temperature = decode_frame(frame, self.model)
        except ChecksumError:
            raise RuntimeError(MSG_CHECKSUM) from None
        if not 0 <= humidity <= 100:
            raise RuntimeError(MSG_UNPLAUSIBLE)
        self._good += 1
        self._temperature, self._humidity = temperature, humidity

    def _garble(self, frame: bytes) -> bytes:
        draw, kind = self._rng.random(), self.flaky_kinds[-1][0]
        for name, share in self.flaky_kinds:
            if draw < share:
                kind = name
                break
            draw -= share
        if kind == "partial":
            raise RuntimeError(MSG_PARTIAL)
        if kind == "not found":
            raise RuntimeError(MSG_NOT_FOUND)
        bit = self._rng.randrange(40)  # one mis-timed bit: a single flip always breaks the sum
        data = bytearray(frame)
        data[bit // 8] ^= 0x80 >> (bit % 8)
        return bytes(data)

    @property
    def temperature(self) -> float | None:
        self.measure()
        return self._temperature

    @property
    def humidity(self) -> float | None:
        self.measure()
        return self._humidity

    def __repr__(self) -> str:
        return f"EmulatedDHT({self.model!r}, fault={self._fault!r})"


__all__ = ["FAULTS", "FLAKY_SHARE", "EmulatedDHT", "EmulatedDHTSensor"]
