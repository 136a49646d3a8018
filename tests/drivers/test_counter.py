"""Counter on gpiozero's MockFactory: pulses driven with drive_low/drive_high, time on a FakeClock."""
from __future__ import annotations

import threading
from typing import Any

import pytest

from drivers import DriverConfigError, DriverError, NotReady
from drivers.counter import QUANTITIES, Counter
from drivers.gpio_input import DigitalInput
from sensorkit.clock import FakeClock


def pulses(pin: Any, n: int, *, idle_high: bool = True) -> None:
    """n clean pulses away from the idle level and back (a reed switch closing and opening)."""
    for _ in range(n):
        if idle_high:
            pin.drive_low()
            pin.drive_high()
        else:
            pin.drive_high()
            pin.drive_low()


@pytest.fixture
def counter(mock_factory: Any, fake_clock: FakeClock) -> Any:
    with Counter(5, pin_factory=mock_factory, monotonic=fake_clock.monotonic) as c:
        yield c


def test_counter_quantities() -> None:
    assert QUANTITIES == ("count", "rate", "amount", "amount_rate")


def test_counter_counts_pulses_and_their_rate(counter: Counter, mock_factory: Any, fake_clock: FakeClock) -> None:
    pulses(mock_factory.pin(5), 7)
    fake_clock.advance(10)
    assert counter.read() == {"count": 7, "rate": 0.7}
    fake_clock.advance(5)
    assert counter.read() == {"count": 0, "rate": 0.0}
    assert counter.units == {"count": "", "rate": "1/s"}


def test_counter_counts_only_the_configured_edge(mock_factory: Any, fake_clock: FakeClock) -> None:
    pin = mock_factory.pin(6)
    with Counter(6, pin_factory=mock_factory, pull="up", edge="rising", monotonic=fake_clock.monotonic) as rising:
        pin.drive_low()  # falling: not counted
        fake_clock.advance(1)
        assert rising.read()["count"] == 0
        pin.drive_high()
        fake_clock.advance(1)
        assert rising.read()["count"] == 1


@pytest.mark.parametrize("pull", ["down", "none"])
def test_counter_falling_edges_with_an_idle_low_input(mock_factory: Any, fake_clock: FakeClock, pull: str) -> None:
    with Counter(7, pin_factory=mock_factory, pull=pull, monotonic=fake_clock.monotonic) as c:
        pulses(mock_factory.pin(7), 3, idle_high=False)  # each pulse ends with a falling edge
        fake_clock.advance(1)
        assert c.read()["count"] == 3


def test_counter_rain_gauge_per_pulse(mock_factory: Any, fake_clock: FakeClock) -> None:
    # 0.2794 mm per tip: 3 tips in 10 minutes = 0.8382 mm, 5.0292 mm/h.
    with Counter(5, pin_factory=mock_factory, scale=0.2794, unit="mm", monotonic=fake_clock.monotonic) as gauge:
        pulses(mock_factory.pin(5), 3)
        fake_clock.advance(600)
        assert gauge.read() == {"count": 3, "rate": 0.005, "amount": 0.8382, "amount_rate": 5.0292}
        assert gauge.units == {"count": "", "rate": "1/s", "amount": "mm", "amount_rate": "mm/h"}


def test_counter_anemometer_per_hz(mock_factory: Any, fake_clock: FakeClock) -> None:
    # 2.4 km/h per Hz: 30 closures in 10 s = 3 Hz = 7.2 km/h.
    with Counter(5, pin_factory=mock_factory, scale=2.4, per="hz", unit="km/h", monotonic=fake_clock.monotonic) as wind:
        pulses(mock_factory.pin(5), 30)
        fake_clock.advance(10)
        assert wind.read() == {"count": 30, "rate": 3.0, "amount_rate": 7.2}
        assert wind.units["amount_rate"] == "km/h"
        assert "amount" not in wind.units


