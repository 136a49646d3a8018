"""DHT22 / DHT11: the frame, the driver over the emulated twin, and both against the real adafruit_dht.

adafruit_dht is imported only inside `redirect_stdout` (on x86 Blinka prints a
warning to stdout), and its transfer is scripted by overriding its pulse
reader, so its own cache, decoding and messages are what the driver meets.
"""
from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import threading
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers import ChecksumError, DriverConfigError, DriverError, ImplausibleReading, NotReady, SensorNotFound
from drivers.dht import (
    DHT11,
    DHT22,
    LIBRARY_CACHE_S,
    LIBRARY_READ_S,
    MSG_CHECKSUM,
    MSG_NOT_FOUND,
    MSG_PARTIAL,
    MSG_UNPLAUSIBLE,
    attempt_spacing_s,
    attempts_in_slot,
    decode_frame,
    encode_frame,
    frame_checksum,
    max_read_s,
)
from drivers.emulated.dht import EmulatedDHT, EmulatedDHTSensor
from sensorkit.clock import FakeClock

# --------------------------------------------------------------------------- the frame

# electrodragon DHT22 SDK wiki: 02 8C 01 5F EE -> 65.2 %RH, 35.1 °C; the AM2320 manual's
# single-bus example -10.1 °C = 0x8065 (frame checksum computed over the raw bytes: 0x73).
DHT22_EXAMPLE = bytes.fromhex("028C015FEE")
DHT22_NEGATIVE = bytes.fromhex("028C806573")
# Aosong DHT11 manual p.4, example 1: 0x35 0x00 0x18 0x00 0x4D -> 53 %RH, 24 °C; example 2 ends 0x49.
DHT11_EXAMPLE = bytes.fromhex("350018004D")
DHT11_BAD = bytes.fromhex("3500180049")


def test_decode_frame_dht22_datasheet_example() -> None:
    assert decode_frame(DHT22_EXAMPLE, "dht22") == pytest.approx((65.2, 35.1))


def test_decode_frame_dht22_negative_is_sign_and_magnitude() -> None:
    assert decode_frame(DHT22_NEGATIVE, "dht22") == pytest.approx((65.2, -10.1))


def test_decode_frame_checksum_includes_the_sign_bit() -> None:
    # The classic bug: summing after clearing bit 15 gives 0xF3 and rejects every negative reading.
    assert frame_checksum(DHT22_NEGATIVE) == 0x73
    with pytest.raises(ChecksumError, match="expected 0x73, received 0xF3"):
        decode_frame(DHT22_NEGATIVE[:4] + b"\xf3", "dht22")


def test_decode_frame_dht11_datasheet_examples() -> None:
    assert decode_frame(DHT11_EXAMPLE, "dht11") == (53.0, 24.0)
    with pytest.raises(ChecksumError, match="expected 0x4D"):
        decode_frame(DHT11_BAD, "dht11")


def test_encode_frame_gives_the_datasheet_frames() -> None:
    assert encode_frame(65.2, 35.1, "dht22") == DHT22_EXAMPLE
    assert encode_frame(65.2, -10.1, "dht22") == DHT22_NEGATIVE
    assert encode_frame(53, 24, "dht11") == DHT11_EXAMPLE


@given(st.integers(0, 1000), st.integers(-400, 800))
def test_encode_frame_round_trips_dht22(rh_tenths: int, t_tenths: int) -> None:
    humidity, temperature = decode_frame(encode_frame(rh_tenths / 10, t_tenths / 10, "dht22"), "dht22")
    assert (round(humidity * 10), round(temperature * 10)) == (rh_tenths, t_tenths)


@given(st.integers(0, 100), st.integers(0, 509))
def test_encode_frame_round_trips_dht11(rh: int, t_tenths: int) -> None:
    humidity, temperature = decode_frame(encode_frame(rh, t_tenths / 10, "dht11"), "dht11")
    assert (humidity, round(temperature * 10)) == (rh, t_tenths)


