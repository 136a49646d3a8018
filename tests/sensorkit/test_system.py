"""Composition: a config becomes a board, twins, drivers and a sampler — on a fake clock."""
from __future__ import annotations

import textwrap

import pytest

import boards
from drivers import ChecksumError, SensorNotFound
from sensorkit.clock import FakeClock
from sensorkit.config import parse_config
from sensorkit.errors import ConfigError
from sensorkit.system import build_system, choose_board, demo_config


def config_of(text: str):
    return parse_config(textwrap.dedent(text), "conf.toml")


def test_system_demo_reads_plausible_values(fake_clock: FakeClock) -> None:
    start_ms = fake_clock.time_ms()
    with build_system(demo_config(), simulate=True, clock=fake_clock) as system:
        assert system.profile.name == "simulated" and system.simulated
        results = system.read_once()
    values = {r.series: r.value for _, rs in results for r in rs}
    assert set(values) == {
        "greenhouse_temperature", "greenhouse_humidity", "outside_temperature", "outside_humidity", "door_state",
    }
    assert all(-10 < values[s] < 45 for s in ("greenhouse_temperature", "outside_temperature"))
    assert all(0 <= values[s] <= 100 for s in ("greenhouse_humidity", "outside_humidity"))
    assert values["door_state"] in (0, 1)
    for _, readings in results:  # one conversion per sensor: one timestamp for its values
        assert len({r.timestamp_ms for r in readings}) == 1
        assert start_ms <= readings[0].timestamp_ms <= fake_clock.time_ms()


def test_system_twin_follows_the_world_through_the_driver(fake_clock: FakeClock) -> None:
    """The value read is the world's value at that time, within the SHT3x's 16-bit resolution."""
    config = config_of('[device]\nboard = "simulated"\n[[sensor]]\nname = "air"\ndriver = "sht3x"\n')
    with build_system(config, simulate=True, seed=7, clock=fake_clock) as system:
        [(_, readings)] = system.read_once()
        world = system.transports.world
        wall_s = readings[0].timestamp_ms / 1000
        expected_t = world.temperature_c("air", wall_s)
    temperature = next(r.value for r in readings if r.quantity == "temperature")
    assert temperature == pytest.approx(expected_t, abs=0.01)


def test_system_sampler_runs_every_sensor_on_a_fake_clock(fake_clock: FakeClock) -> None:
    collected = []
    with build_system(demo_config(), simulate=True, clock=fake_clock) as system:
        sampler = system.sampler(collected.extend, threaded=False)
        sampler.start()
        for _ in range(40):  # 10 s in 250 ms steps
            sampler.poll()
            fake_clock.advance(0.25)
    counts = {}
    for reading in collected:
        counts[reading.series] = counts.get(reading.series, 0) + 1
    assert counts["door_state"] == 10  # every 1 s
    assert counts["greenhouse_temperature"] == 5  # every 2 s
    assert counts["outside_temperature"] == 2  # every 5 s, phased 1 s after greenhouse on bus 1


def test_system_staggers_sensors_sharing_a_bus(fake_clock: FakeClock) -> None:
    with build_system(demo_config(), simulate=True, clock=fake_clock) as system:
        phases = {h.name: h.sampled.phase_s for h in system.sensors}
        locks = {h.name: h.sampled.lock for h in system.sensors}
    assert phases == {"greenhouse": 0.0, "outside": 1.0, "door": 0.5}  # the door between them
    assert locks["greenhouse"] is locks["outside"] and locks["door"] is None


@pytest.mark.parametrize(
    ("fault", "error"), [("absent", SensorNotFound), ("crc", ChecksumError), ("stuck-bus", Exception)]
)
def test_system_simulated_faults_reach_the_user_as_driver_errors(fake_clock, fault, error) -> None:
    config = config_of(
        f"""\
        [device]
        board = "simulated"
        [[sensor]]
        name = "bad"
        driver = "sht3x"
        simulate_fault = "{fault}"
        [[sensor]]
        name = "door"
        driver = "gpio_input"
        pin = 17
        """
    )
    with build_system(config, simulate=True, clock=fake_clock) as system:
        results = dict((h.name, r) for h, r in system.read_once())
    assert isinstance(results["bad"], error)
    if fault == "stuck-bus":
        assert "Connection timed out" in str(results["bad"])
    assert isinstance(results["door"], list)  # the other sensor still answered


def test_system_simulate_applies_the_chosen_boards_rules(fake_clock: FakeClock) -> None:
    config = config_of(
        '[device]\nboard = "raspberry-pi-zero-w"\n[[sensor]]\nname = "x"\ndriver = "gpio_input"\npin = 14\n'
    )
    with pytest.raises(ConfigError, match="GPIO14"):
        build_system(config, simulate=True, clock=fake_clock)


def test_system_simulate_with_auto_board_falls_back_to_simulated(fake_clock: FakeClock) -> None:
    config = config_of('[[sensor]]\nname = "air"\ndriver = "sht3x"\n')
    assert choose_board(config, simulate=True).name in {"simulated", *boards.profile_names()}
    with build_system(config, simulate=True, clock=fake_clock) as system:
        assert system.simulated


def test_system_unknown_board_is_a_board_error() -> None:
    with pytest.raises(boards.UnknownBoard, match="raspberry-pi-4b"):
        choose_board(demo_config(), "raspberry-pi-4")
