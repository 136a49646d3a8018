"""Checks of the machine: the board, I2C, 1-wire, GPIO and its library, the system clock.

Each looks at what the kernel shows under the host's root (/dev, /sys, /proc,
/run) first, since that is what sensorkit will use, and at the boot config
to say why something is missing and which line fixes it.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sensorkit.clock import TIMESYNC_FLAG
from sensorkit.doctor.bootconfig import MODEL_FILTERS, W1_DEFAULT_PIN, BootConfig
from sensorkit.doctor.checks import Check, fail, ok, warn

W1_DEVICES = "/sys/bus/w1/devices"
# gpiozero pin factory -> the Python module it needs
FACTORY_MODULES = {"lgpio": "lgpio", "rpigpio": "RPi.GPIO", "pigpio": "pigpio"}
PIP_NAMES = {"lgpio": "lgpio", "rpigpio": "rpi-lgpio", "pigpio": "pigpio"}  # the same modules on PyPI


def is_pi(profile: Any) -> bool:
    """A Raspberry Pi profile: its buses and overlays are set in config.txt."""
    return profile.name in MODEL_FILTERS


def _reboot(boot: BootConfig, line: str) -> str:
    return f"add the line `{line}` to {boot.shown_path}, then reboot (`sudo reboot`)"


# --------------------------------------------------------------------------- board
def check_board(host: Any, name: str, where: str) -> tuple[Check, Any]:
    """The profile for `name` ('auto': from /proc/device-tree/model under the root); None when not detected.

    An unknown profile name raises boards.UnknownBoard (bad input, as everywhere).
    """
    import boards

    model = boards.read_model(host.path(boards.MODEL_PATH))
    pick = ("name the board with --board NAME or [device] board = \"NAME\" in the config (`sensorkit boards` "
            "lists them; generic-linux for any other Linux board, with its buses and pins in [device])")
    if name == "auto":
        if model is None:
            return fail("board", f"no {boards.MODEL_PATH}: this is not a Raspberry Pi or similar board", pick), None
        profile = boards.match_model(model)
        if profile is None:
            return fail("board", f"board model {model!r} matches no known board", pick), None
        return ok("board", f"{model} (from {boards.MODEL_PATH}): profile {profile.name}"), profile
    profile = boards.get_profile(name)
    if profile.simulated:
        return ok("board", f"profile simulated ({where}): emulated I2C, 1-wire and GPIO, so no hardware is "
                  "checked"), profile
    detected = boards.match_model(model) if model else None
    if detected is not None and detected.name != profile.name:
        return warn("board", f"profile {profile.name} ({where}), but this machine says it is a {model} "
                    f"(profile {detected.name})",
                    f"use --board {detected.name}, or [device] board = \"auto\" in the config"), profile
    seen = f"; this machine: {model}" if model else ""
    return ok("board", f"profile {profile.name} ({where}){seen}"), profile


# --------------------------------------------------------------------------- permissions
def permission_fix(host: Any, device: Path, usual_group: str) -> tuple[str, str]:
    """(what, fix) when this user may not open `device`: which group grants it, and how to get it."""
    groups = host.groups_file()
    try:
        gid = device.stat().st_gid
    except OSError:
        gid = -1
    group = next((g for g in groups.values() if g.gid == gid and g.name != "root"), None)
    if group is None:
        group = groups.get(usual_group)
    name = group.name if group is not None else usual_group
    shown = host.shown(device)
    if group is None:
        return (f"{shown} is not open to this user ({host.user}), and there is no '{name}' group",
                f"sudo groupadd --system {name} && sudo adduser {host.user} {name}, give the device to the group "
                f"(a udev rule with GROUP=\"{name}\", MODE=\"0660\"), then log out and back in")
    if host.user in group.members and group.gid not in host.groups:
        return (f"{shown} belongs to group {name}; {host.user} was added to it after this login began",
                "log out and back in (or reboot) so the new group membership takes effect")
    if host.user in group.members:
        return (f"{shown} belongs to group {name}, which {host.user} is in, but the group may not read and write it",
                f"sudo chmod g+rw {shown} (Raspberry Pi OS's udev rules make it 0660 at boot)")
    return (f"{shown} belongs to group {name}, and {host.user} is not in it",
            f"sudo adduser {host.user} {name}, then log out and back in")


def _open(host: Any, device: Path, usual_group: str) -> tuple[str, str] | None:
    """None when `device` opens read-write; else (what, fix)."""
    try:
        host.opener(device)
    except PermissionError:
        return permission_fix(host, device, usual_group)
    except OSError as exc:
        return (f"{host.shown(device)} cannot be opened: {exc.strerror or exc}",
                f"check the kernel's messages about it (`dmesg | grep -i {device.name.rstrip('0123456789-')}`)")
    return None


# --------------------------------------------------------------------------- I2C
def check_i2c(host: Any, profile: Any, boot: BootConfig, bus: int) -> Check:
    name = f"i2c-{bus}"
    device = host.path(f"/dev/i2c-{bus}")
    if device.exists():
        problem = _open(host, device, "i2c")
        if problem is not None:
            return fail(name, *problem)
        return ok(name, f"/dev/i2c-{bus} opens read-write")
    if host.path(f"/sys/bus/i2c/devices/i2c-{bus}").exists():
        return fail(name, f"the kernel has I2C bus {bus}, but /dev/i2c-{bus} does not exist: the i2c-dev module is "
                    "not loaded",
                    "sudo modprobe i2c-dev, and add the line `i2c-dev` to /etc/modules so it loads at every boot")
    if not is_pi(profile):
        return fail(name, f"/dev/i2c-{bus} does not exist",
                    f"enable I2C bus {bus} in this board's device tree (see its vendor's documentation), and load "
                    "the i2c-dev module (`sudo modprobe i2c-dev`)")
    if bus == 1:
        if boot.i2c_arm:
            return fail(name, f"/dev/i2c-1 does not exist, though {boot.shown_path} turns I2C on: not rebooted since",
                        "sudo reboot")
        missing = "has no `dtparam=i2c_arm=on`" if boot.exists else "does not exist"
        return fail(name, f"/dev/i2c-1 does not exist: I2C is off ({boot.shown_path} {missing})",
                    _reboot(boot, "dtparam=i2c_arm=on") + " — or run `sudo raspi-config nonint do_i2c 0`, then reboot")
    pins = profile.i2c_buses.get(bus)
    line = (f"dtoverlay=i2c-gpio,bus={bus},i2c_gpio_sda={pins.sda},i2c_gpio_scl={pins.scl}" if pins is not None
            else f"dtoverlay=i2c-gpio,bus={bus}")
    return fail(name, f"/dev/i2c-{bus} does not exist: no overlay makes I2C bus {bus}", _reboot(boot, line))


# --------------------------------------------------------------------------- 1-wire
def check_w1(host: Any, profile: Any, boot: BootConfig) -> Check:
    name = "1-wire"
    pin = profile.onewire_pin if profile.onewire_pin is not None else W1_DEFAULT_PIN
    line = "dtoverlay=w1-gpio" if pin == W1_DEFAULT_PIN else f"dtoverlay=w1-gpio,gpiopin={pin}"
    devices = host.path(W1_DEVICES)
    masters = sorted(p.name for p in devices.glob("w1_bus_master*")) if devices.is_dir() else []
    if not is_pi(profile):
        if masters:
            return ok(name, f"{W1_DEVICES} has {', '.join(masters)}")
        return fail(name, f"{W1_DEVICES} has no 1-wire bus master",
                    f"load this board's w1-gpio driver for GPIO{pin} (see its vendor's documentation), then check "
                    f"`ls {W1_DEVICES}`")
    overlays = boot.w1_pins()
    on_pin = [o for p, o in overlays if p == pin]
    if not on_pin and overlays:
        other_pin, other = overlays[-1]
        where = f"GPIO{other_pin}" if other_pin is not None else f"gpiopin={other.params.get('gpiopin')}"
        return fail(name, f"{boot.shown_path} line {other.line} puts the 1-wire bus on {where}, but the config's "
                    f"1-wire pin is GPIO{pin}",
                    f"change that line to `{line}` and reboot — or, if the sensors are wired to {where}, set "
                    f"onewire_pin = {other_pin if other_pin is not None else 'N'} in [device]")
    if not on_pin:
        if masters:
            return warn(name, f"a 1-wire bus is loaded now ({', '.join(masters)}), but {boot.shown_path} has no "
                        "w1-gpio overlay: it will be gone after a reboot",
                        f"add the line `{line}` to {boot.shown_path}")
        return fail(name, f"the 1-wire bus is off: {boot.shown_path} has no `{line}`", _reboot(boot, line))
    if not masters:
        return fail(name, f"{boot.shown_path} loads `{line}`, but {W1_DEVICES} has no bus master: not rebooted since",
                    "sudo reboot (then `ls /sys/bus/w1/devices` shows w1_bus_master1 and one 28-... directory per "
                    "thermometer)")
    return ok(name, f"w1-gpio on GPIO{pin} ({boot.shown_path} line {on_pin[-1].line}); {', '.join(masters)}")


# --------------------------------------------------------------------------- GPIO
def check_gpio(host: Any) -> Check:
    name = "gpio"
    chips = sorted(host.path("/dev").glob("gpiochip*"))
    if not chips:
        return fail(name, "no /dev/gpiochip*: this kernel offers no GPIO character device",
                    "run a current Raspberry Pi OS kernel (`sudo apt full-upgrade`, then reboot)")
    for chip in chips:
        problem = _open(host, chip, "gpio")
        if problem is not None:
            return fail(name, *problem)
    return ok(name, f"{', '.join(host.shown(c) for c in chips)} open read-write")


def check_gpio_library(host: Any, profile: Any) -> Check:
    """The pin factory's library imports (lgpio on every current Pi; the Pi 5 cannot use any other)."""
    from boards.transports import PIN_FACTORIES

    name = "gpio-library"
    factory = profile.pin_factory
    if factory is None:
        return ok(name, "the board names no pin factory: gpiozero picks one (GPIOZERO_PIN_FACTORY)")
    module = FACTORY_MODULES.get(factory)
    if module is None:
        return ok(name, f"pin factory {factory} needs no extra library")
    try:
        host.import_module(module)
    except Exception as exc:  # noqa: BLE001 - an import can fail in many ways (a missing C library too)
        apt = PIN_FACTORIES.get(factory, ("", "", ""))[2]
        return fail(name, f"the {factory} pin factory of {profile.name} needs the Python module {module}, which does "
                    f"not import here ({type(exc).__name__}: {exc})", _library_fix(apt, PIP_NAMES[factory]))
    return ok(name, f"{module} imports (pin factory {factory})")


