"""Which board is this? Read ``/proc/device-tree/model`` and match a profile.

The model string carries a revision suffix that varies by production batch
("Raspberry Pi 4 Model B Rev 1.4"), so profiles list prefixes and the longest
matching prefix wins: "Raspberry Pi 3 Model B Plus Rev 1.3" is the 3B+ even
though "Raspberry Pi 3 Model B" is a prefix of it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from boards.errors import BoardNotDetected
from boards.profile import BoardProfile, load_profiles

__all__ = ["MODEL_PATH", "detect", "match_model", "read_model"]

# The device tree's board name; present on Pis and most ARM boards, absent on x86.
MODEL_PATH = Path("/proc/device-tree/model")
_SUGGESTION = "run with --simulate to use emulated hardware, or pick a board with --board NAME"


def read_model(path: Path = MODEL_PATH) -> str | None:
    """The model string at *path*, or None when missing, unreadable or empty."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    # Device-tree strings are NUL-terminated; the kernel exposes the NUL too.
    model = raw.decode("utf-8", errors="replace").rstrip("\x00").strip()
    return model or None


def _is_prefix(prefix: str, model: str) -> bool:
    # Whole words only, so "Raspberry Pi 4" could never claim "Raspberry Pi 400"
    # and "Compute Module 4" does not claim the different "Compute Module 4S".
    if not model.startswith(prefix):
        return False
    return len(model) == len(prefix) or not model[len(prefix)].isalnum()


def match_model(
    model: str, profiles: Mapping[str, BoardProfile] | None = None
) -> BoardProfile | None:
    """The profile whose model string is the longest prefix of *model*, or None."""
    candidates = (load_profiles() if profiles is None else profiles).values()
    best: BoardProfile | None = None
    best_length = -1
    for profile in candidates:
        for prefix in profile.models:
            if len(prefix) > best_length and _is_prefix(prefix, model):
                best, best_length = profile, len(prefix)
    return best


def detect(path: Path = MODEL_PATH) -> BoardProfile:
    """The profile of this machine; BoardNotDetected says what was read and what to do."""
    model = read_model(path)
    if model is None:
        raise BoardNotDetected(
            f"no {path}: this is not a Raspberry Pi or similar board; {_SUGGESTION} "
            f"(e.g. --board generic-linux)"
        )
    profile = match_model(model)
    if profile is None:
        raise BoardNotDetected(
            f"board model {model!r} (from {path}) matches no known board; {_SUGGESTION} "
            f"(e.g. --board generic-linux with your buses and pins in the config)"
        )
    return profile