def test_counter_flow_meter_k_factor(mock_factory: Any, fake_clock: FakeClock) -> None:
    # YF-S201 style: F = 7.5 Hz per L/min. 75 pulses in 10 s = 7.5 Hz = 1 L/min.
    with Counter(5, pin_factory=mock_factory, k_factor=7.5, per="hz", unit="L/min",
                 monotonic=fake_clock.monotonic) as flow:
        pulses(mock_factory.pin(5), 75)
        fake_clock.advance(10)
        assert flow.read() == {"count": 75, "rate": 7.5, "amount_rate": 1.0}


def test_counter_volume_per_pulse_from_k_factor(mock_factory: Any, fake_clock: FakeClock) -> None:
    # The same meter as 450 pulses per litre: 900 pulses = 2 L.
    with Counter(5, pin_factory=mock_factory, k_factor=450, unit="L", monotonic=fake_clock.monotonic) as volume:
        pulses(mock_factory.pin(5), 900)
        fake_clock.advance(60)
        assert volume.read() == {"count": 900, "rate": 15.0, "amount": 2.0, "amount_rate": 120.0}


def test_counter_debounces(mock_factory: Any, fake_clock: FakeClock) -> None:
    with Counter(5, pin_factory=mock_factory, bounce_time=0.005, monotonic=fake_clock.monotonic) as c:
        pin = mock_factory.pin(5)
        for _ in range(3):  # one tip whose contact chatters three times within 1 ms
            pulses(pin, 1)
            fake_clock.advance(0.0003)
        fake_clock.advance(0.01)
        pulses(pin, 1)  # the next tip
        fake_clock.advance(1)
        assert c.read()["count"] == 2
        assert c.bounces == 2


def test_counter_read_at_the_same_instant_takes_nothing(counter: Counter, mock_factory: Any,
                                                         fake_clock: FakeClock) -> None:
    fake_clock.advance(1)
    counter.read()
    pulses(mock_factory.pin(5), 4)
    with pytest.raises(NotReady):
        counter.read()  # no time passed: no rate, and the pulses stay
    fake_clock.advance(2)
    assert counter.read() == {"count": 4, "rate": 2.0}


def test_counter_loses_no_pulse_to_concurrent_reads(counter: Counter, mock_factory: Any,
                                                     fake_clock: FakeClock) -> None:
    total = 10_000
    pin = mock_factory.pin(5)
    done = threading.Event()

    def generate() -> None:
        pulses(pin, total)
        done.set()

    worker = threading.Thread(target=generate)
    worker.start()
    counted, reads = 0, 0
    while not done.is_set() or reads < 3:
        fake_clock.advance(0.5)
        counted += counter.read()["count"]
        reads += 1
    worker.join(30)
    fake_clock.advance(0.5)
    counted += counter.read()["count"]
    assert reads >= 3
    assert counted == total == counter.total


def test_counter_close_releases_the_pin(mock_factory: Any, fake_clock: FakeClock) -> None:
    c = Counter(5, pin_factory=mock_factory, monotonic=fake_clock.monotonic)
    with pytest.raises(DriverConfigError, match="already in use"):
        DigitalInput(5, pin_factory=mock_factory)
    c.close()
    c.close()
    assert c.closed
    with pytest.raises(DriverError, match="closed"):
        c.read()
    with DigitalInput(5, pin_factory=mock_factory):
        pass


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scale": 0.2794, "k_factor": 3.0, "unit": "mm"}, "not both"),
        ({"scale": 0.2794}, "needs its unit"),
        ({"unit": "mm"}, "needs scale or k_factor"),
        ({"scale": 0, "unit": "mm"}, "above 0"),
        ({"edge": "both"}, "edge"),
        ({"per": "minute"}, "per"),
        ({"pull": "sideways"}, "pull"),
        ({"bounce_time": -0.1}, "bounce_time"),
    ],
)
def test_counter_bad_options_are_config_errors(mock_factory: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(DriverConfigError, match=message):
        Counter(5, pin_factory=mock_factory, **options)
    with Counter(5, pin_factory=mock_factory):  # nothing was left reserved
        pass
