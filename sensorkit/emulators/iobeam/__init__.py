"""A local iobeam Cloud (HTTP API v1) that answers strictly, to prove sensorkit's iobeam client against.

`IobeamEmulator` is the whole server; the calls it answers and every choice
it makes where the real service is unknown are listed in `api`'s docstring.
One concept per module, imports in one direction::

    wire       what a valid request looks like: pure checks, each failure an HttpError saying where
    store      devices, points and the signing secret in one SQLite database
    auth       issuing and checking the server's tokens
    watch      what tests see of imports: a log of accepted ones, a hold mid-import
    api        the routes of iobeam API v1 over the store and the tokens
    emulator   IobeamEmulator: life cycle, banner, test helpers, runtime controls
"""
from __future__ import annotations

from sensorkit.emulators import DatabaseUnusable, EmulatorError, PortUnavailable
from sensorkit.emulators._http import RequestRecord
from sensorkit.emulators.iobeam.emulator import IobeamEmulator
from sensorkit.emulators.iobeam.store import Device, StoredPoint
from sensorkit.emulators.iobeam.watch import ImportRecord

__all__ = ["DatabaseUnusable", "Device", "EmulatorError", "ImportRecord", "IobeamEmulator", "PortUnavailable",
           "RequestRecord", "StoredPoint"]
