"""Finding config files, reading them, and the key-line scan that points problems at their line."""
from __future__ import annotations

import dataclasses
import os
import re
import stat
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
    config = parse_config(text, str(path), environ, base_dir=path.absolute().parent)
    secret = _secret_in_file(config)
    if secret is not None:
        try:
            mode = path.stat().st_mode
        except OSError:
            mode = 0
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            who = "its group and other users" if mode & stat.S_IROTH else "its group"
            config = dataclasses.replace(config, warnings=(*config.warnings, (
                f"{path} holds a secret ({secret}) and can be read by {who} — run `chmod 600 {path}` "
                "(or `chmod 640` with the service user's group), or move the secret into an environment "
                "variable (token_env)")))
    return config


def _secret_in_file(config: Config) -> str | None:
    """`[uploader.NAME] key` of the first secret written into the file itself, or None."""
    from sensorkit.uploaders.settings import SECRET

    for uploader in config.uploaders:
        for key in uploader.key_lines:
            spec = uploader.spec.key(key)
            if spec is not None and spec.kind == SECRET:
                return f"[uploader.{uploader.name}] {key}"
    return None


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python < 3.11 only
        import tomli as tomllib
    return tomllib.loads(text)


def _decode_error(exc: ValueError, source: str, text: str) -> ConfigError:
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if match:
        message = message[: match.start()].strip()
        where = f"{source}:{match.group(1)}:{match.group(2)}"
    elif "(at end of document)" in message:
        # The parser stops at the end for a duplicate key on the last line or a string never
        # closed; point at the line that causes it.
        message = message.replace("(at end of document)", "").strip()
        where = f"{source}:{_end_error_line(message, text)}"
    else:
        where = source
    if message.startswith("Cannot overwrite a value"):
        message += " (a key given twice in one table?)"
    return ConfigError(
        f"{where}: not valid TOML: {message} — check quoting, '=' between key and value, "
        "and [[sensor]] headers"
    )


def _end_error_line(message: str, text: str) -> int:
    """The line of an error the TOML parser reports only "at end of document"."""
    lines = text.splitlines() or [""]
    if message.startswith("Cannot overwrite"):
        duplicate = key_lines(text, duplicates=True).get(("\x00duplicate",))
        if duplicate:
            return duplicate
    if message.startswith("Unterminated string"):
        for number, line in enumerate(lines, start=1):
            code = line.split("#", 1)[0] if line.count('"') % 2 == 0 else line
            if code.count('"""') % 2 or code.count("'''") % 2 or (
                    code.replace('\\"', "").count('"') % 2 and '"""' not in code):
                return number
    return len(lines)


def parse_config(text: str, source: str = "<config>", environ: Mapping[str, str] | None = None, *,
                 base_dir: Path | None = None) -> Config:
    """Check a config's text; `base_dir` (default: the working directory) is where relative paths start."""
    text = text.removeprefix("\ufeff")  # a byte-order mark, as some Windows editors write
    try:
        data = _toml_loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise _decode_error(exc, source, text) from None
    except RecursionError:
        raise ConfigError(
            f"{source}: arrays or tables nested too deeply to read — a config never needs more "
            "than two or three levels; look for a long run of [ or { brackets") from None
    checker = Checker(source, key_lines(text), os.environ if environ is None else environ, base_dir)
    config = checker.check(data)
    if checker.problems:
        raise config_error(checker.problems)
    return config


_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]")
_KEY = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*=""")


def key_lines(text: str, *, duplicates: bool = False) -> dict[tuple[Any, ...], int]:
    """Line numbers of tables and keys: ("sensor", 0) -> line, ("sensor", 0, "name") -> line.

    A light scan, not a parser: good enough to point at the line of a problem.
    With `duplicates`, the first key given twice in one table is under ("\\x00duplicate",).
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
            if duplicates and (*table, key) in lines:
                lines.setdefault(("\x00duplicate",), number)
            lines.setdefault((*table, key), number)
    return lines
