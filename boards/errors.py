"""The boards error tree (drawn in full in :mod:`boards`).

Every leaf also inherits the builtin a caller would naturally catch, the way
gpiozero's ``PinInvalidPull(PinError, ValueError)`` does, so code that knows
nothing of sensorkit still handles these sensibly.
"""

from __future__ import annotations

__all__ = ["BoardError", "BoardNotDetected", "PinError", "ProfileError", "UnknownBoard"]


class BoardError(Exception):
    """Root of every error raised by :mod:`boards`."""


class UnknownBoard(BoardError, LookupError):  # noqa: N818 - name set by the project API
    """A board name that no profile carries; the message lists the known names."""


class BoardNotDetected(BoardError):  # noqa: N818 - name set by the project API
    """This machine's model string matches no profile (or there is none)."""


class PinError(BoardError, ValueError):
    """A pin that cannot be used: malformed, absent, power/ground, reserved or taken."""


class ProfileError(BoardError, ValueError):
    """A broken board profile (file or overrides); the message names file and key."""
