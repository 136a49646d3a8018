"""The transports a real board opens: I2C buses (smbus2), a gpiozero pin factory, the 1-wire root.

Opened lazily and cached, so a config with no GPIO sensor never loads a GPIO
library. Every failure says what to enable or install.
"""
from __future__ import annotations

import errno
import threading
from pathlib import Path
from typing import Any, Callable

from boards.errors import BoardError

# Where the kernel's w1 subsystem shows bus masters and 1-wire devices.
W1_DEVICES = Path("/sys/bus/w1/devices")

# gpiozero's pin factory classes by the names profiles use.
PIN_FACTORIES = {
    "lgpio": ("gpiozero.pins.lgpio", "LGPIOFactory", "python3-lgpio"),
    "rpigpio": ("gpiozero.pins.rpigpio", "RPiGPIOFactory", "python3-rpi-lgpio"),
    "pigpio": ("gpiozero.pins.pigpio", "PiGPIOFactory", "python3-pigpio"),
    "native": ("gpiozero.pins.native", "NativeFactory", ""),
}


class OwnedTransports:
    """Buses and a pin factory opened on demand, all closed together."""

    simulated = False

    def __init__(self, profile: Any) -> None:
        self.profile = profile
        self._buses: dict[int, Any] = {}
        self._factory: Any | None = None
        self._lock = threading.Lock()

    def w1_sleep(self) -> Callable[[float], None] | None:
        """The sleep 1-wire drivers must use, when the board needs its own (None: the clock's)."""
        return None

    def close(self) -> None:
        with self._lock:
            for bus in self._buses.values():
                bus.close()
            self._buses.clear()
            if self._factory is not None:
                self._factory.close()
                self._factory = None


class HardwareTransports(OwnedTransports):
    """Real buses and pins of the board this process runs on."""

    def i2c(self, number: int) -> Any:
        with self._lock:
            if number not in self._buses:
                self._buses[number] = _open_smbus(number)
            return self._buses[number]

    def pin_factory(self) -> Any:
        with self._lock:
            if self._factory is None:
                self._factory = make_pin_factory(self.profile.pin_factory)
            return self._factory

    def w1_root(self) -> Path:
        """The kernel's 1-wire tree; drivers say what to enable when it is missing."""
        return W1_DEVICES

    def prepare(self, sensor_name: str) -> None:
        """Nothing to do on real hardware (the simulated board drives its twins here)."""


def _open_smbus(number: int) -> Any:
    from smbus2 import SMBus

    device = f"/dev/i2c-{number}"
    try:
        return SMBus(number)
    except FileNotFoundError:
        raise BoardError(
            f"{device} does not exist: enable I2C (`sudo raspi-config nonint do_i2c 0`, or "
            f"dtparam=i2c_arm=on in /boot/firmware/config.txt, then reboot); "
            f"for another bus load its dtoverlay"
        ) from None
    except PermissionError:
        raise BoardError(
            f"no permission to open {device}: add this user to the i2c group "
            "(`sudo adduser $USER i2c`, then log in again)"
        ) from None
    except OSError as exc:
        raise BoardError(f"cannot open {device}: {errno.errorcode.get(exc.errno, exc.errno)} {exc.strerror}") from None


def make_pin_factory(name: str | None) -> Any:
    if name is None:
        from gpiozero import Device

        return Device.ensure_pin_factory()
    if name == "mock":
        from gpiozero.pins.mock import MockFactory

        return MockFactory()
    if name not in PIN_FACTORIES:
        raise BoardError(f"unknown pin factory '{name}': use one of {', '.join(PIN_FACTORIES)} or mock")
    module_name, class_name, apt = PIN_FACTORIES[name]
    import importlib

    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)()
    except ImportError as exc:
        hint = (
            f"install it (`sudo apt install {apt}`) and create the venv with --system-site-packages "
            f"so the venv sees it"
            if apt
            else "check the gpiozero installation"
        )
        raise BoardError(f"the '{name}' GPIO library is not available ({exc}): {hint}") from None
    except Exception as exc:  # noqa: BLE001 - gpiozero raises many types when no GPIO chip exists
        raise BoardError(
            f"cannot open the GPIO pins with the '{name}' pin factory ({type(exc).__name__}: {exc}): "
            "is this the board the profile says, and may this user use /dev/gpiochip*?"
        ) from None
