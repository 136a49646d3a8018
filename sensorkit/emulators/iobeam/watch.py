"""What tests see of the local iobeam server's imports: the records `_watch.WriteWatch` logs and holds."""
from __future__ import annotations

from typing import NamedTuple

from sensorkit.emulators.iobeam.store import StoredPoint
from sensorkit.emulators.iobeam.wire import Value


class ImportRecord(NamedTuple):
    """One accepted import, as stored: the device and its points in request order."""

    device_id: str
    points: tuple[StoredPoint, ...]


def import_record(device_id: str, points: list[tuple[str, int, Value]]) -> ImportRecord:
    return ImportRecord(device_id, tuple(StoredPoint(device_id, *point) for point in points))
