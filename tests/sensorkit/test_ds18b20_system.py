"""ds18b20 entries in a running system: the emulated 1-wire bus under --simulate, naming, faults."""
from __future__ import annotations

import logging
import re
import textwrap
from pathlib import Path

import pytest

from drivers import ChecksumError, SensorNotFound
from sensorkit.cli import main
from sensorkit.clock import FakeClock
from sensorkit.config import parse_config
from sensorkit.errors import ConfigError
from sensorkit.system import build_system


def _config(body: str):  # noqa: ANN202 - a Config
    return parse_config('[device]\nboard = "simulated"\n' + textwrap.dedent(body), "conf.toml")


PROBES = """
[[sensor]]
name = "probe"
driver = "ds18b20"
"""


def test_cli_read_simulate_prints_the_two_emulated_sensors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "sensorkit.toml"
    conf.write_text('[device]\nboard = "simulated"\n' + PROBES)
    assert main(["read", "--simulate", "-c", str(conf)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for line in lines:
        name, series, value, unit = line.split()
        assert re.fullmatch(r"probe_[0-9a-f]{6}", name) and series == f"{name}_temperature"
        assert -10 < float(value) < 40 and unit == "°C"
    assert lines[0].split()[0] != lines[1].split()[0]


def test_system_without_serial_reads_every_sensor_in_one_conversion(fake_clock: FakeClock) -> None:
    with build_system(_config(PROBES), simulate=True, clock=fake_clock) as system:
        start = fake_clock.monotonic()
        results = system.read_once()
        assert fake_clock.monotonic() - start == pytest.approx(0.75)  # one bulk conversion for both
        root = system.transports.w1_root()
    assert [type(r) for _, r in results] == [list, list]
    assert {h.driver.serial[-6:] for h, _ in results} == {h.name[-6:] for h, _ in results}
    assert {h.sampled.lock for h, _ in results} == {results[0][0].sampled.lock}  # one 1-wire bus lock
    assert not root.exists()  # the emulated tree is removed on close


def test_system_with_serial_reads_that_sensor(fake_clock: FakeClock) -> None:
    config = _config('[[sensor]]\nname = "tank"\ndriver = "ds18b20"\nserial = "28-00000A1B2C3D"\nresolution = 10\n')
    with build_system(config, simulate=True, clock=fake_clock) as system:
        ((handle, readings),) = system.read_once()
    assert handle.name == "tank" and handle.driver.serial == "28-00000a1b2c3d"
    (reading,) = readings
    assert reading.series == "tank_temperature" and -10 < reading.value < 40


def _serials(fake_clock: FakeClock, body: str = PROBES) -> list[str]:
    with build_system(_config(body), simulate=True, clock=fake_clock) as system:
        return [h.driver.serial for h in system.sensors]


def test_aliases_name_the_sensors_and_bad_names_are_skipped(fake_clock: FakeClock,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    first, second = _serials(fake_clock)
    body = PROBES + f'aliases = {{ "{first}" = "soil", "{second}" = "no good", "28-0000000000ff" = "gone" }}\n'
    with caplog.at_level(logging.WARNING), build_system(_config(body), simulate=True, clock=fake_clock) as system:
        assert [h.name for h in system.sensors] == ["soil"]
        assert dict(system.sensors[0].sampled.series) == {"temperature": ("soil_temperature", "°C")}
    assert f"skipping 1-wire sensor {second}: 'no good' is not a usable name" in caplog.text
    assert "aliases names 28-0000000000ff, but no such 1-wire sensor was found" in caplog.text


def test_a_found_sensor_whose_name_is_taken_is_skipped(fake_clock: FakeClock,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    first, _ = _serials(fake_clock)
    body = '[[sensor]]\nname = "air"\ndriver = "sht3x"\n' + PROBES + f'aliases = {{ "{first}" = "air" }}\n'
    with caplog.at_level(logging.WARNING), build_system(_config(body), simulate=True, clock=fake_clock) as system:
        assert [h.name for h in system.sensors][0] == "air"
        assert len(system.sensors) == 2  # air and the other probe
    assert "the name 'air' is already taken" in caplog.text


def test_an_entry_without_serial_leaves_configured_serials_alone(fake_clock: FakeClock) -> None:
    body = '[[sensor]]\nname = "tank"\ndriver = "ds18b20"\nserial = "28-00000a1b2c3d"\n' + PROBES
    with build_system(_config(body), simulate=True, clock=fake_clock) as system:
        serials = [h.driver.serial for h in system.sensors]
    assert serials[0] == "28-00000a1b2c3d" and len(serials) == 3 and len(set(serials)) == 3


def test_empty_bus_is_reported_when_read(fake_clock: FakeClock) -> None:
    with build_system(_config(PROBES + 'simulate_fault = "absent"\n'), simulate=True, clock=fake_clock) as system:
        ((handle, error),) = system.read_once()
    assert handle.name == "probe"
    assert isinstance(error, SensorNotFound) and "finds no thermometer" in str(error)


def test_simulated_crc_fault_is_a_checksum_error(fake_clock: FakeClock) -> None:
    body = '[[sensor]]\nname = "tank"\ndriver = "ds18b20"\nserial = "28-00000a1b2c3d"\nsimulate_fault = "crc"\n'
    with build_system(_config(body), simulate=True, clock=fake_clock) as system:
        ((_, error),) = system.read_once()
    assert isinstance(error, ChecksumError)


@pytest.mark.parametrize(("body", "message"), [
    ('serial = "28-xyz"\n', "conf.toml:4: [[sensor]] 'probe': 1-wire serial '28-xyz' is not of the form"),
    ("resolution = 13\n", "resolution"),
    ('interval = "0.5s"\n', "faster than a ds18b20 can measure with these options; use 750ms"),
])
def test_bad_ds18b20_entries_are_config_errors(fake_clock: FakeClock, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_system(_config(PROBES + body), simulate=True, clock=fake_clock)
    assert message in str(caught.value)


def test_low_resolution_allows_a_short_interval(fake_clock: FakeClock) -> None:
    config = _config(PROBES + 'resolution = 9\ninterval = "0.1s"\n')
    assert config.sensors[0].interval_s == 0.1


def test_system_thermometer_plugged_in_while_running_is_read_from_the_next_scan(caplog) -> None:
    clock = FakeClock()
    config = _config(PROBES + 'interval = "30s"\naliases = { "28-0000000000a1" = "bad name!" }\n')
    with build_system(config, simulate=True, clock=clock) as system:
        got: list = []
        sampler = system.sampler(got.extend, threaded=False)
        sampler.start()
        sampler.poll()
        first = {r.series for r in got}
        assert len(first) == 2
        twin = system.transports._w1_bus()
        twin.add_sensor("28-00000abcdef1")  # plugged in while running
        twin.add_sensor("28-0000000000a1")  # its alias is no name: warned about and skipped
        with caplog.at_level(logging.WARNING):
            for _ in range(2):
                clock.advance(30.0)
                sampler.poll()
        series = {r.series for r in got}
        assert series - first == {"probe_bcdef1_temperature"}
        assert [h.name for h in system.sensors].count("probe_bcdef1") == 1
        assert "found on the bus: reading it as 'probe_bcdef1'" in caplog.text
        assert "skipping 1-wire sensor 28-0000000000a1" in caplog.text and "not a usable name" in caplog.text
        sampler.stop()


def test_system_empty_bus_picks_up_a_thermometer_plugged_in_later() -> None:
    """No thermometer at start (simulate_fault = "absent"): the entry fails with what to check, then reads one."""
    clock = FakeClock()
    empty = _config('[[sensor]]\nname = "later"\ndriver = "ds18b20"\ninterval = "10s"\nsimulate_fault = "absent"\n')
    with build_system(empty, simulate=True, clock=clock) as system:
        got: list = []
        sampler = system.sampler(got.extend, threaded=False)
        sampler.start()
        sampler.poll()
        [stand_in] = sampler.status()
        assert stand_in.name == "later" and "SensorNotFound" in (stand_in.last_error or "")
        system.transports._w1_bus().add_sensor("28-000000c0ffee")
        for _ in range(4):
            clock.advance(10.0)
            sampler.poll()
        assert "later_c0ffee_temperature" in {r.series for r in got}
        sampler.stop()
