"""Detection: /proc/device-tree/model strings as real boards write them."""

from __future__ import annotations

from pathlib import Path

import pytest

from boards import BoardError, BoardNotDetected, BoardProfile, detect, match_model, read_model

# Real /proc/device-tree/model strings (with their revision suffixes).
REAL_MODELS = [
    ("Raspberry Pi Zero W Rev 1.1", "raspberry-pi-zero-w"),
    ("Raspberry Pi Zero 2 W Rev 1.0", "raspberry-pi-zero-2-w"),
    ("Raspberry Pi 3 Model B Rev 1.2", "raspberry-pi-3b"),
    ("Raspberry Pi 3 Model B Plus Rev 1.3", "raspberry-pi-3b-plus"),
    ("Raspberry Pi 4 Model B Rev 1.4", "raspberry-pi-4b"),
    ("Raspberry Pi 4 Model B Rev 1.5", "raspberry-pi-4b"),
    ("Raspberry Pi 400 Rev 1.0", "raspberry-pi-400"),
    ("Raspberry Pi 5 Model B Rev 1.0", "raspberry-pi-5"),
    ("Raspberry Pi Compute Module 4 Rev 1.0", "raspberry-pi-cm4"),
]


def write_model(tmp_path: Path, model: str) -> Path:
    """A model file as the kernel exposes it: the device-tree string with its NUL."""
    path = tmp_path / "model"
    path.write_bytes(model.encode() + b"\x00")
    return path


@pytest.mark.parametrize(("model", "name"), REAL_MODELS)
def test_match_model_finds_every_supported_pi(model: str, name: str) -> None:
    profile = match_model(model)
    assert profile is not None
    assert profile.name == name


@pytest.mark.parametrize(
    "model",
    [
        "Raspberry Pi Compute Module 4S Rev 1.0",  # SODIMM CM4S: not the CM4
        "Raspberry Pi Zero Rev 1.3",  # no wireless: not the Zero W
        "Raspberry Pi 2 Model B Rev 1.1",
        "Raspberry Pi 3 Model A Plus Rev 1.0",
        "BeagleBoard.org BeagleBone Black",
        "",
    ],
)
def test_match_model_unknown_board_is_none(model: str) -> None:
    assert match_model(model) is None


def test_match_model_prefers_longest_prefix_and_whole_words(pi4: BoardProfile) -> None:
    short = pi4.with_overrides()
    profiles = {
        "short": _renamed(short, "short", ("Board X",)),
        "long": _renamed(short, "long", ("Board X Plus",)),
    }
    assert match_model("Board X Plus Rev 2", profiles).name == "long"
    assert match_model("Board X Rev 2", profiles).name == "short"
    assert match_model("Board X", profiles).name == "short"
    # "Board X" must not claim "Board XL": prefixes end at a word boundary.
    assert match_model("Board XL Rev 1", profiles) is None


def _renamed(profile: BoardProfile, name: str, models: tuple[str, ...]) -> BoardProfile:
    from dataclasses import replace

    return replace(profile, name=name, models=models)


def test_read_model_strips_trailing_nul_and_whitespace(tmp_path: Path) -> None:
    path = write_model(tmp_path, "Raspberry Pi 4 Model B Rev 1.4\n")
    assert read_model(path) == "Raspberry Pi 4 Model B Rev 1.4"


@pytest.mark.parametrize("content", [None, b"", b"\x00", b" \n\x00"])
def test_read_model_missing_or_empty_is_none(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "model"
    if content is not None:
        path.write_bytes(content)
    assert read_model(path) is None


def test_read_model_unreadable_path_is_none(tmp_path: Path) -> None:
    assert read_model(tmp_path) is None  # a directory: reading raises IsADirectoryError


@pytest.mark.parametrize(("model", "name"), REAL_MODELS)
def test_detect_reads_the_model_file(tmp_path: Path, model: str, name: str) -> None:
    assert detect(write_model(tmp_path, model)).name == name


def test_detect_without_model_file_says_not_a_pi_and_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "proc" / "device-tree" / "model"
    with pytest.raises(BoardNotDetected) as info:
        detect(missing)
    message = str(info.value)
    assert f"no {missing}" in message
    assert "not a Raspberry Pi" in message
    assert "--simulate" in message and "--board NAME" in message
    assert isinstance(info.value, BoardError)


def test_detect_unknown_model_names_it_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(BoardNotDetected) as info:
        detect(write_model(tmp_path, "Raspberry Pi 2 Model B Rev 1.1"))
    message = str(info.value)
    assert "'Raspberry Pi 2 Model B Rev 1.1'" in message
    assert "--simulate" in message and "--board NAME" in message
    assert "generic-linux" in message
