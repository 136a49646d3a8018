"""Shared fixtures. Hardware tests run only with --hardware on a real board."""
from __future__ import annotations

import pytest

from sensorkit.clock import FakeClock


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--hardware",
        action="store_true",
        default=False,
        help="also run tests/hardware against the real buses and pins of this board",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--hardware"):
        return
    skip = pytest.mark.skip(reason="needs a real board: run with --hardware")
    for item in items:
        in_hardware_dir = "/tests/hardware/" in str(item.path).replace("\\", "/")
        if in_hardware_dir or "hardware" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()
