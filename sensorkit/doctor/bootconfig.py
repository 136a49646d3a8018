"""The Raspberry Pi boot config (config.txt): which base parameters and overlays apply to this board.

Read as the firmware reads it (Raspberry Pi documentation, "config.txt":
conditional filters, and "Device Trees, overlays, and parameters" 3.2):

* one `property=value` per line, `#` starts a comment, `include FILE` inserts
  another file of the boot partition;
* `[all]` resets the filters, `[none]` stops everything after it from
  applying, model filters (`[pi4]`, `[pi5]`, `[cm4]`, `[pi02]`, ...) apply to
  their models only (a Pi 400 also sees `[pi4]`, a Zero 2 W sees `[pi0]` and
  `[pi0w]`); other filters (EDID, serial, GPIO, HDMI) cannot be judged here and
  are taken to apply;
* `dtparam=a=on,b=off` sets base-tree parameters, `dtoverlay=name,p=v` loads an
  overlay, and a `dtparam` after a `dtoverlay` sets that overlay's parameters
  when the overlay has them (the w1-gpio overlays' `gpiopin` and `pullup`),
  until the next `dtoverlay` (an empty `dtoverlay=` ends the scope).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Current Raspberry Pi OS (Bookworm on) first: there /boot/config.txt is only a note saying it moved.
BOOT_CONFIGS = ("/boot/firmware/config.txt", "/boot/config.txt")
# Model filters each board profile sees (Raspberry Pi documentation, "Conditional filters").
MODEL_FILTERS: dict[str, frozenset[str]] = {
    "raspberry-pi-3b": frozenset({"pi3"}),
    "raspberry-pi-3b-plus": frozenset({"pi3", "pi3+"}),
    "raspberry-pi-4b": frozenset({"pi4"}),
    "raspberry-pi-400": frozenset({"pi4", "pi400"}),
    "raspberry-pi-cm4": frozenset({"pi4", "cm4"}),
    "raspberry-pi-5": frozenset({"pi5"}),
    "raspberry-pi-zero-w": frozenset({"pi0", "pi0w"}),
    "raspberry-pi-zero-2-w": frozenset({"pi0", "pi0w", "pi02"}),
}
KNOWN_MODEL_FILTERS = frozenset({"pi1", "pi2", "pi3", "pi3+", "pi4", "pi400", "cm4", "cm4s", "pi5", "cm5", "pi500",
                                 "pi0", "pi0w", "pi02"})
W1_OVERLAY_PARAMS = frozenset({"gpiopin", "pullup", "extpullup"})
W1_DEFAULT_PIN = 4  # the w1-gpio overlay's gpiopin default
MAX_INCLUDE_DEPTH = 4
_TRUE = frozenset({"", "on", "true", "yes", "y", "okay"})


@dataclass
class Overlay:
    name: str
    params: dict[str, str]
    line: int  # in the file it came from (an included file's own line numbers)


@dataclass
class BootConfig:
    """What of one config.txt (and its includes) applies to a board."""

    shown_path: str  # as on the machine: /boot/firmware/config.txt
    exists: bool
    params: dict[str, str] = field(default_factory=dict)  # base-tree dtparams, the last one wins
    overlays: list[Overlay] = field(default_factory=list)

    def param_on(self, *names: str) -> bool:
        """Whether any of `names` is set to a true value (on, yes, 1...) in the base tree."""
        return any(name in self.params and is_true(self.params[name]) for name in names)

    @property
    def i2c_arm(self) -> bool:
        """dtparam=i2c_arm=on (i2c and i2c1 are the same bus on every current Pi)."""
        return self.param_on("i2c_arm", "i2c", "i2c1")

    def w1_pins(self) -> list[tuple[int | None, Overlay]]:
        """(gpiopin, overlay) of each w1-gpio overlay; None when its gpiopin is not a number."""
        pins: list[tuple[int | None, Overlay]] = []
        for overlay in self.overlays:
            if overlay.name.startswith("w1-gpio"):
                text = overlay.params.get("gpiopin", str(W1_DEFAULT_PIN))
                pins.append((int(text, 0) if _is_int(text) else None, overlay))
        return pins


def is_true(value: str) -> bool:
    value = value.strip().lower()
    return value in _TRUE or (_is_int(value) and int(value, 0) != 0)


def _is_int(text: str) -> bool:
    try:
        int(text, 0)
    except ValueError:
        return False
    return True


def boot_config_path(host: Any) -> str:
    """The boot config this machine uses (shown as on the machine): the first that exists, else the current one."""
    for candidate in BOOT_CONFIGS:
        if host.path(candidate).is_file():
            return candidate
    return BOOT_CONFIGS[0]


def read_boot_config(host: Any, board: str | None) -> BootConfig:
    shown = boot_config_path(host)
    path = host.path(shown)
    config = BootConfig(shown, path.is_file())
    if config.exists:
        _Reader(config, MODEL_FILTERS.get(board or "")).read(path, 0)
    return config


def _split_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        if key.strip():
            params[key.strip()] = value.strip()
    return params


class _Reader:
    def __init__(self, config: BootConfig, models: frozenset[str] | None) -> None:
        self.config = config
        self.models = models  # None: a board without model filters (all of them are taken to apply)
        self.model: str | None = None
        self.none = False
        self.overlay: Overlay | None = None

    def applies(self) -> bool:
        if self.none:
            return False
        return self.model is None or self.models is None or self.model in self.models

    def read(self, path: Path, depth: int) -> None:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("[") and line.endswith("]"):
                self.section(line[1:-1].strip().lower())
            elif line.startswith("include ") or line.startswith("include\t"):
                if depth < MAX_INCLUDE_DEPTH and self.applies():
                    self.read(path.parent / line.split(None, 1)[1].strip(), depth + 1)
            elif self.applies():
                key, _, value = line.partition("=")
                self.setting(key.strip(), value.strip(), number)

    def section(self, name: str) -> None:
        if name == "all":
            self.model, self.none = None, False
        elif name == "none":
            self.none = True
        elif name in KNOWN_MODEL_FILTERS:
            self.model = name  # filters of one kind replace each other
        # EDID, serial number, GPIO, HDMI, board-type, tryboot: not known here, taken to apply

    def setting(self, key: str, value: str, line: int) -> None:
        if key == "dtoverlay":
            name, _, rest = value.partition(",")
            if not name.strip():
                self.overlay = None  # `dtoverlay=` ends the overlay's scope: dtparams go to the base tree again
                return
            self.overlay = Overlay(name.strip(), _split_params(rest), line)
            self.config.overlays.append(self.overlay)
        elif key == "dtparam":
            for name, param in _split_params(value).items():
                if self.overlay is not None and self.overlay.name.startswith("w1-gpio") and name in W1_OVERLAY_PARAMS:
                    self.overlay.params[name] = param
                else:
                    self.config.params[name] = param
