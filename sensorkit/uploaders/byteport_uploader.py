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
"""
from __future__ import annotations

import base64
import logging
import os
from collections.abc import Sequence
from typing import Any

from sensorkit.errors import PermanentUploadError, TransientUploadError
from sensorkit.readings import Reading
from sensorkit.uploaders.byteport import (
    ByteportDeviceNotFound,
    ByteportForbidden,
    ByteportHttpGetClient,
    ByteportHttpPostClient,
    ByteportInvalidUid,
    ByteportRefused,
)
from sensorkit.uploaders.settings import UploaderConfig

log = logging.getLogger(__name__)


def field_value(reading: Reading) -> Any:
    """What a reading's value is at Byteport: numbers and text as they are, 1/0 for booleans, bytes as base64."""
    value = reading.value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")  # an object field (declared in the device type)
    return value


def instants(batch: Sequence[Reading]) -> list[tuple[int, dict[str, Any]]]:
    """The batch as (timestamp_ms, {series: value}), one per distinct timestamp, oldest first.

    Two readings of one series at one ms cannot both be stored (one store
    holds a field once, and they would name the same point): the later wins.
    """
    by_time: dict[int, dict[str, Any]] = {}
    for reading in batch:
        by_time.setdefault(reading.timestamp_ms, {})[reading.series] = field_value(reading)
    return sorted(by_time.items())


class ByteportUploader:
    name = "byteport"

    def __init__(self, config: UploaderConfig, state_dir: str | os.PathLike[str] | None, *,
                 session: Any = None, clock: Any = None) -> None:
        client_class = ByteportHttpGetClient if config["method"] == "get" else ByteportHttpPostClient
        self.client = client_class(
            config["namespace"], config["key"], config["device_uid"], base_url=config["base_url"],
            check_credentials=False,  # no request while building: a run starts with the server away too
            session=session, clock=clock,
            warn=False,  # UploaderConfig.warnings() says it, where the config loader shows it
        )
        self.batch_size: int = config["batch_size"]

    @property
    def base_url(self) -> str:
        return self.client.base_url

    def send(self, batch: Sequence[Reading]) -> None:
        for ms, fields in instants(batch):
            try:
                self.client.store(fields, timestamp_ms=ms)
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
