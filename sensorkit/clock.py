"""Clocks: monotonic time for scheduling, wall-clock ms for timestamps, and whether the wall clock is right.

Everything that waits or stamps takes a clock, so tests swap in `FakeClock`
and never sleep for time to pass.

Trust: a Raspberry Pi has no battery-backed clock, so after a boot without
network its wall clock may be days off until NTP sets it. `synchronized()`
says whether the wall clock can be believed; `boot_id()` names this boot,
whose CLOCK_MONOTONIC (system-wide, never stepped) lets a reading taken
while the clock was wrong be stamped right later (`sensorkit.holding`).
Once a clock has been seen synchronised it stays trusted for the life of the
object: the kernel raises STA_UNSYNC again after hours without an NTP server
(its error bound grows 500 µs a second), while the clock it set is still right
to a few ppm.
"""
from __future__ import annotations

import functools
import os
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

# adjtimex(2): the return value TIME_ERROR and the status bit STA_UNSYNC both mean "not synchronised".
TIME_ERROR = 5
STA_UNSYNC = 0x0040
TIMESYNC_FLAG = "/run/systemd/timesync/synchronized"  # systemd-timesyncd creates it at its first sync
BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"  # a random UUID the kernel makes at each boot
SYNC_CHECK_INTERVAL_S = 1.0  # how often an unsynchronised clock asks the kernel again
CLOCK_MODES = ("auto", "ntp", "trusted")  # the [device] key `clock`


class KernelClock(NamedTuple):
    """What adjtimex(2) says of the system clock."""

    synchronised: bool
    max_error_us: int


@functools.cache
def _adjtimex() -> tuple[Any, Any] | None:
    """libc's adjtimex and the struct it fills, looked up once; None where there is none.

    Imported here, not with the module: ctypes costs `sensorkit --help` 15 ms, and
    find_library runs ldconfig.
    """
    import ctypes
    import ctypes.util

    class Timex(ctypes.Structure):
        # struct timex up to `status` (the fields before it are a uint and four longs on every ABI),
        # then room for the rest, which the kernel fills but nothing here reads.
        _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                    ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                    ("rest", ctypes.c_char * 256)]

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc.adjtimex, Timex
    except (OSError, AttributeError):
        return None


def adjtimex_clock() -> KernelClock | None:
    """The kernel's NTP state (what `timedatectl`'s NTPSynchronized reports); None where there is no adjtimex.

    Modes 0 only reads, so any user may ask. Whatever keeps the time (systemd-timesyncd,
    chrony, ntpd) clears STA_UNSYNC once it has set the clock.
    """
    import ctypes

    found = _adjtimex()
    if found is None:
        return None
    call, timex_type = found
    timex = timex_type()
    state = call(ctypes.byref(timex))
    if state < 0:
        return None
    return KernelClock(synchronised=state != TIME_ERROR and not timex.status & STA_UNSYNC,
                       max_error_us=int(timex.maxerror))


def under(root: str | os.PathLike[str], system_path: str) -> Path:
    return Path(root) / system_path.lstrip("/")


def system_synchronized(root: str | os.PathLike[str] = "/") -> bool:
    """systemd-timesyncd's flag under `root`, else (the real root only) the kernel's adjtimex status."""
    if under(root, TIMESYNC_FLAG).exists():
        return True
    if Path(root).resolve() != Path("/").resolve():
        return False  # a fake root: this machine's kernel does not describe it
    kernel = adjtimex_clock()
    return kernel is not None and kernel.synchronised


