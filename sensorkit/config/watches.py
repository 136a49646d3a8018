"""Checking `[[watch]]` tables: a directory whose added and changed files go to Byteport.

Each table takes `path` (a directory; a relative one is taken from the config
file's directory), `name`, `device_uid`, `interval`, `compression`,
`media_type`, `pattern` and `enabled`. Watched files go only to Byteport,
so a `[[watch]]` needs an `[uploader.byteport]` table: its `device_uid` is
the default one, and without it a watch would have nowhere to send to.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sensorkit.config.model import NAME_RE, NAME_RULE, WatchConfig
from sensorkit.config.sensors import interval_of
from sensorkit.config.text import short, suggest, type_name
from sensorkit.durations import format_duration
from sensorkit.readings import MEDIA_TYPE
from sensorkit.uploaders.settings import UploaderConfig, byteport_name_problem

WATCH_KEYS = ("name", "path", "device_uid", "interval", "compression", "media_type", "pattern", "enabled")
COMPRESSIONS = {"none": None, "gzip": "gzip", "bzip2": "bzip2"}  # as written -> as the Byteport client names it
DEFAULT_WATCH_INTERVAL_S = 5.0  # the seed's poll_interval
MIN_WATCH_INTERVAL_S = 0.1  # a directory looked at more often than ten times a second only costs CPU


class WatchChecks:
    """The `[[watch]]` half of the config checker (mixed into `Checker`)."""

    source: str
    lines: dict[tuple[Any, ...], int]
    problems: list[str]
    base_dir: Path

    def problem(self, path: tuple[Any, ...], where: str, message: str) -> None:
        raise NotImplementedError

    def check_watches(self, raw: Any, byteport: UploaderConfig | None, byteport_given: bool,
                      sensor_names: set[str]) -> list[WatchConfig]:
        """The checked watches; `byteport` is the checked [uploader.byteport] (None: missing or wrong)."""
        if isinstance(raw, dict):
            self.problem(("watch",), "[watch]", "each watched directory is a table in an array: write [[watch]] "
                         "(double brackets) above each one")
            return []
        if not isinstance(raw, list):
            self.problem(("watch",), "watch", "must be [[watch]] tables")
            return []
        watches: list[WatchConfig] = []
        taken = dict.fromkeys(sensor_names, "a sensor")
        for index, table in enumerate(raw):
            watch = self.check_watch(index, table, byteport, byteport_given)
            if watch is None:
                continue
            if watch.name in taken:
                self.problem(("watch", index, "name"), f"[[watch]] '{watch.name}'",
                             f"{taken[watch.name]} is already called '{watch.name}' — give this one another name "
                             f'with name = "..."')
                continue
            taken[watch.name] = "another [[watch]]"
            watches.append(watch)
        return watches

    def check_watch(self, index: int, raw: Any, byteport: UploaderConfig | None,
                    byteport_given: bool) -> WatchConfig | None:
        path_key = ("watch", index)
        if not isinstance(raw, dict):
            self.problem(path_key, f"[[watch]] #{index + 1}", "must be a table")
            return None
        problems_before = len(self.problems)
        name = raw.get("name")
        label = f"[[watch]] '{name}'" if isinstance(name, str) and name else f"[[watch]] #{index + 1}"

        def bad(key: str, message: str) -> None:
            self.problem((*path_key, key), f"{label} key '{key}'", message)

        for key in raw:
            if key not in WATCH_KEYS:
                bad(key, f"unknown key{suggest(key, WATCH_KEYS)}; a [[watch]] takes: {', '.join(WATCH_KEYS)}")
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            bad("enabled", f"must be true or false, got {type_name(enabled)}")
            enabled = True
        directory = self._watch_path(raw.get("path"), enabled, bad)
        if name is None and directory is not None:
            name = directory.name
            if not NAME_RE.match(name):
                bad("name", f"missing, and the directory's name {short(name)} cannot stand in for it: give one, "
                    f'e.g. name = "files" ({NAME_RULE})')
        elif name is not None and (not isinstance(name, str) or not NAME_RE.match(name)):
            bad("name", f"{type_name(name)} is not a usable name: use {NAME_RULE}")

        device_uid = raw.get("device_uid")
        if device_uid is None:
            device_uid = byteport.get("device_uid") if byteport is not None else None
        elif not isinstance(device_uid, str) or byteport_name_problem(device_uid):
            why = byteport_name_problem(device_uid) if isinstance(device_uid, str) else "must be a string"
            bad("device_uid", f"{type_name(device_uid)} is not a Byteport device uid: it {why}")
        if not byteport_given:
            self.problem(path_key, label, "watched files go to Byteport, and there is no [uploader.byteport] table: "
                         "add one (namespace, key_env, device_uid; README: 'Sending readings to Byteport')")

        interval_s = interval_of(raw, DEFAULT_WATCH_INTERVAL_S, MIN_WATCH_INTERVAL_S, bad,
                                 lambda given: f"{given} is shorter than the shortest, "
                                 f"{format_duration(MIN_WATCH_INTERVAL_S)}: use 100ms or more")

        compression = raw.get("compression", "none")
        if compression not in COMPRESSIONS or not isinstance(compression, str):
            bad("compression", f"{short(compression)} is not a compression{suggest(str(compression), COMPRESSIONS)}; "
                'use "none", "gzip" or "bzip2" (the server unpacks either on download)')
            compression = "none"
        media_type = raw.get("media_type")
        if media_type is not None and (not isinstance(media_type, str) or not MEDIA_TYPE.fullmatch(media_type)):
            bad("media_type", f"{type_name(media_type)} is not a media type: write type/subtype, such as "
                '"image/jpeg" or "application/octet-stream"')
        pattern = raw.get("pattern", "*")
        if not isinstance(pattern, str) or not pattern or "/" in pattern or "\x00" in pattern:
            bad("pattern", f'must be a glob on the file name, such as "*" or "snap*", got {type_name(pattern)} '
                "(no '/': subdirectories are not watched)")

        if len(self.problems) > problems_before or directory is None or not isinstance(device_uid, str):
            return None
        lines = {k[2]: v for k, v in self.lines.items() if len(k) == 3 and k[:2] == path_key}
        return WatchConfig(name=name, path=directory, device_uid=device_uid, interval_s=interval_s,
                           compression=COMPRESSIONS[compression], media_type=media_type, pattern=pattern,
                           enabled=enabled, line=self.lines.get(path_key), key_lines=lines)

    def _watch_path(self, raw: Any, enabled: bool, bad: Any) -> Path | None:
        if raw is None:
            bad("path", 'missing: the directory to watch, e.g. path = "/home/pi/measured_values"')
            return None
        if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
            bad("path", f"must be the path of a directory, got {type_name(raw)}")
            return None
        directory = Path(os.path.normpath(self.base_dir / os.path.expanduser(raw)))
        if not enabled:
            return directory  # a watch kept for later need not exist yet
        relative = "" if os.path.isabs(os.path.expanduser(raw)) else \
            f" (a relative path is taken from the config file's directory, {self.base_dir})"
        if not directory.exists():
            bad("path", f"{directory} does not exist{relative} — create it (mkdir -p {directory}) or fix the path")
        elif not directory.is_dir():
            bad("path", f"{directory} is not a directory{relative}: a [[watch]] watches a directory's files")
        elif not os.access(directory, os.R_OK | os.X_OK):
            bad("path", f"{directory} cannot be listed by this user — fix its permissions (chmod a+rx {directory})")
        else:
            return directory
        return None
