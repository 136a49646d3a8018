"""DHT sensors, inputs and counters built from a config under --simulate, through the composition and the CLI."""
from __future__ import annotations

import json
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from drivers import DriverError, SensorNotFound
from sensorkit.cli import main
from sensorkit.clock import FakeClock
from sensorkit.config import parse_config
from sensorkit.errors import ConfigError
from sensorkit.system import build_system

ONE_OF_EACH = """\
[device]
board = "simulated"

[[sensor]]
name = "greenhouse"
driver = "sht3x"

[[sensor]]
name = "porch"
driver = "dht22"
pin = "GPIO4"

[[sensor]]
name = "shed"
driver = "dht11"
pin = 17
interval = "30s"

[[sensor]]
name = "door"
driver = "gpio_input"
pin = "GPIO27"
pull = "up"
bounce_time = "5ms"

[[sensor]]
name = "rain"
driver = "counter"
pin = "GPIO22"
bounce_time = "10ms"
scale = 0.2794
unit = "mm"

[[sensor]]
name = "wind"
driver = "counter"
pin = "GPIO23"
scale = 2.4
per = "hz"
unit = "km/h"

[[sensor]]
name = "water"
driver = "counter"
pin = "GPIO24"
k_factor = 7.5
per = "hz"
unit = "L/min"
"""


def config_of(text: str) -> Any:
    return parse_config(textwrap.dedent(text), "conf.toml")


