"""The 0x40 probe: HDC1080 vs HTU21D family, in an order that disturbs neither."""
from __future__ import annotations

import errno

import pytest

from drivers import BusError
from drivers._probe_0x40 import HDC1080_BUSY_WAIT_S, PART_DRIVERS, identify_0x40, probe_0x40
from drivers.emulated import EmulatedHDC1080, EmulatedHTU21D, EmulatedSMBus
from sensorkit.clock import FakeClock


class _Recorder:
    """Wraps a twin and logs each message it sees: ("w", bytes) or ("r", length)."""

    def __init__(self, chip: object) -> None:
        self.chip = chip
        self.log: list[tuple[str, object]] = []

    def write(self, data: bytes) -> None:
        self.log.append(("w", bytes(data)))
        self.chip.write(data)  # type: ignore[attr-defined]

    def read(self, length: int) -> bytes:
        self.log.append(("r", length))
        return self.chip.read(length)  # type: ignore[attr-defined]


def _attach(bus: EmulatedSMBus, chip: object) -> _Recorder:
    recorder = _Recorder(chip)
    bus.attach(0x40, recorder)
    return recorder


def test_probe_hdc1080_bare_read_then_device_id_then_manufacturer(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock
) -> None:
    chip = EmulatedHDC1080(clock=fake_clock.monotonic)
    wire = _attach(emulated_bus, chip)
    assert identify_0x40(emulated_bus, sleep=fake_clock.sleep) == "HDC1080"
    assert wire.log == [("r", 2), ("w", b"\xff"), ("r", 2), ("w", b"\xfe"), ("r", 2)]
    assert not chip.converting() and chip.pointer == 0xFE  # the only state it changed
    assert fake_clock.sleeps == []  # an idle HDC1080 answers the bare read at once


@pytest.mark.parametrize(("part", "name"), [("HTU21D", "HTU21D"), ("SHT21", "HTU21D"), ("Si7021", "Si7021")])
def test_probe_htu21d_family_never_gets_an_hdc_pointer(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, part: str, name: str
) -> None:
    chip = EmulatedHTU21D(clock=fake_clock.monotonic, part=part)
    wire = _attach(emulated_bus, chip)
    probe = probe_0x40(emulated_bus, sleep=fake_clock.sleep)
    assert (probe.part, probe.family) == (name, "htu21d")
    assert probe.user_register == chip.user_register
    # two bare reads around the HDC1080 busy wait, then only this family's own read-only commands
    assert wire.log == [("r", 2), ("r", 2), ("w", b"\xe7"), ("r", 1), ("w", b"\xfc\xc9"), ("r", 3)]
    assert fake_clock.sleeps == [HDC1080_BUSY_WAIT_S]
    assert PART_DRIVERS[name] == "htu21d"


def test_probe_waits_out_a_running_hdc1080_conversion(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    chip = EmulatedHDC1080(clock=fake_clock.monotonic)
    _attach(emulated_bus, chip)
    emulated_bus.write_byte(0x40, 0x00)  # another program's T+RH acquisition (12.85 ms)
    assert identify_0x40(emulated_bus, sleep=fake_clock.sleep) == "HDC1080"
    assert chip.register(0x00) != 0  # its result survived


def test_probe_htu21d_with_an_unread_result_is_still_found(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    chip = EmulatedHTU21D(clock=fake_clock.monotonic)
    wire = _attach(emulated_bus, chip)
    emulated_bus.write_byte(0x40, 0xE5)  # hold-master RH: result waiting, never read
    wire.log.clear()
    assert identify_0x40(emulated_bus, sleep=fake_clock.sleep) == "HTU21D"
    writes = [data for kind, data in wire.log if kind == "w"]
    assert b"\xfe" not in writes  # no soft reset, even on this path
    assert writes[0] == b"\xff"  # the one command outside its table, which it NACKs


def test_probe_nothing_there(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    probe = probe_0x40(emulated_bus, sleep=fake_clock.sleep)
    assert (probe.part, probe.family, probe.answered) == (None, None, False)


@pytest.mark.parametrize("chip_class", [EmulatedHDC1080, EmulatedHTU21D])
def test_probe_all_ff(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, chip_class: type) -> None:
    chip = chip_class(clock=fake_clock.monotonic)
    chip.fault = "all-ff"
    emulated_bus.attach(0x40, chip)
    probe = probe_0x40(emulated_bus, sleep=fake_clock.sleep)
    assert probe.all_ff and probe.answered and probe.family is None


def test_probe_unknown_hdc_device_id(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x40, EmulatedHDC1080(clock=fake_clock.monotonic, device_id=0x07D0))
    probe = probe_0x40(emulated_bus, sleep=fake_clock.sleep)
    assert (probe.part, probe.family, probe.device_id) == (None, None, 0x07D0)


def test_probe_stuck_bus_raises_bus_error(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.stuck = True
    with pytest.raises(BusError) as excinfo:
        identify_0x40(emulated_bus, sleep=fake_clock.sleep)
    assert excinfo.value.errno == errno.ETIMEDOUT
