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


# --------------------------------------------------------------------------- pull, active_state


def test_digital_input_pull_up_by_name(mock_factory: Any) -> None:
    with DigitalInput(27, pin_factory=mock_factory, pull="up") as button:
        assert (button.pull, button.active_state) == ("up", "low")
        assert button.read() == {"state": 0}
        mock_factory.pin(27).drive_low()
        assert button.read() == {"state": 1}


def test_digital_input_default_is_pull_down_active_high(mock_factory: Any) -> None:
    with DigitalInput(17, pin_factory=mock_factory) as sensor:
        assert (sensor.pull, sensor.active_state) == ("down", "high")
        assert mock_factory.pin(17).pull == "down"


def test_digital_input_pull_none_with_active_state_name(mock_factory: Any) -> None:
    with DigitalInput(22, pin_factory=mock_factory, pull="none", active_state="low") as reed:
        assert mock_factory.pin(22).pull == "floating"
        mock_factory.pin(22).drive_low()
        assert reed.read() == {"state": 1}


def test_digital_input_pull_none_needs_active_state(mock_factory: Any) -> None:
    with pytest.raises(DriverConfigError, match='GPIO22.*active_state = "high" or "low"'):
        DigitalInput(22, pin_factory=mock_factory, pull="none")


def test_digital_input_pull_and_pull_up_must_agree(mock_factory: Any) -> None:
    with DigitalInput(27, pin_factory=mock_factory, pull="up", pull_up=True) as agreed:
        assert agreed.pull == "up"
    with pytest.raises(DriverConfigError, match="disagree"):
        DigitalInput(27, pin_factory=mock_factory, pull="up", pull_up=False)
    with pytest.raises(DriverConfigError, match="disagree"):
        DigitalInput(27, pin_factory=mock_factory, pull="down", pull_up=None)


def test_digital_input_active_state_must_match_the_pull(mock_factory: Any) -> None:
    with DigitalInput(27, pin_factory=mock_factory, pull="up", active_state="low") as consistent:
        assert consistent.active_state == "low"
    with pytest.raises(DriverConfigError, match='active when low.*pull = "down"'):
        DigitalInput(27, pin_factory=mock_factory, pull="up", active_state="high")


@pytest.mark.parametrize("bad", [{"pull": "sideways"}, {"active_state": "on"}, {"pull_up": 1}, {"bounce_time": -1}])
def test_digital_input_bad_options_are_config_errors(mock_factory: Any, bad: dict[str, Any]) -> None:
    with pytest.raises(DriverConfigError, match="GPIO12"):
        DigitalInput(12, pin_factory=mock_factory, **bad)
    with DigitalInput(12, pin_factory=mock_factory):  # nothing was left reserved
        pass


# --------------------------------------------------------------------------- edges


def test_digital_input_on_change_hears_every_edge(mock_factory: Any) -> None:
    changes: list[int] = []
    with DigitalInput(17, pin_factory=mock_factory, on_change=changes.append):
        pin = mock_factory.pin(17)
        pin.drive_high()
        pin.drive_high()  # no edge
        pin.drive_low()
        pin.drive_high()
    assert changes == [1, 0, 1]


def test_digital_input_on_change_reports_the_active_state(mock_factory: Any) -> None:
    changes: list[int] = []
    with DigitalInput(27, pin_factory=mock_factory, pull="up", on_change=changes.append):
        mock_factory.pin(27).drive_low()  # pressed
        mock_factory.pin(27).drive_high()
    assert changes == [1, 0]


def test_mock_factory_does_not_debounce() -> None:
    """Why the driver debounces itself: gpiozero's MockPin (like its native factory) ignores bounce."""
    from gpiozero import DigitalInputDevice
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    device = DigitalInputDevice(17, bounce_time=1.0, pin_factory=factory)
    seen: list[int] = []
    device.when_activated = lambda: seen.append(1)
    for _ in range(5):
        factory.pin(17).drive_high()
        factory.pin(17).drive_low()
    device.close()
    factory.close()
    assert len(seen) == 5


def test_digital_input_debounces_edges(mock_factory: Any, fake_clock: Any) -> None:
    changes: list[int] = []
    with DigitalInput(
        17, pin_factory=mock_factory, bounce_time=0.005, on_change=changes.append, monotonic=fake_clock.monotonic
    ) as contact:
        pin = mock_factory.pin(17)
        pin.drive_high()  # the closing contact bounces: high, low, high within a millisecond
        fake_clock.advance(0.0005)
        pin.drive_low()
        fake_clock.advance(0.0005)
        pin.drive_high()
        assert changes == [1]
        assert contact.bounces == 1
        fake_clock.advance(0.01)
        pin.drive_low()
        assert changes == [1, 0]
        assert contact.read() == {"state": 0}


def test_digital_input_read_gives_the_level_even_after_a_bounce(mock_factory: Any, fake_clock: Any) -> None:
    changes: list[int] = []
    with DigitalInput(
        17, pin_factory=mock_factory, bounce_time=0.05, on_change=changes.append, monotonic=fake_clock.monotonic
    ) as contact:
        mock_factory.pin(17).drive_high()
        mock_factory.pin(17).drive_low()  # a 0-length glitch: ignored as a bounce
        assert changes == [1]
        assert contact.read() == {"state": 0}  # the interval reading tells the truth


def test_digital_input_failing_listener_does_not_stop_edges(mock_factory: Any, caplog: Any) -> None:
    seen: list[int] = []

    def listener(state: int) -> None:
        seen.append(state)
        raise RuntimeError("sink is full")

    with DigitalInput(17, pin_factory=mock_factory, on_change=listener):
        mock_factory.pin(17).drive_high()
        mock_factory.pin(17).drive_low()
    assert seen == [1, 0]
    assert "GPIO17" in caplog.text


def test_digital_input_close_stops_on_change(mock_factory: Any) -> None:
    changes: list[int] = []
    sensor = DigitalInput(17, pin_factory=mock_factory, on_change=changes.append)
    sensor.close()
    with DigitalInput(17, pin_factory=mock_factory):
        mock_factory.pin(17).drive_high()
    assert changes == []
