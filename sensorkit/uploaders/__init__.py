"""Uploaders deliver batches of Readings to a cloud; delivery owns retries.

The contract (DESIGN.md): `send(batch)` returns when every reading was taken,
raises `TransientUploadError` when the same batch may succeed later and
`PermanentUploadError` when the data itself was refused. An uploader never
sleeps or loops.
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any, Protocol

from sensorkit.readings import Reading
from sensorkit.uploaders.settings import UploaderConfig


class Uploader(Protocol):
    name: str
    batch_size: int

    def send(self, batch: Sequence[Reading]) -> None: ...


def build_uploader(config: UploaderConfig, state_dir: str | os.PathLike[str] | None, **kwargs: Any) -> Uploader:
    """The uploader a checked `[uploader.NAME]` table describes (its module imported only now)."""
    module_name, _, class_name = config.spec.target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(config, state_dir, **kwargs)
