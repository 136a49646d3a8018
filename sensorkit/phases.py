"""The phase plan: when, within its interval, each sensor takes its samples.

Every sensor samples at ``start + phase + n * interval``. Workers that wake
at one instant queue for the GIL (and the first of them for the bus), so a
plan that gives many sensors one phase makes the jitter grow with the number
of sensors. This plan spreads every sensor over the device:

* A *lane* is a set of sensors that must never read at once: the sensors of
  one bus (they share its lock). A sensor with no bus is a lane of its own.
* A lane of ``m`` sensors whose shortest interval is ``T`` has a step of
  ``T / m``: its sensors sit one step apart, spread over ``T``, so they
  rarely wait for each other's bus.
* The ``L`` lanes are offset from each other by ``S / L``, where ``S`` is the
  smallest step. No offset reaches ``S``, so every lane stays within its
  shortest interval; with equal intervals the ``N`` sensors of the device
  sit ``T / N`` apart, as evenly as they can.
* Two sensors of different lanes whose grids would still meet (which unequal
  lane sizes or intervals can cause) have the later lane nudged by a
  fraction of the offset step until they do not.

Times are planned in whole microseconds, so "the grids meet" is exact:
two grids of intervals ``a`` and ``b`` meet when their phases differ by a
multiple of ``gcd(a, b)``.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

_US = 1_000_000
_NUDGES = 16  # fractions of the offset step tried before a lane keeps a meeting grid


@dataclass(frozen=True)
class Planned:
    """One sensor as the plan sees it: its interval and the lane (bus) it shares, if any."""

    name: str
    interval_s: float
    lane: Hashable | None = None  # sensors with the same lane never read at once; None: alone


def plan_phases(sensors: Sequence[Planned]) -> dict[str, float]:
    """Phase in seconds of every sensor, each below its sensor's interval (see the module's rules)."""
    lanes: dict[Hashable, list[Planned]] = {}
    for index, sensor in enumerate(sensors):
        lanes.setdefault(("lane", sensor.lane) if sensor.lane is not None else ("alone", index), []).append(sensor)
    if not lanes:
        return {}
    # The fullest lanes first: they have the least room, the others fit around them.
    ordered = sorted(lanes.values(), key=lambda lane: -len(lane))
    steps = [_shortest_us(lane) // len(lane) for lane in ordered]
    offset_step = min(steps) // len(ordered)
    placed: list[tuple[int, int]] = []  # (phase, interval) in µs, of the lanes planned so far
    phases: dict[str, float] = {}
    for rank, (lane, step) in enumerate(zip(ordered, steps)):
        base = rank * offset_step
        members = _place(lane, step, base, offset_step, placed)
        placed += members
        for sensor, (phase, _) in zip(lane, members):
            phases[sensor.name] = phase / _US
    return phases


def _shortest_us(lane: list[Planned]) -> int:
    return min(_us(s.interval_s) for s in lane)


def _us(seconds: float) -> int:
    return max(1, round(seconds * _US))


def _place(
    lane: list[Planned], step: int, base: int, offset_step: int, placed: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The lane's (phase, interval) at the first offset whose grids meet no other lane's."""
    first = None
    for nudge in _nudges(offset_step):
        members = [(base + nudge + index * step, _us(s.interval_s)) for index, s in enumerate(lane)]
        if first is None:
            first = members
        if not any(_meet(a, b) for a in members for b in placed):
            return members
    assert first is not None
    return first


def _nudges(offset_step: int) -> list[int]:
    """0, then 1/2, 1/4, 3/4, 1/8, 3/8 ... of the offset step: always below it, so the lane keeps its room."""
    nudges = [0]
    denominator = 2
    while len(nudges) < _NUDGES and offset_step // denominator:
        nudges += [offset_step * k // denominator for k in range(1, denominator, 2)]
        denominator *= 2
    return nudges[:_NUDGES]


def _meet(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two grids (phase, interval in µs) ever trigger at the same instant."""
    return (a[0] - b[0]) % math.gcd(a[1], b[1]) == 0
