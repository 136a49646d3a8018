"""What every driver class shares: `close()` and the context manager around it."""
from __future__ import annotations

from typing import TypeVar

_D = TypeVar("_D", bound="Driver")


class Driver:
    """Base of the driver classes: ``with Driver(...) as sensor:`` closes it on the way out.

    `close()` releases what the driver holds. Most hold nothing (the board owns the
    bus); a driver with pins or a library object overrides it. It must be safe to call twice.
    """

    def close(self) -> None:
        """Nothing to release: the board owns the bus."""

    def __enter__(self: _D) -> _D:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = ["Driver"]
