"""Composition: each sensor gets a read timeout, and a driver the sampler can have re-created."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from sensorkit.clock import FakeClock
from sensorkit.system import READ_TIMEOUT_MARGIN_S, build_system, demo_config, read_timeout_s


def sensor_with(conversion_s: float, timeout_s: float | None = None, **options) -> SimpleNamespace:
    spec = SimpleNamespace(conversion_s=lambda given: conversion_s if given == options else None)
    return SimpleNamespace(spec=spec, options=options, timeout_s=timeout_s)


def test_system_read_timeout_is_the_longest_conversion_plus_a_margin() -> None:
    assert read_timeout_s(sensor_with(0.75, resolution=12)) == pytest.approx(0.75 + READ_TIMEOUT_MARGIN_S)


def test_system_read_timeout_from_the_config_wins() -> None:
    assert read_timeout_s(sensor_with(0.75, timeout_s=10.0, resolution=12)) == 10.0


def test_system_gives_every_sensor_its_read_timeout(fake_clock: FakeClock) -> None:
    config = demo_config()
    with build_system(config, simulate=True, clock=fake_clock) as system:
        timeouts = {h.name: h.sampled.timeout_s for h in system.sensors}
    assert timeouts == {s.name: read_timeout_s(s) for s in config.sensors}
    assert all(t is not None and t >= READ_TIMEOUT_MARGIN_S for t in timeouts.values())


def test_system_recreate_closes_the_driver_and_makes_it_again_alike(fake_clock: FakeClock) -> None:
    """The door's GPIO17 can only be claimed again once the old input let go of it."""
    with build_system(demo_config(), simulate=True, clock=fake_clock) as system:
        handles = {h.name: h for h in system.sensors}
        door, air = handles["door"], handles["greenhouse"]
        old_door, old_air = door.driver, air.driver
        door.sampled.recreate()
        air.sampled.recreate()
        assert old_door.closed and not door.driver.closed
        assert door.driver is not old_door and door.driver.pin == old_door.pin == 17
        assert air.driver is not old_air and repr(air.driver) == repr(old_air)
        results = {h.name: r for h, r in system.read_once()}
        assert isinstance(results["door"], list) and isinstance(results["greenhouse"], list)
        assert {r.series for r in results["greenhouse"]} == {"greenhouse_temperature", "greenhouse_humidity"}
    assert door.driver.closed  # the system closes the driver in use
