"""DigitalInput on gpiozero's MockFactory."""
from __future__ import annotations

from typing import Any

import pytest

from drivers import DriverConfigError, DriverError
from drivers.gpio_input import QUANTITIES, DigitalInput


def test_digital_input_quantities() -> None:
    assert QUANTITIES == ("state",)


def test_digital_input_follows_pin(mock_factory: Any) -> None:
    with DigitalInput(17, pin_factory=mock_factory) as sensor:
        assert sensor.read() == {"state": 0}
        mock_factory.pin(17).drive_high()
        assert sensor.read() == {"state": 1}
        mock_factory.pin(17).drive_low()
        assert sensor.read() == {"state": 0}


def test_digital_input_pull_up_is_active_low(mock_factory: Any) -> None:
    with DigitalInput(27, pin_factory=mock_factory, pull_up=True) as button:
        assert button.read() == {"state": 0}  # idle: pulled high, not pressed
        mock_factory.pin(27).drive_low()
        assert button.read() == {"state": 1}


def test_digital_input_floating_with_active_state(mock_factory: Any) -> None:
    with DigitalInput(
        22, pin_factory=mock_factory, pull_up=None, active_state=False
    ) as reed:
        mock_factory.pin(22).drive_low()
        assert reed.read() == {"state": 1}
        mock_factory.pin(22).drive_high()
        assert reed.read() == {"state": 0}


def test_digital_input_floating_without_active_state_is_config_error(mock_factory: Any) -> None:
    with pytest.raises(DriverConfigError, match="GPIO23"):
        DigitalInput(23, pin_factory=mock_factory, pull_up=None)
    # The failed constructor released the pin.
    with DigitalInput(23, pin_factory=mock_factory):
        pass


@pytest.mark.parametrize("pin", [99, -1])
def test_digital_input_invalid_pin_is_config_error(mock_factory: Any, pin: int) -> None:
    with pytest.raises(DriverConfigError, match=f"GPIO{pin}.*BCM") as excinfo:
        DigitalInput(pin, pin_factory=mock_factory)
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize("pin", ["17", 17.0, True])
def test_digital_input_non_int_pin_is_config_error(mock_factory: Any, pin: object) -> None:
    with pytest.raises(DriverConfigError):
        DigitalInput(pin, pin_factory=mock_factory)  # type: ignore[arg-type]


def test_digital_input_pin_in_use_is_config_error(mock_factory: Any) -> None:
    with DigitalInput(5, pin_factory=mock_factory):
        with pytest.raises(DriverConfigError, match="GPIO5.*already in use"):
            DigitalInput(5, pin_factory=mock_factory)


def test_digital_input_fixed_pull_is_config_error(mock_factory: Any) -> None:
    # GPIO2 (SDA) has a fixed pull-up on a Pi; asking for a pull-down is impossible.
    with pytest.raises(DriverConfigError, match="GPIO2"):
        DigitalInput(2, pin_factory=mock_factory, pull_up=False)


def test_digital_input_close_releases_pin(mock_factory: Any) -> None:
    first = DigitalInput(6, pin_factory=mock_factory)
    first.close()
    first.close()  # idempotent
    assert first.closed
    with pytest.raises(DriverError, match="GPIO6"):
        first.read()
    with DigitalInput(6, pin_factory=mock_factory) as second:
        assert second.read() == {"state": 0}


def test_digital_input_bounce_time_passed_to_pin(mock_factory: Any) -> None:
    with DigitalInput(13, pin_factory=mock_factory, bounce_time=0.05):
        assert mock_factory.pin(13).bounce == 0.05