def test_attempts_fit_in_the_slot() -> None:
    spacing = attempt_spacing_s("dht22")
    assert spacing > LIBRARY_CACHE_S
    # A retry at 2.05 s in a 4 s slot would push the next slot's transfer to 4.1 s: not taken.
    assert attempts_in_slot("dht22", 3, 2.0) == 1
    assert attempts_in_slot("dht22", 3, 4.0) == 1
    assert attempts_in_slot("dht22", 3, 5.0) == 2
    assert attempts_in_slot("dht22", 3, 6.2) == 3
    assert attempts_in_slot("dht22", 3, 60.0) == 3
    assert attempts_in_slot("dht22", 3, None) == 3
    assert max_read_s("dht22", 3, 2.0) == pytest.approx(spacing + LIBRARY_READ_S["dht22"])


# --------------------------------------------------------------------------- the driver on the twin


@pytest.fixture
def sensor(fake_clock: FakeClock) -> EmulatedDHTSensor:
    return EmulatedDHTSensor("dht22", clock=fake_clock.monotonic, temperature=21.34, humidity=48.26)


def twin_on(sensor: EmulatedDHTSensor, clock: FakeClock, model: str = "dht22", **kwargs: Any) -> EmulatedDHT:
    return EmulatedDHT(model, clock=clock.monotonic, sleep=clock.sleep, sensor=sensor, **kwargs)


def driver_for(device: Any, clock: FakeClock, cls: type = DHT22, **kwargs: Any) -> Any:
    return cls(device, pin=4, sleep=clock.sleep, monotonic=clock.monotonic, **kwargs)


