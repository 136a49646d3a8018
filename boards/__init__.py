"""Board profiles, pin names, board detection and the simulated world.

``boards`` never imports ``sensorkit``. Importing it reads no file: profiles
are parsed on first use and cached.

Error tree (callers branch on types, never on messages)::

    BoardError
     ├── UnknownBoard       (also LookupError)  no profile by that name
     ├── BoardNotDetected                       model string unknown or absent
     ├── PinError           (also ValueError)   bad, absent, power, reserved or taken pin
     └── ProfileError       (also ValueError)   broken profile file or overrides
"""

from __future__ import annotations

from boards.detect import MODEL_PATH, detect, match_model, read_model
from boards.errors import BoardError, BoardNotDetected, PinError, ProfileError, UnknownBoard
from boards.pins import check_pin_free, parse_pin, pin_label
from boards.profile import BoardProfile, I2CBus, get_profile, load_profiles, profile_names
from boards.world import World

__all__ = [
    "MODEL_PATH",
    "BoardError",
    "BoardNotDetected",
    "BoardProfile",
    "I2CBus",
    "PinError",
    "ProfileError",
    "UnknownBoard",
    "World",
    "check_pin_free",
    "detect",
    "get_profile",
    "load_profiles",
    "match_model",
    "parse_pin",
    "pin_label",
    "profile_names",
    "read_model",
]
