"""The simulated world: deterministic per (seed, key, time), plausible, no sleeping."""

from __future__ import annotations

import statistics
from concurrent.futures import ThreadPoolExecutor

import pytest

from boards import World
from boards.world import SHT3X_HUMIDITY_SIGMA_RH, SHT3X_TEMPERATURE_SIGMA_C

# 2024-03-01T00:00:00Z: a fixed midnight, so hours of the day are easy to name.
MIDNIGHT_S = 1_709_251_200
HOUR_S = 3_600
DAY_S = 86_400
WEEK_S = 7 * DAY_S
KEYS = ["greenhouse", "bedroom", "cellar"]


def sample_times(count: int, step_s: float, start_s: float = MIDNIGHT_S) -> list[float]:
    return [start_s + i * step_s for i in range(count)]


def pearson(xs: list[float], ys: list[float]) -> float:
    # statistics.correlation is Python 3.10+; we support 3.9.
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    return cov / (sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys)) ** 0.5


def readings(world: World, key: str, times: list[float]) -> list[tuple[float, float, bool]]:
    return [
        (world.temperature_c(key, t), world.humidity_rh(key, t), world.motion(key, t))
        for t in times
    ]


def test_world_same_seed_same_values() -> None:
    times = sample_times(200, 37.5)
    assert readings(World(seed=7), "greenhouse", times) == readings(
        World(seed=7), "greenhouse", times
    )


def test_world_values_do_not_depend_on_call_order_or_threads() -> None:
    world = World(seed=3)
    times = sample_times(300, 61.0)
    in_order = readings(world, "bedroom", times)
    backwards = readings(world, "bedroom", times[::-1])[::-1]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda t: readings(world, "bedroom", [t])[0], times))
    assert backwards == in_order
    assert threaded == in_order


def test_world_different_seed_or_key_gives_different_values() -> None:
    times = sample_times(50, 600.0)
    base = [World(seed=1).temperature_c("greenhouse", t) for t in times]
    other_seed = [World(seed=2).temperature_c("greenhouse", t) for t in times]
    other_key = [World(seed=1).temperature_c("bedroom", t) for t in times]
    assert base != other_seed
    assert base != other_key
    assert [World(1).humidity_rh("a", t) for t in times] != [
        World(1).humidity_rh("b", t) for t in times
    ]


def test_world_daily_shape_is_coldest_at_5_and_warmest_at_15() -> None:
    world = World()
    assert world.daily_shape(MIDNIGHT_S + 5 * HOUR_S) == pytest.approx(-1.0)
    assert world.daily_shape(MIDNIGHT_S + 15 * HOUR_S) == pytest.approx(1.0)
    hours = [world.daily_shape(MIDNIGHT_S + h * HOUR_S / 4) for h in range(96)]
    assert min(hours) == pytest.approx(-1.0) and max(hours) == pytest.approx(1.0)


@pytest.mark.parametrize("key", KEYS)
def test_world_temperature_warmer_at_15_than_at_5_on_average(key: str) -> None:
    world = World(seed=11)
    days = range(60)
    at_5 = statistics.fmean(
        world.temperature_c(key, MIDNIGHT_S + d * DAY_S + 5 * HOUR_S) for d in days
    )
    at_15 = statistics.fmean(
        world.temperature_c(key, MIDNIGHT_S + d * DAY_S + 15 * HOUR_S) for d in days
    )
    # The daily swing is 4-8 °C peak to peak; weather averages out over 60 days.
    assert at_15 - at_5 > 2.0


def test_world_utc_offset_moves_the_daily_cycle() -> None:
    # At 03:00 UTC it is 15:00 local with a +12 h offset: the warmest hour.
    assert World(utc_offset_s=12 * HOUR_S).daily_shape(MIDNIGHT_S + 3 * HOUR_S) == pytest.approx(
        1.0
    )


