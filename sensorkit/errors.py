"""The application's error tree (drivers have their own: `drivers.DriverError`).

::

    SensorkitError
    ├── ConfigError            (also ValueError) bad config file, option or CLI value
    ├── ValueTooLarge          (also ValueError) a reading's text or bytes exceed MAX_VALUE_BYTES
    └── UploadError
        ├── TransientUploadError   try again later (network, 5xx, 429)
        └── PermanentUploadError   the data itself was refused
    StateError                  a file in the state dir cannot be used
    └── OutboxError             the outbox database cannot be opened or written
        └── OutboxFull          no room for a commit; readings wait in memory
    └── OutboxFull              no room on the disk for a commit (readings wait in memory)
"""
from __future__ import annotations


class SensorkitError(Exception):
    """Root of sensorkit's own errors."""


class ConfigError(SensorkitError, ValueError):
    """A config problem. `problems` holds every message when several were found."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems) if problems else [message]


class ValueTooLarge(SensorkitError, ValueError):
    """A reading's text or bytes are larger than `sensorkit.readings.MAX_VALUE_BYTES` (1 MiB).

    Raised by `Reading()` itself, so by whatever makes the reading: the
    sampler's worker (reported like a failed read of that sensor) or a
    directory watcher (which should report the file and skip it). `size` and
    `limit` are in bytes (UTF-8 for text).
    """

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class UploadError(SensorkitError):
    """An uploader could not deliver a batch."""


class TransientUploadError(UploadError):
    """Delivery failed for a reason that may pass; retry later."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentUploadError(UploadError):
    """The server refused the data itself; retrying the same batch will not help."""


class StateError(SensorkitError):
    """A file in the state dir cannot be used (damaged, foreign, unreadable, read-only)."""


class OutboxError(StateError):
    """The outbox database cannot be opened or written (foreign or damaged file, read-only dir, full disk)."""


class OutboxFull(OutboxError):
    """The disk (or the outbox's `max_file_bytes`) has no room for a commit; readings wait in memory."""
