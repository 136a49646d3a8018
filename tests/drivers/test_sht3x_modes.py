"""SHT3x identity, recovery, periodic/ART mode and the heater, against the twin on a fake clock."""
from __future__ import annotations

import pytest
from smbus2 import i2c_msg

from drivers import BusError, ChecksumError, DriverConfigError, NotReady, SensorNotFound, WrongChip
from drivers.emulated import EmulatedSHT3x, EmulatedSHT4x, EmulatedSMBus
from drivers.emulated.smbus import Nack
from drivers.sht3x import SHT3x, conversion_time_s, identify
from sensorkit.clock import FakeClock

T_TOLERANCE = 175 / 65535 / 2 + 0.005

PERIODIC_COMMANDS = {
    ("high", 0.5): 0x2032, ("medium", 0.5): 0x2024, ("low", 0.5): 0x202F,
    ("high", 1): 0x2130, ("medium", 1): 0x2126, ("low", 1): 0x212D,
    ("high", 2): 0x2236, ("medium", 2): 0x2220, ("low", 2): 0x222B,
    ("high", 4): 0x2334, ("medium", 4): 0x2322, ("low", 4): 0x2329,
    ("high", 10): 0x2737, ("medium", 10): 0x2721, ("low", 10): 0x272A,
}  # fmt: skip  SHT3x-DIS v5 §4.5 Table 10


