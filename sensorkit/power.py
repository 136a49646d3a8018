"""Switching a sensor's supply through a GPIO, to recover one that hangs (`power_pin`)."""
from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class PowerSwitch:
    """A GPIO that switches a sensor's supply: cycled after `after` failed reads in a row.

    What users otherwise do by hand for a hung DHT22 or a 1-wire bus held low. Off for
    `OFF_S` (long enough for the sensor's supply capacitor to drain), then on, and `ON_S` for
    it to start up before the driver is made anew and reads again.
    """

    OFF_S = 1.0
    ON_S = 2.0  # a DHT22 wants 1 s after power-up, most I2C chips a few ms
    CYCLE_S = OFF_S + ON_S

    def __init__(self, name: str, output: Any, pin: int, after: int, sleep: Any) -> None:
        self.name = name
        self.output = output
        self.pin = pin
        self.after = after
        self._sleep = sleep
        self._failures = 0
        self.due = False
        self.cycles = 0

    def failed(self) -> None:
        self._failures += 1
        if self._failures >= self.after:
            self.due = True

    def answered(self) -> None:
        self._failures = 0

    def cycle(self) -> None:
        log.warning("sensor '%s' failed %d reads in a row: switching its power (GPIO%d) off and on",
                    self.name, self._failures, self.pin)
        self.output.off()
        self._sleep(self.OFF_S)
        self.output.on()
        self._sleep(self.ON_S)
        self.cycles += 1
        self._failures = 0
        self.due = False

    def close(self) -> None:
        self.output.close()