def test_cli_read_simulate_with_one_of_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "sensorkit.toml"
    conf.write_text(ONE_OF_EACH)
    assert main(["read", "--simulate", "-c", str(conf), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == []
    units = {r["series"]: r["unit"] for r in doc["readings"]}
    assert units["porch_temperature"] == "°C" and units["shed_humidity"] == "%RH"
    assert units["door_state"] == ""
    assert (units["rain_amount"], units["rain_amount_rate"]) == ("mm", "mm/h")
    assert units["wind_amount_rate"] == "km/h" and "wind_amount" not in units
    assert units["water_amount_rate"] == "L/min"
    values = {r["series"]: r["value"] for r in doc["readings"]}
    assert -40 <= values["porch_temperature"] <= 80 and 0 <= values["porch_humidity"] <= 100
    assert float(values["shed_humidity"]).is_integer()  # a DHT11 reports whole %RH


def test_system_counters_follow_the_world(fake_clock: FakeClock) -> None:
    with build_system(config_of(ONE_OF_EACH), simulate=True, clock=fake_clock, seed=3) as system:
        world = system.transports.world
        system.read_once()
        start_s = fake_clock.time_ms() / 1000
        totals = {"rain": 0, "wind": 0}
        for _ in range(30):
            fake_clock.advance(60)
            for handle, result in system.read_once():
                if handle.name in totals:
                    assert not isinstance(result, Exception), result
                    totals[handle.name] += next(r.value for r in result if r.quantity == "count")
        end_s = fake_clock.time_ms() / 1000
    assert totals["wind"] == world.pulses("wind", start_s, end_s, kind="wind") > 0
    assert totals["rain"] == world.pulses("rain", start_s, end_s, kind="rain")


def test_system_dht_faults_show_as_driver_errors(fake_clock: FakeClock) -> None:
    config = config_of("""
        [device]
        board = "simulated"
        [[sensor]]
        name = "gone"
        driver = "dht22"
        pin = 4
        simulate_fault = "absent"
        [[sensor]]
        name = "flaky"
        driver = "dht22"
        pin = 5
        interval = "2s"
        simulate_fault = "flaky"
    """)
    outcomes = []
    with build_system(config, simulate=True, clock=fake_clock) as system:
        for _ in range(40):
            fake_clock.advance(10)
            outcomes.append({h.name: r for h, r in system.read_once()})
    assert all(isinstance(o["gone"], SensorNotFound) for o in outcomes)
    failed = sum(isinstance(o["flaky"], Exception) for o in outcomes)
    assert 0 < failed < 25  # about 3 in 10 transfers fail, one attempt per 2 s slot


def test_system_dht_hang_blocks_until_released(fake_clock: FakeClock) -> None:
    """Under "hang" each library object hangs after 3 good transfers; a re-created driver reads again."""
    config = config_of('[device]\nboard = "simulated"\n[[sensor]]\nname = "h"\ndriver = "dht22"\npin = 4\n'
                       'simulate_fault = "hang"\n')
    with build_system(config, simulate=True, clock=fake_clock) as system:
        [handle] = system.sensors
        for _ in range(3):
            fake_clock.advance(10)
            assert not isinstance(system.read_once()[0][1], Exception)
        device = handle.driver.device
        fake_clock.advance(10)
        results: list[Any] = []
        worker = threading.Thread(target=lambda: results.extend(system.read_once()), daemon=True)
        worker.start()
        assert device.hanging.wait(5)
        handle.driver.close()  # what the sampler does when it abandons the read
        worker.join(5)
        assert not worker.is_alive() and isinstance(results[0][1], DriverError)
        assert device.exited


def test_system_counter_options_are_checked_at_build() -> None:
    config = config_of('[device]\nboard = "simulated"\n[[sensor]]\nname = "rain"\ndriver = "counter"\n'
                       'pin = 22\nscale = 0.2794\n')
    with pytest.raises(ConfigError, match=r"conf.toml:3: \[\[sensor\]\] 'rain': .*unit"):
        build_system(config, simulate=True)


def test_system_dht_pin_is_reserved_against_inputs() -> None:
    config = config_of('[device]\nboard = "simulated"\n[[sensor]]\nname = "air"\ndriver = "dht22"\npin = 4\n'
                       '[[sensor]]\nname = "door"\ndriver = "gpio_input"\npin = 4\n')
    with pytest.raises(ConfigError, match="GPIO4.*sensor 'air'"):
        build_system(config, simulate=True)


def test_config_dht_interval_below_two_seconds_is_refused() -> None:
    with pytest.raises(ConfigError, match="faster than a dht11"):
        config_of('[device]\nboard = "simulated"\n[[sensor]]\nname = "a"\ndriver = "dht11"\npin = 4\n'
                  'interval = "1s"\n')


def test_config_gpio_input_pull_and_bounce_time_duration() -> None:
    config = config_of('[[sensor]]\nname = "door"\ndriver = "gpio_input"\npin = 27\npull = "none"\n'
                       'active_state = "low"\nbounce_time = "5ms"\n')
    assert dict(config.sensors[0].options) == {"pull": "none", "active_state": "low", "bounce_time": 0.005}


def test_system_dht_read_timeout_covers_its_retries() -> None:
    """A DHT read retries 2 s apart within its slot: its timeout must not abandon a healthy read."""
    from sensorkit.config import parse_config
    from sensorkit.system import READ_TIMEOUT_MARGIN_S, build_system

    config = parse_config('[device]\nboard = "simulated"\n[[sensor]]\nname = "porch"\ndriver = "dht22"\n'
                          'pin = "GPIO17"\ninterval = "30s"\n', "c.toml")
    with build_system(config, simulate=True) as system:
        [handle] = system.sensors
        assert handle.sampled.timeout_s >= handle.driver.max_read_s + READ_TIMEOUT_MARGIN_S > 4.0


def _door_system(clock: FakeClock) -> Any:
    config = parse_config('[device]\nboard = "simulated"\n[[sensor]]\nname = "door"\ndriver = "gpio_input"\n'
                          'pin = "GPIO27"\ninterval = "10s"\n', "c.toml")
    return build_system(config, simulate=True, clock=clock)


def test_system_input_edges_are_readings_of_their_own_stamped_at_the_edge() -> None:
    clock = FakeClock()
    with _door_system(clock) as system:
        got: list[Any] = []
        sampler = system.sampler(got.extend, threaded=False)
        pin = system.transports.pin_factory().pin(27)
        clock.advance(1.234)
        pin.drive_high()
        edge_ms = clock.time_ms()
        clock.advance(0.5)
        pin.drive_low()
        assert [(r.series, r.value, r.timestamp_ms) for r in got] == [
            ("door_state", 1, edge_ms), ("door_state", 0, edge_ms + 500)]
        del sampler


def test_system_edge_wins_over_an_interval_reading_in_its_millisecond() -> None:
    """The simulated world drives the pin before each read (no motion at these times: low)."""
    clock = FakeClock()
    with _door_system(clock) as system:
        got: list[Any] = []
        sampler = system.sampler(got.extend, threaded=False)
        pin = system.transports.pin_factory().pin(27)
        sampler.start()
        start_ms = clock.time_ms()
        sampler.poll()  # slot 0: the pin is low, no edge; an interval reading
        clock.advance(1.234)
        pin.drive_high()  # an edge
        clock.advance(10.0 - 1.234)
        sampler.poll()  # slot 1: the world drives the pin low in the read: an edge in the slot's millisecond
        slot1_ms = start_ms + 10_000
        assert [(r.value, r.timestamp_ms) for r in got] == [(0, start_ms), (1, start_ms + 1234), (0, slot1_ms)]
        clock.advance(10.0)
        sampler.poll()  # slot 2: an interval reading, handed on ...
        pin.drive_high()  # ... then an edge in its millisecond: stamped the next one
        slot2_ms = start_ms + 20_000
        assert [(r.value, r.timestamp_ms) for r in got[3:]] == [(0, slot2_ms), (1, slot2_ms + 1)]
        sampler.stop()


def test_system_power_pin_cycles_the_supply_after_failed_reads() -> None:
    clock = FakeClock()
    config = parse_config('[device]\nboard = "simulated"\n[[sensor]]\nname = "air"\ndriver = "sht3x"\n'
                          'simulate_fault = "absent"\npower_pin = "GPIO26"\npower_cycle_after = 2\n', "c.toml")
    with build_system(config, simulate=True, clock=clock) as system:
        [handle] = system.sensors
        pin = system.transports.pin_factory().pin(26)
        assert pin.state == 1  # the sensor is powered from the start
        pin.clear_states()
        for _ in range(2):
            with pytest.raises(SensorNotFound):
                handle.sampled.read()
        assert [s.state for s in pin.states] == [1]  # not yet: the cycle comes before the next read
        first = handle.driver
        sleeps = len(clock.sleeps)
        with pytest.raises(SensorNotFound):
            handle.sampled.read()
        assert [s.state for s in pin.states] == [1, 0, 1]  # off, then on again
        assert clock.sleeps[sleeps:sleeps + 2] == [1.0, 2.0]
        assert handle.driver is not first  # made anew after the power came back
        assert handle.sampled.timeout_s >= 3.0 + 2.0


def test_config_power_pin_joins_the_pin_checks() -> None:
    import boards
    from sensorkit.config import resolve

    text = ('[[sensor]]\nname = "air"\ndriver = "sht3x"\npower_pin = "GPIO17"\n\n'
            '[[sensor]]\nname = "door"\ndriver = "gpio_input"\npin = "GPIO17"\n')
    with pytest.raises(ConfigError, match="power switch of sensor 'air'|already"):
        resolve(parse_config(text, "c.toml"), boards.get_profile("simulated"))
    with pytest.raises(ConfigError, match="needs power_pin"):
        parse_config('[[sensor]]\nname = "air"\ndriver = "sht3x"\npower_cycle_after = 2\n', "c.toml")
    on_bus = '[[sensor]]\nname = "air"\ndriver = "sht3x"\npower_pin = "GPIO2"\n'
    with pytest.raises(ConfigError, match="power_pin"):
        resolve(parse_config(on_bus, "c.toml"), boards.get_profile("simulated"))


def test_system_hung_dht_read_is_abandoned_and_the_sensor_recovers_without_a_restart() -> None:
    """simulate_fault = "hang": each library object hangs after a few good reads; the sampler abandons the
    read past its timeout, the driver is made anew (a new library object) and readings come again."""
    from tests.sensorkit.test_sampler_timeout import wait_until

    clock = FakeClock()
    config = parse_config('[device]\nboard = "simulated"\n[[sensor]]\nname = "porch"\ndriver = "dht22"\n'
                          'pin = "GPIO17"\ninterval = "30s"\nsimulate_fault = "hang"\n', "c.toml")
    with build_system(config, simulate=True, clock=clock) as system:
        got: list[Any] = []
        sampler = system.sampler(got.extend)
        [handle] = system.sensors
        sampler.start()
        first_driver = handle.driver
        status = sampler.status
        try:
            for _ in range(12):
                before = status()[0]
                sampler.poll()
                if not _settles(lambda b=before: status()[0].samples > b.samples or status()[0].failures > b.failures):
                    # Still in its read after a while of real time: the twin hangs. Past its timeout it is abandoned.
                    clock.advance(handle.sampled.timeout_s + 0.001)
                    sampler.poll()
                    wait_until(lambda: status()[0].abandoned >= 1, "the hung read to be abandoned")
                clock.advance(30.0)
                if status()[0].abandoned and status()[0].samples > 3 and handle.driver is not first_driver:
                    break
        finally:
            sampler.stop(timeout_s=5)
        now = status()[0]
        assert now.abandoned >= 1 and "ReadTimeout" in (now.last_error or "ReadTimeout")
        assert handle.driver is not first_driver  # made anew after the abandoned read
        assert now.samples > 3  # readings again after the hang, without a restart
        assert len({r.timestamp_ms for r in got if r.quantity == "temperature"}) == now.samples


def _settles(predicate: Any, seconds: float = 2.0) -> bool:
    """Whether `predicate` holds within `seconds` of real time (a worker thread getting somewhere)."""
    pause = threading.Event()
    for _ in range(int(seconds / 0.005)):
        if predicate():
            return True
        pause.wait(0.005)
    return predicate()