def _library_fix(apt: str, pip: str) -> str:
    """Raspberry Pi OS builds the GPIO libraries for its kernel: apt, and a venv that sees them."""
    venv = Path(sys.prefix)
    if sys.prefix == sys.base_prefix:  # not in a venv: the system's Python sees apt's packages
        return f"sudo apt install {apt}"
    try:
        sees_system = "include-system-site-packages = true" in (venv / "pyvenv.cfg").read_text().lower()
    except OSError:
        sees_system = False
    if sees_system:
        return f"sudo apt install {apt}"
    return (f"sudo apt install {apt}, and let the venv see it: `python3 -m venv --system-site-packages {venv}` "
            f"(it keeps what is installed) — or `{venv}/bin/pip install {pip}`")


# --------------------------------------------------------------------------- clock
def check_clock(host: Any, *, simulated: bool = False, mode: str = "auto", board: str = "") -> Check:
    """Synchronised: systemd-timesyncd's flag file under the root, else (real root only) the kernel's adjtimex.

    The flag works under a fake root and on Raspberry Pi OS, whose clock is set
    by systemd-timesyncd; the kernel's status also covers chrony and ntpd, and is
    what `timedatectl` reports as NTPSynchronized. Unsynchronised is a WARN:
    readings are held until it is (`sensorkit.holding`), never sent with a wrong
    time. `mode` is the config's `[device] clock` ("auto": ntp on a Raspberry Pi).
    """
    name = "clock"
    if simulated:
        return ok(name, "the simulated board stamps readings with this machine's clock as it is (its NTP state "
                  "is not asked, and nothing is held)")
    if mode == "auto":
        mode = "ntp" if board.startswith("raspberry-pi") else "trusted"
    trusted = mode == "trusted"
    fix = ("connect the network so NTP can reach its servers (UDP port 123) and turn on systemd-timesyncd: "
           "`sudo timedatectl set-ntp true` (`timedatectl timesync-status` shows what it is doing); on a board "
           "with a battery-backed real-time clock, or one that never has NTP, set `clock = \"trusted\"` in [device]")
    if host.path(TIMESYNC_FLAG).exists():
        return ok(name, f"synchronised ({TIMESYNC_FLAG} exists)")
    kernel = host.kernel_clock() if host.kernel_clock is not None else None
    if kernel is not None and kernel.synchronised:
        return ok(name, f"synchronised (kernel NTP status; maximum error {kernel.max_error_us / 1000:.0f} ms)")
    if kernel is None and not host.fake:
        state = "cannot tell whether it is synchronised (no timesyncd flag, no adjtimex)"
    else:
        state = "not synchronised" + (f" (no {TIMESYNC_FLAG})" if kernel is None else
                                      " (the kernel's NTP status says so)")
    if trusted:
        return ok(name, f"trusted ([device] clock = \"trusted\" or a board with its own clock): readings are "
                  f"stamped with it as it is; {state}")
    return warn(name, f"{state}: readings are held (with the monotonic time) and sent with their right time once "
                "it is — after a boot without network a Pi's clock may be days off until NTP sets it", fix)