class Spy(EmulatedSHT3x):
    """An SHT3x twin that records every write (commands as ints, b"" probes as None)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.sent: list[int | None] = []

    def write(self, data: bytes) -> None:
        self.sent.append(int.from_bytes(data[:2], "big") if data else None)
        super().write(data)


@pytest.fixture
def twin(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> Spy:
    chip = Spy(clock=fake_clock.monotonic)
    emulated_bus.attach(0x44, chip)
    return chip


def make(bus: EmulatedSMBus, clock: FakeClock, address: int = 0x44, **options: object) -> SHT3x:
    return SHT3x(bus, address, sleep=clock.sleep, **options)  # type: ignore[arg-type]


# -- identity and the first read ------------------------------------------------


def test_sht3x_first_read_checks_status_then_resets_then_measures(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: Spy
) -> None:
    make(emulated_bus, fake_clock).read()
    assert twin.sent == [0xF32D, 0x3093, 0x30A2, 0x2400]


def test_sht3x_sht4x_answering_is_wrong_chip_and_never_heated(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock
) -> None:
    sht4x = EmulatedSHT4x(clock=fake_clock.monotonic)
    emulated_bus.attach(0x44, sht4x)
    sensor = make(emulated_bus, fake_clock)
    for _ in range(2):  # and again on the retry after the failure
        with pytest.raises(WrongChip, match='an SHT4x answers at 0x44.*driver = "sht4x"') as excinfo:
            sensor.read()
        assert excinfo.value.found == "SHT4x"
    # 0x2400 would be the SHT4x heater command 0x24: the identity check comes first.
    assert sht4x.heater_pulses == 0
    assert sht4x.commands == [0x89, 0x89]


class _RefusesUnknownCommands(EmulatedSHT4x):
    """An SHT4x that NACKs a command byte it does not know (the datasheet leaves this open)."""

    def _write(self, data: bytes, now: float) -> None:
        if data and data[0] not in (0xFD, 0xF6, 0xE0, 0x89, 0x94, 0x39, 0x32, 0x2F, 0x24, 0x1E, 0x15):
            raise Nack()
        super()._write(data, now)


def test_sht3x_sht4x_refusing_the_status_command_is_still_named(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock
) -> None:
    emulated_bus.attach(0x44, _RefusesUnknownCommands(clock=fake_clock.monotonic))
    with pytest.raises(WrongChip) as excinfo:
        make(emulated_bus, fake_clock).read()
    assert excinfo.value.found == "SHT4x"


class _Mute:
    """Acknowledges every write and never has anything to read."""

    def write(self, data: bytes) -> None:
        pass

    def read(self, length: int) -> bytes:
        raise Nack()


def test_sht3x_unknown_chip_that_sends_no_status_is_wrong_chip(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock
) -> None:
    emulated_bus.attach(0x44, _Mute())
    with pytest.raises(WrongChip, match="not an SHT3x") as excinfo:
        make(emulated_bus, fake_clock).read()
    assert excinfo.value.found is None


def test_sht3x_nothing_here_but_an_sht3x_at_the_other_address(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock
) -> None:
    emulated_bus.attach(0x45, EmulatedSHT3x(clock=fake_clock.monotonic))
    with pytest.raises(SensorNotFound) as excinfo:
        make(emulated_bus, fake_clock).read()
    assert not isinstance(excinfo.value, WrongChip)
    assert str(excinfo.value) == (
        "no SHT3x answered at 0x44 on I2C bus 1; an SHT3x answers at 0x45: "
        "set address = 0x45 if that one is this sensor"
    )


def test_sht3x_identify_names_only_an_sht3x_and_changes_nothing(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: Spy
) -> None:
    emulated_bus.attach(0x45, EmulatedSHT4x(clock=fake_clock.monotonic))
    before = twin.status_word()
    assert identify(emulated_bus, 0x44, sleep=fake_clock.sleep) == "SHT3x"
    assert twin.status_word() == before and not twin.periodic
    assert identify(emulated_bus, 0x45, sleep=fake_clock.sleep) is None
    assert identify(emulated_bus, 0x46, sleep=fake_clock.sleep) is None


def test_sht3x_identify_on_a_stuck_bus_is_a_bus_error(emulated_bus: EmulatedSMBus, twin: Spy) -> None:
    emulated_bus.stuck = True
    with pytest.raises(BusError):
        identify(emulated_bus, 0x44, sleep=lambda s: None)


def test_emulated_sht3x_takes_a_one_byte_command_as_not_processed(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: Spy
) -> None:
    # What an SHT4x driver's serial-number command (0x89) does to an SHT3x.
    emulated_bus.i2c_rdwr(i2c_msg.write(0x44, [0x89]))  # acknowledged
    with pytest.raises(OSError):
        emulated_bus.i2c_rdwr(i2c_msg.read(0x44, 6))  # nothing to send
    assert twin.status_word() & 0x0002  # §4.11 Table 18 bit 1: last command not processed


# -- faults and recovery ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        ("absent", SensorNotFound, "no SHT3x answered at 0x44"),
        ("crc", ChecksumError, "CRC expected"),
        ("all-ff", ChecksumError, "only 0xFF bytes"),
        ("stops-answering", SensorNotFound, "0x44"),
    ],
)
def test_sht3x_chip_fault_surfaces_then_recovers(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: Spy, fault: str, error: type, match: str
) -> None:
    sensor = make(emulated_bus, fake_clock)
    sensor.read()
    twin.fault = fault
    with pytest.raises(error, match=match):
        for _ in range(5):  # "stops-answering" answers a few transfers first
            sensor.read()
    twin.fault = None
    twin.sent.clear()
    twin.temperature = 31.0
    assert sensor.read()["temperature"] == pytest.approx(31.0, abs=T_TOLERANCE)
    assert twin.sent[:3] == [0xF32D, 0x3093, 0x30A2]  # identity check and reset again


def test_sht3x_stuck_bus_then_recovers(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: Spy) -> None:
    sensor = make(emulated_bus, fake_clock)
    emulated_bus.stuck = True
    with pytest.raises(BusError, match="timed out"):
        sensor.read()
    emulated_bus.stuck = False
    assert sensor.read()


def test_sht3x_wrong_chip_then_the_right_one(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x44, EmulatedSHT4x(clock=fake_clock.monotonic))
    sensor = make(emulated_bus, fake_clock)
    with pytest.raises(WrongChip):
        sensor.read()
    emulated_bus.detach(0x44)
    emulated_bus.attach(0x44, EmulatedSHT3x(clock=fake_clock.monotonic, temperature=-20.0))
    assert sensor.read()["temperature"] == pytest.approx(-20.0, abs=T_TOLERANCE)


def test_sht3x_corrupt_status_on_the_identity_check(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: Spy
) -> None:
    twin.corrupt_crc = True
    with pytest.raises(ChecksumError, match="status"):
        make(emulated_bus, fake_clock).read()


# -- periodic mode and ART -----------------------------------------------------------


@pytest.mark.parametrize(("repeatability", "mps"), sorted(PERIODIC_COMMANDS))
def test_sht3x_periodic_starts_with_its_command_then_fetches(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: Spy, repeatability: str, mps: float
) -> None:
    sensor = make(emulated_bus, fake_clock, mode="periodic", repeatability=repeatability, mps=mps)
    twin.temperature = 12.5
    assert sensor.read()["temperature"] == pytest.approx(12.5, abs=T_TOLERANCE)
    assert twin.sent == [0xF32D, 0x3093, 0x30A2, PERIODIC_COMMANDS[(repeatability, mps)], 0xE000]
    assert twin.periodic


def test_sht3x_periodic_reading_is_one_fetch_of_two_transactions(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: Spy
) -> None:
    sensor = make(emulated_bus, fake_clock, mode="periodic", mps=2)
    sensor.read()
    twin.sent.clear()
    for temperature in (5.0, 6.0, 7.0):
        fake_clock.advance(0.5)
        twin.temperature = temperature
        emulated_bus.reset_counters()
        assert sensor.read()["temperature"] == pytest.approx(temperature, abs=T_TOLERANCE)
        assert (emulated_bus.transactions, emulated_bus.bytes_written + emulated_bus.bytes_read) == (2, 8)
    assert twin.sent == [0xE000] * 3


def test_sht3x_periodic_read_too_soon_waits_one_period(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: Spy
) -> None:
    sensor = make(emulated_bus, fake_clock, mode="periodic", mps=1)
    sensor.read()
    fake_clock.sleeps.clear()
    assert sensor.read()  # no new result yet: the first fetch is NACKed, the second after 1 s is not
    assert 1.0 in fake_clock.sleeps
    assert twin.sent[-2:] == [0xE000, 0xE000]


def test_sht3x_periodic_without_results_is_not_ready(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: Spy
) -> None:
    sensor = make(emulated_bus, fake_clock, mode="periodic", mps=10)
    sensor.read()
    emulated_bus.i2c_rdwr(i2c_msg.write(0x44, [0x30, 0x93]))  # someone else stops it
    with pytest.raises(NotReady, match="periodic mode had no new measurement"):
        sensor.read()
    assert sensor.read()  # recovery starts periodic mode again
    assert twin.periodic


def test_sht3x_art_mode_sends_the_art_command(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: Spy) -> None:
    make(emulated_bus, fake_clock, mode="art").read()
    assert twin.sent[3:] == [0x2B32, 0xE000]


def test_sht3x_serial_in_periodic_mode_breaks_first_and_resumes(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: Spy
) -> None:
    sensor = make(emulated_bus, fake_clock, mode="periodic", mps=4)
    sensor.read()
    twin.sent.clear()
    assert sensor.serial_number() == twin.serial_number
    assert twin.sent == [0x3093, 0x3780, 0x2334]  # §4.8: break, command, periodic again
    assert twin.periodic
    fake_clock.advance(0.25)
    assert sensor.read()


def test_sht3x_heater_in_periodic_mode_breaks_first_and_resumes(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: Spy
) -> None:
    sensor = make(emulated_bus, fake_clock, mode="art")
    sensor.read()
    twin.sent.clear()
    sensor.heater(True)
    assert twin.sent == [0x3093, 0x306D, 0x2B32]
    assert twin.heater_on and twin.periodic


def test_sht3x_heater_option_switches_it_on_at_setup(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: Spy
) -> None:
    sensor = make(emulated_bus, fake_clock, heater=True, mode="periodic")
    sensor.read()
    assert twin.sent[:5] == [0xF32D, 0x3093, 0x30A2, 0x306D, 0x2130]
    assert twin.heater_on and sensor.status() & 0x2000


# -- options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "seconds"),
    [
        ({}, 0.015),
        ({"repeatability": "medium"}, 0.006),
        ({"repeatability": "low", "heater": True}, 0.004),
        ({"mode": "periodic", "mps": 0.5}, 2.0),
        ({"mode": "periodic", "mps": 10}, 0.1),
        ({"mode": "art", "mps": 0.5}, 0.25),
        ({"unknown": 1}, 0.015),
    ],
)
def test_sht3x_conversion_time_per_options(options: dict, seconds: float) -> None:
    assert conversion_time_s(**options) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"mode": "continuous"}, "single, periodic, art"),
        ({"mps": 3}, "0.5, 1, 2, 4 or 10"),
        ({"mps": True}, "0.5, 1, 2, 4 or 10"),
        ({"heater": "yes"}, "true or false"),
    ],
)
def test_sht3x_bad_options_are_config_errors(emulated_bus: EmulatedSMBus, options: dict, match: str) -> None:
    with pytest.raises(DriverConfigError, match=match):
        SHT3x(emulated_bus, **options)


def test_sht3x_repr_shows_the_options(emulated_bus: EmulatedSMBus) -> None:
    text = repr(SHT3x(emulated_bus, 0x45, mode="periodic", mps=0.5, heater=True))
    assert text == "SHT3x(address=0x45, repeatability='high', mode='periodic', mps=0.5, heater=True)"
