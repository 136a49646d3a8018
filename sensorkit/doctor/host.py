"""The machine `doctor` looks at: its file tree (under a root, so tests use a fake one) and what it asks the OS.

Every question that cannot be answered from files under the root is a
callable here, so a test replaces it: opening a device node (a test runs as
root, which no file permission stops), importing a library, free space,
writing in a directory, the kernel's clock status and systemd. Under a fake
root the kernel and systemd are not asked (they would describe this machine,
not the fake one): `kernel_clock` and `systemctl` default to None there.
"""
from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sensorkit.clock import KernelClock, adjtimex_clock

SYSTEMCTL_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Group:
    name: str
    gid: int
    members: frozenset[str]


def open_read_write(path: Path) -> None:
    """Open a device node as the drivers will (read-write), and close it; raises OSError."""
    os.close(os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0)))


def try_writing(directory: Path) -> None:
    """Create and remove a file in `directory`; raises OSError when this user cannot (or the disk is read-only)."""
    fd, name = tempfile.mkstemp(prefix=".sensorkit-doctor-", dir=directory)
    os.close(fd)
    os.unlink(name)


def disk_free_bytes(directory: Path) -> int:
    return shutil.disk_usage(directory).free


def run_systemctl(args: list[str]) -> str | None:
    """systemctl's one-word answer (`is-active`: active, failed...; `is-enabled`: enabled, disabled...).

    None where there is no systemctl, or no systemd to answer (a container says so in a sentence).
    """
    try:
        done = subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=SYSTEMCTL_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    words = done.stdout.split()
    return words[0] if len(words) == 1 and re.fullmatch(r"[a-z-]+", words[0]) else None


def current_user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER", "pi")


def current_groups() -> frozenset[int]:
    return frozenset([*os.getgroups(), os.getegid()])


def _unset() -> Any:
    return None


@dataclass
class Host:
    """The machine under `root`, with the OS questions as replaceable callables."""

    root: Path = Path("/")
    opener: Callable[[Path], None] = open_read_write
    import_module: Callable[[str], Any] = importlib.import_module
    free_bytes: Callable[[Path], int] = disk_free_bytes
    probe_write: Callable[[Path], None] = try_writing
    user: str = field(default_factory=current_user)
    groups: frozenset[int] = field(default_factory=current_groups)
    kernel_clock: Callable[[], KernelClock | None] | None = field(default_factory=_unset)
    systemctl: Callable[[list[str]], str | None] | None = field(default_factory=_unset)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if not self.fake:  # the real machine: ask its kernel and its systemd unless told otherwise
            if self.kernel_clock is None:
                self.kernel_clock = adjtimex_clock
            if self.systemctl is None:
                self.systemctl = run_systemctl

    @property
    def fake(self) -> bool:
        return self.root.resolve() != Path("/").resolve()

    def path(self, system_path: str | os.PathLike[str]) -> Path:
        """`system_path` (as on a real machine: /dev/i2c-1) under the root."""
        return self.root / os.fspath(system_path).lstrip("/")

    def shown(self, path: str | os.PathLike[str]) -> str:
        """A path under the root as the user knows it on the machine (/dev/i2c-1, not /tmp/x/dev/i2c-1)."""
        path = Path(path)
        if not self.fake:
            return str(path)
        try:
            inside = path.relative_to(self.root)
        except ValueError:
            return str(path)
        return "/" if str(inside) == "." else f"/{inside}"

    def groups_file(self) -> dict[str, Group]:
        """/etc/group under the root, by name (empty when missing)."""
        groups: dict[str, Group] = {}
        try:
            text = self.path("/etc/group").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return groups
        for line in text.splitlines():
            parts = line.split(":")
            if len(parts) < 4 or not parts[2].isdigit():
                continue
            members = frozenset(m.strip() for m in parts[3].split(",") if m.strip())
            groups[parts[0]] = Group(parts[0], int(parts[2]), members)
        return groups
