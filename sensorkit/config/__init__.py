"""Config files: where they are found, what they may hold, and every problem in them.

`load_config()` parses and checks everything that needs no board; `resolve()`
then checks buses, addresses and pins against a board profile. Both collect
every problem they find and raise one `ConfigError` listing them, each as
``FILE:LINE: where: what is wrong — how to fix it``.

Modules: `model` (the dataclasses), `files` (finding, reading, the key-line
scan), `checks` and `sensors` (the checks per section; driver options come
from `sensorkit.catalog`, uploader keys from each uploader's settings) and
`resolve` (against a board).
"""
from __future__ import annotations

from sensorkit.config.files import (
    find_config,
    load_config,
    no_config_message,
    parse_config,
    search_paths,
    user_config_dir,
)
from sensorkit.config.model import (
    CONFIG_NAME,
    NAME_RE,
    NAME_RULE,
    SYSTEM_CONFIG,
    Config,
    DeviceConfig,
    ResolvedSensor,
    SensorConfig,
)
from sensorkit.config.resolve import apply_device_overrides, resolve
from sensorkit.config.text import parse_address

__all__ = [
    "CONFIG_NAME",
    "NAME_RE",
    "NAME_RULE",
    "SYSTEM_CONFIG",
    "Config",
    "DeviceConfig",
    "ResolvedSensor",
    "SensorConfig",
    "apply_device_overrides",
    "find_config",
    "load_config",
    "no_config_message",
    "parse_address",
    "parse_config",
    "resolve",
    "search_paths",
    "user_config_dir",
]
