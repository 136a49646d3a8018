"""Fixtures for driver tests: an emulated I2C bus and a gpiozero mock pin factory."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from drivers.emulated import EmulatedSMBus


@pytest.fixture
def emulated_bus() -> Iterator[EmulatedSMBus]:
    bus = EmulatedSMBus(1)
    yield bus
    bus.close()


@pytest.fixture
def mock_factory() -> Iterator[Any]:
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    yield factory
    # Releases every pin a test left reserved, so tests stay independent.
    factory.reset()
    factory.close()