def read_boot_id(root: str | os.PathLike[str] = "/") -> str:
    """This boot's id; a made-up one (new per process) where the kernel has none to give."""
    try:
        text = under(root, BOOT_ID_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    import uuid

    return text or f"unknown-{uuid.uuid4()}"


class SystemClock:
    """The real clocks of this machine.

    `check_sync` False (the default, and `[device] clock = "trusted"`): the wall
    clock is always believed. True: it is believed once systemd-timesyncd or
    the kernel says it is synchronised (asked at most once a second).
    """

    def __init__(self, *, check_sync: bool = False, root: str | os.PathLike[str] = "/") -> None:
        self._root = root
        self._synced = not check_sync
        self._checked_at: float | None = None
        self._boot_id: str | None = None

    def monotonic(self) -> float:
        return time.monotonic()

    def time_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait for `event` at most `seconds`; True when it was set."""
        return event.wait(max(0.0, seconds))

    def synchronized(self) -> bool:
        if self._synced:
            return True
        now = time.monotonic()
        if self._checked_at is not None and now - self._checked_at < SYNC_CHECK_INTERVAL_S:
            return False
        self._checked_at = now
        self._synced = self._ask()
        return self._synced

    def _ask(self) -> bool:
        return system_synchronized(self._root)

    def boot_id(self) -> str:
        if self._boot_id is None:
            self._boot_id = read_boot_id(self._root)
        return self._boot_id


class SimulatedClock(SystemClock):
    """The simulated board's clock: this machine's, or one that starts wrong and is set later.

    Made from the environment (`from_environ`), so a test controls a `sensorkit run --simulate`
    in a subprocess without waiting for time to pass:

    * ``SENSORKIT_SIMULATED_CLOCK_SYNCED=FILE``: the clock is unsynchronised until FILE exists;
    * ``SENSORKIT_SIMULATED_CLOCK_OFFSET_MS=N``: until then its wall clock is this machine's + N ms
      (e.g. -259200000: three days behind, as a Pi after a boot without network);
    * ``SENSORKIT_SIMULATED_BOOT_ID=ID``: the boot id it reports (a "reboot" between two runs).

    Without them it is this machine's clock, always synchronised: the host's NTP state never matters.
    Monotonic time is this machine's CLOCK_MONOTONIC, shared by every process of the boot.
    """

    def __init__(self, *, synced_flag: str | None = None, offset_ms: int = 0, boot_id: str | None = None) -> None:
        super().__init__(check_sync=synced_flag is not None)
        self._flag = synced_flag
        self._offset_ms = offset_ms
        self._boot_id = boot_id

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> SimulatedClock:
        from sensorkit.errors import ConfigError

        env = os.environ if environ is None else environ
        offset = env.get("SENSORKIT_SIMULATED_CLOCK_OFFSET_MS", "0").strip() or "0"
        try:
            offset_ms = int(offset)
        except ValueError:
            raise ConfigError(f"SENSORKIT_SIMULATED_CLOCK_OFFSET_MS={offset!r} is not a whole number of milliseconds "
                              "(e.g. -259200000: three days behind); set it to one, or unset it") from None
        return cls(synced_flag=env.get("SENSORKIT_SIMULATED_CLOCK_SYNCED") or None, offset_ms=offset_ms,
                   boot_id=env.get("SENSORKIT_SIMULATED_BOOT_ID") or None)

    def synchronized(self) -> bool:
        if not self._synced and self._flag is not None and os.path.exists(self._flag):
            self._synced = True  # looked at on every call: the wall clock below must agree with it
        return self._synced

    def time_ms(self) -> int:
        return super().time_ms() + (0 if self.synchronized() else self._offset_ms)


class FakeClock:
    """A clock that moves only when told to (or when something sleeps on it).

    `sleep()` advances time at once, so a driver that waits for a conversion
    finishes instantly in tests while an emulated chip sharing the clock sees
    the full delay pass. `synchronized=False` starts it unsynchronised;
    `sync()` sets it (optionally to the true time), `step(ms)` moves the wall
    clock alone, as NTP or a user may. Thread-safe.
    """

    def __init__(self, *, wall_ms: int = 1_700_000_000_000, mono: float = 1000.0, synchronized: bool = True,
                 boot_id: str = "fake-boot") -> None:
        self._lock = threading.Lock()
        self._mono = float(mono)
        self._wall_offset_ms = wall_ms - round(mono * 1000)
        self._synced = synchronized
        self._boot_id = boot_id
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def time_ms(self) -> int:
        with self._lock:
            return self._wall_offset_ms + round(self._mono * 1000)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._mono += seconds

    def step(self, ms: int) -> None:
        """The wall clock jumps by `ms` (negative: back); monotonic time goes on untouched."""
        with self._lock:
            self._wall_offset_ms += ms

    def sync(self, *, wall_ms: int | None = None) -> None:
        """The clock is synchronised from now on; `wall_ms`, when given, is the true time it is set to."""
        with self._lock:
            if wall_ms is not None:
                self._wall_offset_ms = wall_ms - round(self._mono * 1000)
            self._synced = True

    def synchronized(self) -> bool:
        with self._lock:
            return self._synced

    def boot_id(self) -> str:
        return self._boot_id

    def reboot(self, boot_id: str, *, mono: float = 10.0) -> None:
        """A new boot: another id, monotonic time starting again, the clock unsynchronised."""
        with self._lock:
            wall = self._wall_offset_ms + round(self._mono * 1000)
            self._boot_id, self._mono, self._synced = boot_id, float(mono), False
            self._wall_offset_ms = wall - round(self._mono * 1000)

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if seconds > 0:
                self._mono += seconds

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Does not block: reports whether `event` is set, time stays put."""
        return event.is_set()


def synchronized(clock: object) -> bool:
    """Whether `clock`'s wall time can be believed; a clock that cannot tell is believed."""
    check = getattr(clock, "synchronized", None)
    return True if check is None else bool(check())


def boot_id(clock: object) -> str:
    get = getattr(clock, "boot_id", None)
    return str(get()) if get is not None else read_boot_id()


def mono_ms(clock: object) -> int:
    """The clock's monotonic time in whole ms, as a held reading records it."""
    return int(clock.monotonic() * 1000)  # type: ignore[attr-defined]


def stamp(clock: object) -> tuple[int, int]:
    """(wall ms, monotonic ms) of now, for a new reading: monotonic first, so a wall time read after a
    sync that the monotonic time says came later is the synchronised one (see `sensorkit.holding`)."""
    mono = mono_ms(clock)
    return clock.time_ms(), mono  # type: ignore[attr-defined]


def choose_clock(mode: str, *, board: str, simulated: bool) -> SystemClock:
    """The clock of a run: `[device] clock` ("auto", "ntp", "trusted") on board `board`.

    "auto" checks NTP on a Raspberry Pi (no battery-backed clock) and trusts
    other boards (a laptop, a PC, an industrial board: they have one). Under
    --simulate the host's NTP state is never asked: the simulated clock is
    synchronised unless the environment says otherwise (`SimulatedClock`).
    """
    if mode not in CLOCK_MODES:
        raise ValueError(f"clock must be one of {', '.join(CLOCK_MODES)}, not {mode!r}")
    if simulated:
        return SimulatedClock.from_environ()
    if mode == "auto":
        mode = "ntp" if board.startswith("raspberry-pi") else "trusted"
    return SystemClock(check_sync=mode == "ntp")


def local_time(when_ms: int, *, ms: bool = False) -> str:
    """`when_ms` (UTC ms since the epoch) as this machine's local time, for people to read."""
    import datetime

    stamp = datetime.datetime.fromtimestamp(when_ms / 1000)
    return stamp.strftime("%Y-%m-%d %H:%M:%S") + (f".{when_ms % 1000:03d}" if ms else "")
