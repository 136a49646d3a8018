"""The Byteport uploader: batches of Readings in, one store per distinct timestamp out.

It follows the Uploader contract (DESIGN.md): `send(batch)` returns when the
server took every reading and raises `TransientUploadError` (no answer, 5xx,
429, a refused key or method, an unregistered or refused device uid, a
wrong URL) or `PermanentUploadError` (the data itself was refused)
otherwise. It never sleeps or retries; delivery does.

One store carries one `_ts` for all its fields, so the readings of one
sampling instant (every series of the sensors read at that ms) go in one
request: requests per sampling instant = 1, the floor.

Byteport's contract has no partial success: when the third store of a batch
fails, delivery sends the whole batch again, the first two stores included.
That is harmless, because a store sent again has the same `_ts` and the
same fields as the first time, and a (device, field, time) names one point:
the server replaces the point with the same value instead of adding one
(the local server does exactly that; see sensorkit.emulators.byteport.api).

Watched files (`[[watch]]`) go to their watch's device: the composition
hands the uploader `routes`, the watch's name (the readings' `sensor`) ->
its device uid and compression, so a batch becomes one store per (device
uid, timestamp). Bytes go as an object: compressed as the route says (the
server finds the compression by its magic and undoes it on download), then
base64. Readings of no route (the sensors) go to `device_uid`.
"""
from __future__ import annotations

import base64
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sensorkit.errors import PermanentUploadError, TransientUploadError
from sensorkit.readings import Reading
from sensorkit.uploaders.byteport import (
    ByteportDeviceNotFound,
    ByteportForbidden,
    ByteportHttpGetClient,
    ByteportHttpPostClient,
    ByteportInvalidUid,
    ByteportRefused,
    pack,
)
from sensorkit.uploaders.settings import UploaderConfig

log = logging.getLogger(__name__)


class FileRoute(NamedTuple):
    """Where a watch's readings go: its device uid, and how its bytes are compressed (None, "gzip", "bzip2")."""

    device_uid: str
    compression: str | None = None


def field_value(reading: Reading, compression: str | None = None) -> Any:
    """What a reading's value is at Byteport: numbers and text as they are, 1/0 for booleans, bytes as base64.

    Bytes are compressed first when `compression` says so (an object field, declared in the device type).
    """
    value = reading.value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        if compression is not None:
            return pack(bytes(value), compression)
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def stores(batch: Sequence[Reading], device_uid: str,
           routes: Mapping[str, FileRoute] | None = None) -> list[tuple[str, int, dict[str, Any]]]:
    """The batch as (device uid, timestamp_ms, {series: value}), one per distinct pair, oldest first.

    A reading goes to its sensor's route (a watch), else to `device_uid`. Two
    readings of one series at one ms of one device cannot both be stored (one
    store holds a field once, and they would name the same point): the later wins.
    """
    routes = routes or {}
    by_store: dict[tuple[int, str], dict[str, Any]] = {}
    for reading in batch:
        route = routes.get(reading.sensor)
        uid, compression = (device_uid, None) if route is None else route
        by_store.setdefault((reading.timestamp_ms, uid), {})[reading.series] = field_value(reading, compression)
    return [(uid, ms, fields) for (ms, uid), fields in sorted(by_store.items())]


def instants(batch: Sequence[Reading]) -> list[tuple[int, dict[str, Any]]]:
    """The batch of one device as (timestamp_ms, {series: value}), one per distinct timestamp, oldest first."""
    return [(ms, fields) for _, ms, fields in stores(batch, "")]


class ByteportUploader:
    name = "byteport"

    def __init__(self, config: UploaderConfig, state_dir: str | os.PathLike[str] | None, *,
                 session: Any = None, clock: Any = None, routes: Mapping[str, FileRoute] | None = None) -> None:
        client_class = ByteportHttpGetClient if config["method"] == "get" else ByteportHttpPostClient
        self.client = client_class(
            config["namespace"], config["key"], config["device_uid"], base_url=config["base_url"],
            check_credentials=False,  # no request while building: a run starts with the server away too
            session=session, clock=clock,
            warn=False,  # UploaderConfig.warnings() says it, where the config loader shows it
        )
        self.batch_size: int = config["batch_size"]
        self.config_uid: str = config["device_uid"]
        self.routes: dict[str, FileRoute] = dict(routes or {})  # watch name -> where its files go

    @property
    def base_url(self) -> str:
        return self.client.base_url

    def send(self, batch: Sequence[Reading]) -> None:
        for uid, ms, fields in stores(batch, self.config_uid, self.routes):
            try:
                self.client.store(fields, uid, timestamp_ms=ms)
            except ByteportForbidden as exc:
                raise TransientUploadError(f"{exc} (key and method in [uploader.byteport])",
                                           retry_after_s=exc.retry_after_s) from None
            except (ByteportDeviceNotFound, ByteportInvalidUid) as exc:
                # The uid or the URL is wrong, not the readings: they wait until the config is fixed.
                raise TransientUploadError(f"{exc} — check device_uid, namespace and base_url in "
                                           "[uploader.byteport]", retry_after_s=exc.retry_after_s) from None
            except ByteportRefused as exc:
                if exc.status is not None and exc.status in (405, 415):  # the server is not Byteport's API
                    raise TransientUploadError(f"{exc} — check base_url in [uploader.byteport]") from None
                raise
            except ValueError as exc:  # a value Byteport cannot carry; config checks make names safe
                raise PermanentUploadError(f"Byteport cannot take this data: {exc}") from None
