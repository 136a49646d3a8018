"""`stored_reading`: the outbox's fast way back to a Reading must give the very object `Reading(...)` gives."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorkit.outbox.codec import decode, encode
from sensorkit.readings import Reading, stored_reading

values = st.one_of(st.booleans(), st.integers(-2**53, 2**53), st.floats(allow_nan=False, allow_infinity=False))


@given(st.text(min_size=1), st.text(), st.text(), values, st.text(), st.integers(0, 2**62))
def test_stored_reading_equals_the_checked_reading(series, sensor, quantity, value, unit, timestamp_ms):
    checked = Reading(series, sensor, quantity, value, unit, timestamp_ms)
    fast = stored_reading(series, sensor, quantity, value, unit, timestamp_ms)
    assert type(fast) is Reading
    assert fast == checked and hash(fast) == hash(checked) and repr(fast) == repr(checked)
    assert dataclasses.astuple(fast) == dataclasses.astuple(checked)
    assert fast.to_dict() == checked.to_dict()


def test_stored_reading_is_frozen_like_any_reading():
    reading = stored_reading("t", "air", "temperature", 21.5, "°C", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        reading.value = 0.0  # type: ignore[misc]
    assert dataclasses.replace(reading, value=1.0) == Reading("t", "air", "temperature", 1.0, "°C", 1)


def test_decode_gives_back_the_readings_encoded():
    readings = [Reading(f"s{i % 3}", "x", "q", [1.5, 2, True][i % 3], "u", 1_700_000_000_000 + i) for i in range(600)]
    keys: dict = {}
    rows, _contents = encode(readings, lambda key: keys.setdefault(key, len(keys) + 1), 1)
    series = {sid: key for key, sid in keys.items()}
    decoded = [r for row in rows for r in decode(row, series, 1, 601)]
    assert decoded == list(enumerate(readings, 1))
    assert [type(r.value) for _, r in decoded] == [type(r.value) for r in readings]