@pytest.mark.parametrize("key", KEYS)
def test_world_temperature_is_plausible_and_smooth_over_a_week(key: str) -> None:
    world = World(seed=5)
    times = sample_times(WEEK_S // 600, 600.0)
    values = [world.true_temperature_c(key, t) for t in times]
    assert 5.0 < min(values) and max(values) < 40.0
    # One second apart, the air itself barely changes: drift is smooth.
    steps = [
        abs(world.true_temperature_c(key, t + 1) - world.true_temperature_c(key, t)) for t in times
    ]
    assert max(steps) < 0.01


@pytest.mark.parametrize("noise_c", [SHT3X_TEMPERATURE_SIGMA_C, 0.5])
def test_world_temperature_noise_spread_matches_parameter(noise_c: float) -> None:
    world = World(seed=9)
    times = sample_times(4000, 2.0)
    errors = [
        world.temperature_c("k", t, noise_c=noise_c) - world.true_temperature_c("k", t)
        for t in times
    ]
    assert abs(statistics.fmean(errors)) < noise_c * 0.1
    assert statistics.stdev(errors) == pytest.approx(noise_c, rel=0.1)


def test_world_temperature_without_noise_is_the_true_value() -> None:
    world = World(seed=9)
    assert world.temperature_c("k", MIDNIGHT_S, noise_c=0.0) == world.true_temperature_c(
        "k", MIDNIGHT_S
    )


def test_world_humidity_noise_spread_matches_parameter() -> None:
    world = World(seed=9)
    times = sample_times(4000, 2.0)
    errors = [world.humidity_rh("k", t) - world.true_humidity_rh("k", t) for t in times]
    assert statistics.stdev(errors) == pytest.approx(SHT3X_HUMIDITY_SIGMA_RH, rel=0.1)


@pytest.mark.parametrize("noise_rh", [SHT3X_HUMIDITY_SIGMA_RH, 40.0])
def test_world_humidity_stays_within_0_and_100_over_a_week(noise_rh: float) -> None:
    world = World(seed=2)
    for key in KEYS:
        values = [
            world.humidity_rh(key, t, noise_rh=noise_rh) for t in sample_times(WEEK_S // 300, 300.0)
        ]
        assert min(values) >= 0.0 and max(values) <= 100.0
        # Plausible indoor humidity, not pinned at a bound, when noise is realistic.
        if noise_rh == SHT3X_HUMIDITY_SIGMA_RH:
            assert 10.0 < statistics.fmean(values) < 90.0


@pytest.mark.parametrize("key", KEYS)
def test_world_humidity_falls_as_temperature_rises(key: str) -> None:
    world = World(seed=4)
    times = sample_times(2 * DAY_S // 600, 600.0)
    temperature = [world.true_temperature_c(key, t) for t in times]
    humidity = [world.true_humidity_rh(key, t) for t in times]
    assert pearson(temperature, humidity) < -0.5


def test_world_motion_happens_sometimes_but_not_most_of_the_time() -> None:
    world = World(seed=1)
    for key in KEYS:
        states = [world.motion(key, t) for t in sample_times(DAY_S // 2, 2.0)]
        active = sum(states) / len(states)
        events = sum(1 for before, now in zip(states, states[1:]) if now and not before)
        assert 0.0 < active < 0.1
        # "A few short events per hour": between 1 and 10 per hour on average.
        assert 12 <= events <= 120


def test_world_motion_events_are_short() -> None:
    world = World(seed=8)
    longest = run = 0
    for t in sample_times(DAY_S, 1.0):
        run = run + 1 if world.motion("hall", t) else 0
        longest = max(longest, run)
    assert 5 <= longest <= 31


def test_world_pressure_is_plausible_and_falls_with_altitude() -> None:
    low, high = World(seed=3), World(seed=3, altitude_m=1500)
    day = [i * 3600.0 for i in range(24 * 14)]
    sea = [low.true_pressure_hpa(t) for t in day]
    assert 980 < min(sea) and max(sea) < 1050 and max(sea) - min(sea) > 2  # weather moves it
    # International barometric formula: about 845.5 hPa at 1500 m for 1013 hPa at sea level.
    assert all(abs(high.true_pressure_hpa(t) / low.true_pressure_hpa(t) - 0.8345) < 0.001 for t in day)
    assert low.pressure_hpa("a", 100.0) == low.pressure_hpa("a", 100.0)  # a pure function
    assert abs(low.pressure_hpa("a", 100.0) - low.true_pressure_hpa(100.0)) < 0.5