def test_dht22_reads_temperature_and_humidity(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    with driver_for(twin_on(sensor, fake_clock), fake_clock) as dht:
        assert dht.read() == {"temperature": 21.3, "humidity": 48.3}


def test_dht22_values_are_the_previous_measurement(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    # Aosong: the host always reads the measurement made after the previous transfer.
    dht = driver_for(twin_on(sensor, fake_clock), fake_clock)
    dht.read()
    sensor.temperature, sensor.humidity = -5.0, 80.0
    fake_clock.advance(10)
    assert dht.read() == {"temperature": 21.3, "humidity": 48.3}
    fake_clock.advance(10)
    assert dht.read() == {"temperature": -5.0, "humidity": 80.0}


def test_dht22_never_starts_transfers_faster_than_the_cache(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    twin = twin_on(sensor, fake_clock)
    dht = driver_for(twin, fake_clock)
    starts = []
    for _ in range(3):
        dht.read()  # back to back: the driver waits between them
        starts.append(twin._last_called)
    assert sensor.transfers == 3
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(gap > LIBRARY_CACHE_S for gap in gaps), gaps


def test_dht22_detects_the_library_cache(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    twin = twin_on(sensor, fake_clock)
    twin.measure()  # someone else used the object a moment ago: its cache is fresh
    fake_clock.advance(0.5)
    fake_clock.sleeps.clear()
    dht = driver_for(twin, fake_clock)
    assert dht.read() == {"temperature": 21.3, "humidity": 48.3}
    # The cached answer was refused; the value came from a second, real transfer.
    assert sensor.transfers == 2
    assert fake_clock.sleeps and fake_clock.sleeps[0] > 1.5


def test_dht22_cache_only_is_not_ready(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    twin = twin_on(sensor, fake_clock)
    twin.measure()
    dht = driver_for(twin, fake_clock, attempts=1)
    with pytest.raises(NotReady, match="cached"):
        dht.read()
    assert sensor.transfers == 1


def test_dht22_retries_a_sensor_still_settling(fake_clock: FakeClock) -> None:
    sensor = EmulatedDHTSensor("dht22", clock=fake_clock.monotonic, powered_at=fake_clock.monotonic())
    dht = driver_for(twin_on(sensor, fake_clock), fake_clock, slot_s=10.0)
    assert dht.read() == {"temperature": 21.0, "humidity": 50.0}
    assert sensor.transfers == 1


def test_dht22_retries_stay_within_the_slot(fake_clock: FakeClock) -> None:
    sensor = EmulatedDHTSensor("dht22", clock=fake_clock.monotonic, powered_at=fake_clock.monotonic())
    dht = driver_for(twin_on(sensor, fake_clock), fake_clock, slot_s=2.0)
    start = fake_clock.monotonic()
    with pytest.raises(SensorNotFound, match="1 attempt "):
        dht.read()
    assert fake_clock.monotonic() - start < 2.0


def test_dht22_retries_leave_the_next_slot_on_time(fake_clock: FakeClock) -> None:
    twin = twin_on(EmulatedDHTSensor("dht22", clock=fake_clock.monotonic), fake_clock, fault="absent")
    dht = driver_for(twin, fake_clock, slot_s=5.0)
    slot_start = fake_clock.monotonic()
    with pytest.raises(SensorNotFound, match="2 attempts"):
        dht.read()
    fake_clock.advance(slot_start + 5.0 - fake_clock.monotonic())  # the next slot
    fake_clock.sleeps.clear()
    twin.fault = None
    dht.read()
    assert twin._last_called == slot_start + 5.0  # its transfer started at once
    assert fake_clock.sleeps == [LIBRARY_READ_S["dht22"]]


def test_dht22_absent_is_sensor_not_found(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    dht = driver_for(twin_on(sensor, fake_clock, fault="absent"), fake_clock)
    with pytest.raises(SensorNotFound, match=r"GPIO4: 3 attempts \(3× not found\).*pull-up") as excinfo:
        dht.read()
    assert "check wiring" in str(excinfo.value)
    assert isinstance(excinfo.value, DriverError)


def test_dht22_persistent_bit_errors_are_checksum_errors(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    twin = twin_on(sensor, fake_clock, fault="flaky", flaky_share=1.0, flaky_kinds=(("checksum", 1.0),))
    with pytest.raises(ChecksumError, match="3× checksum"):
        driver_for(twin, fake_clock).read()
    assert sensor.transfers == 3


def test_dht22_persistent_incomplete_frames_are_not_ready(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    twin = twin_on(sensor, fake_clock, fault="flaky", flaky_share=1.0, flaky_kinds=(("partial", 1.0),))
    with pytest.raises(NotReady, match="incomplete"):
        driver_for(twin, fake_clock).read()


def test_dht22_mixed_failures_report_the_furthest(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    # A checksum failure means the part answered: never call that "not found".
    twin = twin_on(sensor, fake_clock, fault="flaky", flaky_share=1.0,
                   flaky_kinds=(("not found", 0.5), ("checksum", 0.5)), seed=3)
    with pytest.raises(ChecksumError, match="not found"):
        driver_for(twin, fake_clock, attempts=6).read()


def test_dht22_flaky_twin_is_seeded_and_mostly_fine(fake_clock: FakeClock) -> None:
    def outcomes(seed: int) -> list[str]:
        clock = FakeClock()
        sensor = EmulatedDHTSensor("dht22", clock=clock.monotonic)
        dht = driver_for(twin_on(sensor, clock, fault="flaky", seed=seed), clock, attempts=1)
        result = []
        for _ in range(200):
            clock.advance(5)
            try:
                dht.read()
                result.append("ok")
            except DriverError as exc:
                result.append(type(exc).__name__)
        return result

    first = outcomes(7)
    assert first == outcomes(7)
    assert first != outcomes(8)
    assert 0.55 < first.count("ok") / len(first) < 0.85
    assert {"NotReady", "ChecksumError"} <= set(first)


def test_dht22_out_of_range_is_implausible(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    sensor.temperature = 85.0  # encodable, but beyond the AM2302's −40..80 °C
    with pytest.raises(ImplausibleReading, match="85 °C"):
        driver_for(twin_on(sensor, fake_clock), fake_clock, attempts=1).read()


def test_dht11_humidity_outside_20_to_90_is_implausible(fake_clock: FakeClock) -> None:
    sensor = EmulatedDHTSensor("dht11", clock=fake_clock.monotonic, temperature=24.0, humidity=95.0)
    with pytest.raises(ImplausibleReading, match="20..90 %RH"):
        driver_for(twin_on(sensor, fake_clock, "dht11"), fake_clock, DHT11, attempts=1).read()


def test_dht11_reads_its_integer_humidity(fake_clock: FakeClock) -> None:
    sensor = EmulatedDHTSensor("dht11", clock=fake_clock.monotonic, temperature=24.36, humidity=53.4)
    dht = driver_for(twin_on(sensor, fake_clock, "dht11"), fake_clock, DHT11)
    assert dht.read() == {"temperature": 24.4, "humidity": 53.0}


def test_dht22_configured_as_dht11_says_so(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    dht = driver_for(twin_on(sensor, fake_clock, "dht11"), fake_clock, DHT11, attempts=1)
    with pytest.raises(ImplausibleReading, match='driver = "dht22"'):
        dht.read()


def test_dht11_configured_as_dht22_says_so(fake_clock: FakeClock) -> None:
    sensor = EmulatedDHTSensor("dht11", clock=fake_clock.monotonic, temperature=24.0, humidity=50.0)
    dht = driver_for(twin_on(sensor, fake_clock, "dht22"), fake_clock, attempts=1)
    with pytest.raises(ImplausibleReading, match='driver = "dht11"'):
        dht.read()


def test_dht22_constructor_does_no_io_and_factory_is_lazy(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    made: list[EmulatedDHT] = []

    def factory() -> EmulatedDHT:
        made.append(twin_on(sensor, fake_clock))
        return made[-1]

    dht = driver_for(factory, fake_clock)
    assert made == []
    dht.read()
    fake_clock.advance(5)
    dht.read()
    assert len(made) == 1


def test_dht22_close_releases_the_pin(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    twin = twin_on(sensor, fake_clock)
    dht = driver_for(twin, fake_clock)
    dht.read()
    dht.close()
    dht.close()
    assert twin.exited and dht.closed
    with pytest.raises(DriverError, match="closed"):
        dht.read()


def test_dht22_options_are_checked(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    with pytest.raises(DriverConfigError, match="attempts"):
        driver_for(twin_on(sensor, fake_clock), fake_clock, attempts=0)
    with pytest.raises(DriverConfigError, match="device"):
        driver_for(42, fake_clock)


def test_dht22_hung_read_is_abandoned_and_recreated(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    twin = twin_on(sensor, fake_clock, fault="hang", hang_after=1)
    hung = driver_for(twin, fake_clock)
    hung.read()  # one good transfer, then the library's helper hangs
    fake_clock.advance(5)
    outcome: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture(hung.read, outcome), daemon=True)
    worker.start()
    assert twin.hanging.wait(5)
    # The sampler gives up on it: close (exit() ends the hung transfer) and build a new one.
    hung.close()
    worker.join(5)
    assert not worker.is_alive()
    assert isinstance(outcome[0], DriverError)
    fake_clock.advance(5)
    fresh = driver_for(twin_on(sensor, fake_clock), fake_clock)
    assert fresh.read() == {"temperature": 21.3, "humidity": 48.3}


def _capture(read: Callable[[], Any], into: list[BaseException]) -> None:
    try:
        read()
    except BaseException as exc:  # noqa: BLE001 - handed to the test
        into.append(exc)


def test_emulated_dht_hang_waits_for_release(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    twin = twin_on(sensor, fake_clock, fault="hang")
    errors: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture(twin.measure, errors), daemon=True)
    worker.start()
    assert twin.hanging.wait(5)
    assert worker.is_alive()
    twin.release()
    worker.join(5)
    assert [str(e) for e in errors] == [MSG_PARTIAL]
    assert sensor.transfers == 0


def test_emulated_dht_rejects_unknown_fault() -> None:
    with pytest.raises(ValueError, match="flaky"):
        EmulatedDHT(fault="crc")


def test_emulated_dht_power_cycle_settles_for_a_second(fake_clock: FakeClock, sensor: EmulatedDHTSensor) -> None:
    twin = twin_on(sensor, fake_clock)
    sensor.power_cycle()
    with pytest.raises(RuntimeError, match="not found"):
        twin.measure()
    fake_clock.advance(2.5)
    twin.measure()
    assert twin.temperature == pytest.approx(21.3)


# --------------------------------------------------------------------------- against the real adafruit_dht


@pytest.fixture
def adafruit_dht() -> Any:
    with contextlib.redirect_stdout(sys.stderr):  # Blinka warns on stdout on x86
        return pytest.importorskip("adafruit_dht")


class _FakeTime:
    def __init__(self, clock: FakeClock) -> None:
        self.monotonic, self.sleep = clock.monotonic, clock.sleep


def _pulses(frame: bytes) -> list[int]:
    """What adafruit_dht's pulse reader returns for a frame: 50 µs low, then 26/70 µs high per bit."""
    bits = [(byte >> (7 - i)) & 1 for byte in frame for i in range(8)]
    return [p for bit in bits for p in (50, 70 if bit else 26)] + [50]


@pytest.fixture
def library(adafruit_dht: Any, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """A real adafruit_dht object whose transfers follow a script (frames, "none", "partial")."""
    monkeypatch.setattr(adafruit_dht, "time", _FakeTime(fake_clock))

    def make(model: str, script: list[Any]) -> Any:
        base = adafruit_dht.DHT22 if model == "dht22" else adafruit_dht.DHT11

        class Scripted(base):  # type: ignore[misc, valid-type]
            transfers = 0

            def _get_pulses_bitbang(self) -> list[int]:
                type(self).transfers += 1
                step = script.pop(0)
                if step == "none":
                    return []
                if step == "partial":
                    return _pulses(DHT22_EXAMPLE)[:40]
                return _pulses(step)

        return Scripted(None, use_pulseio=False)

    return make


def test_library_messages_are_the_ones_the_driver_knows(library: Callable[..., Any]) -> None:
    over_100 = encode_frame(0, 20, "dht22")[:0] + bytes((0x04, 0x00, 0x00, 0xC8, 0xCC))  # 102.4 %RH
    steps = [DHT22_EXAMPLE[:4] + b"\x00", "none", "partial", over_100]
    expected = [MSG_CHECKSUM, MSG_NOT_FOUND, MSG_PARTIAL, MSG_UNPLAUSIBLE]
    device = library("dht22", steps)
    for message in expected:
        with pytest.raises(RuntimeError) as excinfo:
            device._last_called = 0  # force a transfer each time
            device.measure()
        assert str(excinfo.value) == message


@pytest.mark.parametrize("kind", ["library", "twin"])
def test_cache_behaves_like_the_library(kind: str, library: Callable[..., Any], fake_clock: FakeClock) -> None:
    """Within 2 s the previous values come back without an error, also right after a failed transfer."""
    sensor = EmulatedDHTSensor("dht22", clock=fake_clock.monotonic, temperature=35.1, humidity=65.2)
    twin = twin_on(sensor, fake_clock)
    device = library("dht22", [DHT22_EXAMPLE, "none"]) if kind == "library" else twin
    assert device.temperature == pytest.approx(35.1)
    fake_clock.advance(1.0)
    assert device.humidity == pytest.approx(65.2)  # cached: no transfer
    fake_clock.advance(1.5)
    failed_at = fake_clock.monotonic()
    twin.fault = "absent"
    with pytest.raises(RuntimeError, match="not found"):
        device.measure()
    twin.fault = None
    assert device._last_called == failed_at  # set before the transfer
    fake_clock.advance(1.0)
    assert device.temperature == pytest.approx(35.1)  # the stale value, no error
    transfers = type(device).transfers if kind == "library" else sensor.transfers
    assert transfers == (2 if kind == "library" else 1)  # the twin's failed transfer sent no frame


def test_driver_on_the_real_library(library: Callable[..., Any], fake_clock: FakeClock) -> None:
    device = library("dht22", ["none", DHT22_NEGATIVE, DHT22_EXAMPLE[:4] + b"\x00"] + [DHT22_EXAMPLE[:4] + b"\x01"] * 2)
    dht = driver_for(device, fake_clock, attempts=3)
    assert dht.read() == {"temperature": -10.1, "humidity": 65.2}
    fake_clock.advance(10)
    with pytest.raises(ChecksumError, match="3× checksum"):
        dht.read()
    assert type(device).transfers == 5


def test_driver_never_records_the_real_library_cache(library: Callable[..., Any], fake_clock: FakeClock) -> None:
    device = library("dht22", [DHT22_EXAMPLE, DHT22_NEGATIVE])
    device.measure()  # cache is now fresh with 35.1 °C
    fake_clock.advance(0.2)
    assert driver_for(device, fake_clock).read() == {"temperature": -10.1, "humidity": 65.2}


# --------------------------------------------------------------------------- the real factory


def test_library_device_keeps_stdout_clean() -> None:
    """Build the real object in a fresh interpreter: stdout must stay empty (jsonl goes there)."""
    code = textwrap.dedent("""
        from drivers import DriverConfigError
        from drivers.dht import library_device
        factory = library_device("dht22", 4)
        try:
            device = factory()
        except DriverConfigError as exc:
            import sys
            print("config error:", exc, file=sys.stderr)
        else:
            device.exit()
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    import platform

    if platform.machine() in ("x86_64", "AMD64"):
        assert "WARNING" in result.stderr  # the warning went where it harms nothing
        assert "no D4" in result.stderr


def test_library_device_refuses_unknown_model() -> None:
    from drivers.dht import library_device

    with pytest.raises(DriverConfigError):
        library_device("dht33", 4)
