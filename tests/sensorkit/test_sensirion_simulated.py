"""The Sensirion drivers (sht3x, sht4x, shtc3) through the whole simulated path: config, catalog, twins."""
from __future__ import annotations

import textwrap

import pytest

from drivers import BusError, ChecksumError, SensorNotFound, WrongChip
from sensorkit.catalog import DRIVERS, load
from sensorkit.clock import FakeClock
from sensorkit.config import parse_config
from sensorkit.system import build_system

SENSIRION = ("sht3x", "sht4x", "shtc3")
EXPECTED = {
    "absent": SensorNotFound,
    "crc": ChecksumError,
    "stuck-bus": BusError,
    "all-ff": ChecksumError,
    "stops-answering": SensorNotFound,
    "wrong-chip": WrongChip,
}


def config_of(driver: str, extra: str = "") -> object:
    text = f"""\
        [device]
        board = "simulated"
        [[sensor]]
        name = "air"
        driver = "{driver}"
        {extra}
        """
    return parse_config(textwrap.dedent(text), "conf.toml")


@pytest.mark.parametrize("driver", SENSIRION)
def test_sensirion_catalog_entries_point_at_real_things(driver: str) -> None:
    spec = DRIVERS[driver]
    assert spec.simulated_faults == tuple(EXPECTED)
    for target in (spec.target, spec.twin, spec.sibling, spec.timing):
        assert load(target) is not None
    assert spec.world == ("temperature", "humidity")
    defaults = {o.name: o.default for o in spec.options}
    assert spec.min_interval(defaults) == spec.min_interval_s  # defaults never slow a sensor down


@pytest.mark.parametrize("driver", SENSIRION)
@pytest.mark.parametrize("fault", list(EXPECTED))
def test_sensirion_simulated_fault_is_the_right_driver_error(fake_clock: FakeClock, driver: str, fault: str) -> None:
    config = config_of(driver, f'simulate_fault = "{fault}"')
    with build_system(config, simulate=True, clock=fake_clock) as system:
        [(_, first)] = system.read_once()
        [(_, second)] = system.read_once()
    assert isinstance(first, EXPECTED[fault]), first
    assert isinstance(second, EXPECTED[fault]), second  # and it stays so while the fault lasts
    if fault == "wrong-chip":
        assert first.found == {"sht3x": "SHT4x", "sht4x": "SHT3x", "shtc3": "SHTC1"}[driver]


@pytest.mark.parametrize("driver", SENSIRION)
@pytest.mark.parametrize("fault", ["absent", "crc", "all-ff", "stops-answering"])
def test_sensirion_simulated_chip_fault_clears_and_the_sensor_recovers(
    fake_clock: FakeClock, driver: str, fault: str
) -> None:
    config = config_of(driver, f'simulate_fault = "{fault}"')
    with build_system(config, simulate=True, clock=fake_clock) as system:
        [(_, failed)] = system.read_once()
        assert isinstance(failed, Exception)
        address = DRIVERS[driver].addresses[0]
        system.transports.i2c(1).chip_at(address).fault = None
        fake_clock.advance(10.0)
        [(_, readings)] = system.read_once()
    assert {r.quantity for r in readings} == {"temperature", "humidity"}


@pytest.mark.parametrize(
    ("driver", "extra", "interval_s"),
    [
        ("sht3x", 'mode = "periodic"\nmps = 0.5', 2.0),
        ("sht3x", 'mode = "art"', 0.25),
        ("sht4x", 'heater = "high-1s"', 11.0),
        ("sht4x", 'heater = "medium-0.1s"\nprecision = "low"', 1.1),
        ("shtc3", 'power_mode = "low"', 0.05),
    ],
)
def test_sensirion_options_reach_the_driver_and_set_the_shortest_interval(
    fake_clock: FakeClock, driver: str, extra: str, interval_s: float
) -> None:
    config = config_of(driver, extra + f'\ninterval = "{interval_s}s"')
    with build_system(config, simulate=True, clock=fake_clock) as system:
        for _ in range(3):
            [(_, readings)] = system.read_once()
            assert not isinstance(readings, Exception), readings
            fake_clock.advance(interval_s)
    too_fast = textwrap.dedent(f"""\
        [[sensor]]
        name = "air"
        driver = "{driver}"
        {extra.replace(chr(10), chr(10) + "        ")}
        interval = "{interval_s * 0.9}s"
        """)
    from sensorkit.errors import ConfigError

    if interval_s > DRIVERS[driver].min_interval_s:
        with pytest.raises(ConfigError, match="faster than a .* can measure with these options"):
            parse_config(too_fast, "conf.toml")
