"""sensorkit: sensors on a Raspberry Pi, sampled reliably and delivered to the cloud."""
from __future__ import annotations

from sensorkit.errors import (
    ConfigError,
    PermanentUploadError,
    SensorkitError,
    TransientUploadError,
    UploadError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "PermanentUploadError",
    "SensorkitError",
    "TransientUploadError",
    "UploadError",
    "__version__",
]
