"""The phase plan: every sensor spread over the device, the sensors of a bus over their shortest interval."""
from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from sensorkit.config import ResolvedSensor, SensorConfig
from sensorkit.phases import Planned, plan_phases
from sensorkit.system import _phases

US = 1_000_000
INTERVALS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 60.0)


def resolved(name: str, interval_s: float, bus: int | None) -> ResolvedSensor:
    config = SensorConfig(name=name, driver="sht3x", interval_s=interval_s, series={"temperature": f"{name}_t"})
    return ResolvedSensor(config, bus=bus, address=0x44 if bus is not None else None)


def sht3x_pairs(sensors: int, interval_s: float) -> list[ResolvedSensor]:
    """Two sensors per bus, as the benchmark's SHT3x (0x44 and 0x45) sit."""
    return [resolved(f"s{i}", interval_s, i // 2 + 1) for i in range(sensors)]


def grid(phase_s: float, interval_s: float) -> tuple[int, int]:
    return round(phase_s * US), round(interval_s * US)


def grids_meet(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return (a[0] - b[0]) % math.gcd(a[1], b[1]) == 0


def test_phases_spread_every_sensor_evenly_over_the_device() -> None:
    """10 sensors at 10 Hz on 5 buses: 10 ms apart, not the first of every bus at 0 (the old plan)."""
    phases = _phases(sht3x_pairs(10, 0.1))
    assert sorted(round(p * 1000, 6) for p in phases.values()) == [10.0 * n for n in range(10)]
    phases = _phases(sht3x_pairs(100, 1.0))
    assert sorted(round(p * 1000, 6) for p in phases.values()) == [10.0 * n for n in range(100)]


def test_phases_keep_the_sensors_of_a_bus_half_an_interval_apart() -> None:
    phases = _phases(sht3x_pairs(10, 0.1))
    for bus in range(5):
        first, second = phases[f"s{2 * bus}"], phases[f"s{2 * bus + 1}"]
        assert round((second - first) * 1000, 6) == 50.0


def test_phases_put_a_sensor_without_a_bus_between_the_bus_sensors() -> None:
    """The demo: two SHT3x on bus 1 (2 s and 5 s) and a door contact at 1 s."""
    phases = _phases([resolved("greenhouse", 2.0, 1), resolved("outside", 5.0, 1), resolved("door", 1.0, None)])
    assert phases == {"greenhouse": 0.0, "outside": 1.0, "door": 0.5}


def test_phases_nudge_a_lane_whose_grid_would_meet_another() -> None:
    """Three sensors on one bus (a third of a second apart) and two on another: spread plainly, b1 would
    land on a2 at 2/3 s; the second bus moves by half an offset step instead."""
    sensors = [Planned(n, 1.0, "A") for n in ("a0", "a1", "a2")] + [Planned(n, 1.0, "B") for n in ("b0", "b1")]
    phases = plan_phases(sensors)
    assert phases == {"a0": 0.0, "a1": 0.333333, "a2": 0.666666, "b0": 0.249999, "b1": 0.749999}


def test_phases_of_nothing_is_an_empty_plan() -> None:
    assert plan_phases([]) == {}


lanes = st.one_of(st.none(), st.integers(0, 4))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(lanes, st.sampled_from(INTERVALS)), min_size=1, max_size=40), st.booleans())
def test_phases_never_share_a_phase_and_keep_buses_spread(layout, equal_intervals) -> None:
    sensors = [Planned(f"s{i}", 1.0 if equal_intervals else interval, lane) for i, (lane, interval) in
               enumerate(layout)]
    phases = plan_phases(sensors)
    assert len(set(phases.values())) == len(sensors)
    for sensor in sensors:
        assert 0.0 <= phases[sensor.name] < sensor.interval_s
    # The sensors of a bus sit one step (their shortest interval / their number) apart, in config order.
    for lane in {s.lane for s in sensors if s.lane is not None}:
        members = [s for s in sensors if s.lane == lane]
        step = round(min(s.interval_s for s in members) * US) // len(members)
        offsets = [round(phases[s.name] * US) for s in members]
        assert [b - a for a, b in zip(offsets, offsets[1:])] == [step] * (len(members) - 1)
    if equal_intervals:  # then no two sensors of different lanes ever trigger at the same instant
        for a in sensors:
            for b in sensors:
                if a.name < b.name and (a.lane is None or a.lane != b.lane):
                    assert not grids_meet(grid(phases[a.name], a.interval_s), grid(phases[b.name], b.interval_s))
