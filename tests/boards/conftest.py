"""Fixtures for board tests: bundled profiles and a scratch profile directory."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import pytest

from boards import BoardProfile, get_profile


@pytest.fixture
def pi4() -> BoardProfile:
    return get_profile("raspberry-pi-4b")


@pytest.fixture
def generic() -> BoardProfile:
    return get_profile("generic-linux")


@pytest.fixture
def pi4_toml() -> str:
    """The bundled Pi 4 profile's text: a valid starting point for broken copies."""
    return (files("boards") / "profiles" / "raspberry-pi-4b.toml").read_text(encoding="utf-8")


@pytest.fixture
def profile_dir(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write ``{file name: text}`` into a fresh directory and return it."""

    def write(texts: dict[str, str]) -> Path:
        for file_name, text in texts.items():
            (tmp_path / file_name).write_text(text, encoding="utf-8")
        return tmp_path

    return write
