"""A fake machine for `sensorkit doctor`: a file tree under a temporary directory, and a Host over it."""
from __future__ import annotations

import types
from pathlib import Path

from sensorkit.doctor import Host

PI5 = "Raspberry Pi 5 Model B Rev 1.0"
PI4 = "Raspberry Pi 4 Model B Rev 1.4"
BOOT = "/boot/firmware/config.txt"
UNIT = "/etc/systemd/system/sensorkit.service"


class FakeRoot:
    """A machine's file tree under a temporary directory, built one fact at a time."""

    def __init__(self, base: Path) -> None:
        self.root = base / "root"
        self.root.mkdir(exist_ok=True)

    def file(self, system_path: str, text: str = "") -> Path:
        path = self.root / system_path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def model(self, model: str) -> FakeRoot:
        self.file("/proc/device-tree/model", model + "\0")  # the kernel shows the NUL too
        return self

    def boot(self, text: str, where: str = BOOT) -> FakeRoot:
        self.file(where, text)
        return self

    def i2c(self, bus: int = 1) -> FakeRoot:
        self.file(f"/dev/i2c-{bus}")
        (self.root / f"sys/bus/i2c/devices/i2c-{bus}").mkdir(parents=True, exist_ok=True)
        return self

    def gpiochips(self, count: int = 1) -> FakeRoot:
        for number in range(count):
            self.file(f"/dev/gpiochip{number}")
        return self

    def w1_master(self) -> FakeRoot:
        (self.root / "sys/bus/w1/devices/w1_bus_master1").mkdir(parents=True, exist_ok=True)
        return self

    def synced(self) -> FakeRoot:
        self.file("/run/systemd/timesync/synchronized")
        return self

    def pi5(self) -> FakeRoot:
        """A Pi 5 set up right: I2C on, 1-wire on GPIO4, GPIO chips, clock synchronised."""
        return self.model(PI5).boot("dtparam=i2c_arm=on\ndtoverlay=w1-gpio\n").i2c(1).gpiochips(5).w1_master().synced()


def importer(*present: str):
    def import_module(name: str):
        if name in present:
            return types.ModuleType(name)
        raise ModuleNotFoundError(f"No module named '{name}'")

    return import_module


def host_for(fake: FakeRoot, **kwargs) -> Host:
    kwargs.setdefault("import_module", importer("lgpio"))
    kwargs.setdefault("user", "pi")
    kwargs.setdefault("groups", frozenset({1000}))
    kwargs.setdefault("free_bytes", lambda path: 20_000_000_000)
    return Host(root=fake.root, **kwargs)
