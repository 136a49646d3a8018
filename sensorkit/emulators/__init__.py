"""Local cloud servers that speak the documented APIs strictly, to prove sensorkit's uploaders against.

Layout: `_http/` is the HTTP part every emulator shares (requests and
answers, routing, faults, the threaded server), `_server.py` the emulator
object's shared life (start, stop, faults, the request log) and `_watch.py`
what tests see of accepted writes (a count, a log, a hold); each cloud is a
package of its own beside them (`iobeam/`, `byteport/`: wire checks, store,
auth, routes, the emulator object). The errors every emulator raises live here, so a caller
catches them without importing any one server.
"""
from __future__ import annotations

from sensorkit.errors import SensorkitError


class EmulatorError(SensorkitError):
    """An emulator cannot do what it was asked: the port is taken, the database is foreign, ..."""


class PortUnavailable(EmulatorError, OSError):
    """The address cannot be bound: the port is taken, privileged, or the host is not an address of this machine.

    Also an OSError, whose `strerror` is the system's reason and `filename` the ``host:port``.
    """

    def __str__(self) -> str:
        return f"cannot bind {self.filename}: {self.strerror}; choose another port (0 picks a free one)"


class DatabaseUnusable(EmulatorError):
    """The file given as an emulator's database is not one (and was left untouched), or cannot be created.

    `path` is the file, `reason` what is wrong with it; the message says both and what to do.
    """

    def __init__(self, path: str, reason: str, fix: str = "give --db a new file name, or an emulator's database") \
            -> None:
        super().__init__(f"{path}: {reason} — {fix}")
        self.path = path
        self.reason = reason
