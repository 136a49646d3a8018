"""The simulated world's pulses (rain gauge tips, anemometer closures): additive, seeded, plausible."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boards import World
from boards.world import RAIN_TIPS_PER_HOUR, RAIN_WINDOW_S, WIND_MEAN_HZ

MIDNIGHT_S = 1_709_251_200
DAY_S = 86_400


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 4 * 3600), min_size=1, max_size=12), st.sampled_from(["rain", "wind"]))
def test_world_pulses_over_adjacent_spans_add_up(cuts: list[float], kind: str) -> None:
    world = World(seed=1)
    edges = [MIDNIGHT_S] + sorted(MIDNIGHT_S + c for c in cuts) + [MIDNIGHT_S + 4 * 3600]
    parts = sum(world.pulses("gauge", a, b, kind=kind) for a, b in zip(edges, edges[1:]))
    assert parts == world.pulses("gauge", edges[0], edges[-1], kind=kind)


def test_world_pulses_are_seeded_per_key() -> None:
    day = (MIDNIGHT_S, MIDNIGHT_S + DAY_S)
    assert World(seed=2).pulses("a", *day) == World(seed=2).pulses("a", *day)
    counts = {World(seed=s).pulses(k, *day) for s in range(3) for k in ("a", "b")}
    assert len(counts) > 1


def test_world_rain_comes_in_showers() -> None:
    world = World(seed=4)
    windows = [world.pulses("gauge", t, t + RAIN_WINDOW_S) for t in range(MIDNIGHT_S, MIDNIGHT_S + 7 * DAY_S,
                                                                               RAIN_WINDOW_S)]
    dry = sum(n == 0 for n in windows) / len(windows)
    assert 0.8 < dry < 0.97
    assert max(windows) <= RAIN_TIPS_PER_HOUR[1] * RAIN_WINDOW_S / 3600 + 1


def test_world_wind_blows_around_its_mean() -> None:
    world = World(seed=5)
    week = sum(world.pulses("vane", t, t + DAY_S, kind="wind") for t in range(MIDNIGHT_S, MIDNIGHT_S + 7 * DAY_S,
                                                                               DAY_S))
    assert week / (7 * DAY_S) == pytest.approx(WIND_MEAN_HZ, rel=0.2)
    minutes = [world.pulses("vane", t, t + 60, kind="wind") for t in range(MIDNIGHT_S, MIDNIGHT_S + 3600, 60)]
    assert len(set(minutes)) > 3  # it varies


def test_world_pulses_edge_cases() -> None:
    world = World()
    assert world.pulses("g", MIDNIGHT_S, MIDNIGHT_S) == 0
    assert world.pulses("g", MIDNIGHT_S + 5, MIDNIGHT_S) == 0
    # A very long gap counts only its last day.
    long = world.pulses("g", 0, MIDNIGHT_S, kind="wind")
    assert long == world.pulses("g", MIDNIGHT_S - DAY_S, MIDNIGHT_S, kind="wind")
    with pytest.raises(KeyError):
        world.pulses("g", 0, 1, kind="snow")
