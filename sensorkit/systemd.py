"""Talking to systemd from a service: sd_notify(3) messages and journal priorities, stdlib only.

* `Notifier` sends the datagrams of the notify protocol (``READY=1``,
  ``WATCHDOG=1``, ``STATUS=...``, ``STOPPING=1``) to ``$NOTIFY_SOCKET``: an
  AF_UNIX datagram socket, a path, or with a leading ``@`` a name in the
  abstract namespace. Without the variable it does nothing, so a run outside
  systemd is unchanged.
* `watchdog_timeout_s` reads ``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``, which
  names the one process the watchdog is for), as sd_watchdog_enabled(3) does.
* `stream_is_journal` compares ``$JOURNAL_STREAM`` ("device:inode") with a
  stream's file, as systemd.exec(5) describes; `JournalFormatter` then starts
  every line with the ``<N>`` syslog priority of sd-daemon(3), so the journal
  files each message under its level instead of showing "WARNING:" text.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

NOTIFY_SOCKET = "NOTIFY_SOCKET"
WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"
JOURNAL_STREAM = "JOURNAL_STREAM"

# sd-daemon(3): SD_CRIT "<2>", SD_ERR "<3>", SD_WARNING "<4>", SD_INFO "<6>", SD_DEBUG "<7>".
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))
DEBUG_PRIORITY = 7


def notify_address(environ: Mapping[str, str]) -> str | None:
    """The address of ``$NOTIFY_SOCKET`` for `socket.sendto`, or None when unset or of a kind not spoken here.

    "@name" is the abstract namespace: a leading NUL byte instead of the "@".
    (systemd also knows "vsock:" addresses, for virtual machines; a Pi has none.)
    """
    value = environ.get(NOTIFY_SOCKET, "")
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    if value:
        log.debug("%s=%r is not an AF_UNIX socket: not notifying systemd", NOTIFY_SOCKET, value)
    return None


def watchdog_timeout_s(environ: Mapping[str, str], pid: int | None = None) -> float | None:
    """The watchdog timeout systemd set for this process (``WatchdogSec=``), None when there is none.

    ``$WATCHDOG_PID``, when set, must be this process: the variables may have
    been inherited by a child that is not the service's main process.
    """
    try:
        usec = int(environ.get(WATCHDOG_USEC, ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    owner = environ.get(WATCHDOG_PID)
    if owner and owner != str(os.getpid() if pid is None else pid):
        return None
    return usec / 1_000_000


class Notifier:
    """Sends sd_notify messages; every send is a no-op without an address, and never raises."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._socket: Any = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        return cls(notify_address(os.environ if environ is None else environ))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, **fields: object) -> bool:
        """One datagram of ``NAME=value`` lines (``send(READY=1, STATUS="...")``); True when it went out.

        A value must be one line: newlines become spaces.
        """
        if self.address is None or not fields:
            return False
        lines = [f"{name}={' '.join(str(value).splitlines())}" for name, value in fields.items()]
        try:
            if self._socket is None:
                import socket

                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto("\n".join(lines).encode("utf-8"), self.address)
        except OSError as exc:
            # systemd gone (a stop in progress) or a socket that never was: nothing to tell, nothing to fix.
            log.debug("could not notify systemd at %r: %s", self.address, exc)
            return False
        return True

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def stream_is_journal(stream: Any, environ: Mapping[str, str] | None = None) -> bool:
    """Whether `stream` is the journal's stream socket that systemd connected (``$JOURNAL_STREAM``)."""
    value = (os.environ if environ is None else environ).get(JOURNAL_STREAM, "")
    device, _, inode = value.partition(":")
    try:
        wanted = (int(device), int(inode))
        stat = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False  # unset, garbled, or a stream without a file (a test's StringIO)
    return (stat.st_dev, stat.st_ino) == wanted


def priority(levelno: int) -> int:
    """The syslog priority of a logging level (NOTICE, 5, has no logging level)."""
    for level, value in _PRIORITIES:
        if levelno >= level:
            return value
    return DEBUG_PRIORITY


class JournalFormatter(logging.Formatter):
    """``<N>message``, with the prefix on every line, so a traceback stays at its record's priority."""

    def __init__(self, fmt: str = "%(message)s") -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines() or [""])
