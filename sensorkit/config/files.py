"""Finding config files, reading them, and the key-line scan that points problems at their line."""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sensorkit.config.checks import Checker
from sensorkit.config.model import CONFIG_NAME, SYSTEM_CONFIG, Config, config_error
from sensorkit.errors import ConfigError


def user_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sensorkit"


def search_paths() -> list[Path]:
    return [Path.cwd() / CONFIG_NAME, user_config_dir() / CONFIG_NAME, SYSTEM_CONFIG]


def find_config() -> Path | None:
    for path in search_paths():
        if path.is_file():
            return path
    return None


def no_config_message() -> str:
    looked = ", ".join(str(p) for p in search_paths())
    return (
        f"no config file given and none found (looked in {looked}). "
        "Write one (README: 'Configuration'), pass it with -c FILE, "
        "or try `sensorkit run --simulate` for the built-in demo"
    )


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and check a config file; `environ` (default os.environ) supplies `token_env` secrets."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file — check the path given with -c") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except PermissionError:
        raise ConfigError(f"{path}: not readable by this user — check its permissions") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason}) — save it as UTF-8") from None
    return parse_config(text, str(path), environ)


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python < 3.11 only
        import tomli as tomllib
    return tomllib.loads(text)


def _decode_error(exc: ValueError, source: str) -> ConfigError:
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if match:
        message = message[: match.start()].strip()
        where = f"{source}:{match.group(1)}:{match.group(2)}"
    else:
        where = source
    return ConfigError(
        f"{where}: not valid TOML: {message} — check quoting, '=' between key and value, "
        "and [[sensor]] headers"
    )


def parse_config(text: str, source: str = "<config>", environ: Mapping[str, str] | None = None) -> Config:
    try:
        data = _toml_loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise _decode_error(exc, source) from None
    checker = Checker(source, key_lines(text), os.environ if environ is None else environ)
    config = checker.check(data)
    if checker.problems:
        raise config_error(checker.problems)
    return config


_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]")
_KEY = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*=""")


def key_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Line numbers of tables and keys: ("sensor", 0) -> line, ("sensor", 0, "name") -> line.

    A light scan, not a parser: good enough to point at the line of a problem.
    """
    lines: dict[tuple[Any, ...], int] = {}
    counts: dict[str, int] = {}
    table: tuple[Any, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        match = _ARRAY_HEADER.match(line)
        if match:
            name = match.group(1)
            counts[name] = counts.get(name, -1) + 1
            table = (name, counts[name])
            lines.setdefault(table, number)
            continue
        match = _TABLE_HEADER.match(line)
        if match:
            parts = match.group(1).split(".")
            if parts[0] in counts:  # [sensor.series] belongs to the last [[sensor]]
                table = (parts[0], counts[parts[0]], *parts[1:])
            else:
                table = tuple(parts)
            lines.setdefault(table, number)
            continue
        match = _KEY.match(line)
        if match:
            key = next(g for g in match.groups() if g is not None)
            lines.setdefault((*table, key), number)
    return lines
