"""A local Byteport server (HTTP API v1) that answers strictly, to prove sensorkit's Byteport client against.

`ByteportEmulator` is the whole server; the calls it answers and every choice
it makes where the real service is unknown are listed in `api`'s docstring.
One concept per module, imports in one direction::

    wire       what a valid request looks like: names, values, `_ts`, read ranges, objects (pure)
    store      devices, points and the made-up credentials in one SQLite database
    auth       the login: csrftoken and sessionid cookies
    api        the routes of Byteport API v1 over the store and the logins
    emulator   ByteportEmulator: life cycle, banner, test helpers, runtime controls

What tests see of the stores (a log, a hold mid-store) is `emulators._watch`.
"""
from __future__ import annotations

from sensorkit.emulators import DatabaseUnusable, EmulatorError, PortUnavailable
from sensorkit.emulators._http import RequestRecord
from sensorkit.emulators.byteport.api import StoreRecord
from sensorkit.emulators.byteport.emulator import ByteportEmulator
from sensorkit.emulators.byteport.store import Device, StoredPoint

__all__ = ["ByteportEmulator", "DatabaseUnusable", "Device", "EmulatorError", "PortUnavailable", "RequestRecord",
           "StoreRecord", "StoredPoint"]
