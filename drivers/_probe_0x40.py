"""Who is at 0x40: an HDC1080 or an HTU21D-family chip, told apart without disturbing either.

Both families live at 0x40 and each one's identity command is dangerous to
the other: an HDC1080 identity read sets its pointer to 0xFE (manufacturer
ID), and 0xFE is the HTU21D's soft reset (HTU21D(F) command table; Si7021
Table 11). The probe therefore sends each family only what that family's
datasheet defines, in this order:

1. A bare read of two bytes, no command at all. An HDC1080 answers with the
   register its pointer selects (SNAS672A §8.6: the pointer persists, reads
   do not trigger anything) unless a conversion is running, when it NACKs
   (§8.5). An HTU21D/SHT21/Si70xx with no measurement pending NACKs a read
   header (HTU21D "No Hold Master": no ACK until a result is ready).
2. On a NACK, wait out the longest HDC1080 conversion (T + RH at 14 bit,
   12.85 ms typical) and read again: an HDC1080 now answers; a chip that
   still NACKs is no HDC1080.
3. If the bare read was answered: read the device ID register (pointer 0xFF,
   a read-only register). 0x1050 means an HDC1080 (or the register-identical
   HDC1050); only then is the manufacturer ID (pointer 0xFE) read, now that
   an HTU21D is ruled out, and must be 0x5449. 0x1000 is the HDC1000/1008/1010.
   An HTU21D-family chip gets here only if it had an unread no-hold result
   waiting (the bare read took it); 0xFF is not in its command table, which it
   NACKs, and the probe continues with step 4.
4. Otherwise read the HTU21D user register (0xE7, defined and read-only for
   the whole family). Then the second half of the electronic ID (0xFC 0xC9,
   three bytes: ID byte, next byte, CRC-8 init 0x00): SNB_3 names a Si70xx
   (0x15 Si7021, 0x14 Si7020, 0x0D Si7013, 0x06 Si7006; Si7021-A20 §5.3),
   0x32 the HTU2xD/SHT2x (as their libraries report); a chip that NACKs it is
   taken for an HTU21D (TE's datasheet does not list the command).

What it changes: the HDC1080's pointer (left at 0xFF or 0xFE). Nothing that
a driver relies on across transactions, except in one case: a program that
has triggered an HDC1080 conversion and not yet read it will, if the probe
runs in between, read the ID register instead. Run `detect` while nothing
else uses the bus.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from drivers._crc import crc8
from drivers._i2c_io import Link, all_ff

ADDRESS = 0x40
# HDC1080: longest conversion (T 6.35 ms + RH 6.5 ms, typical) plus margin.
HDC1080_BUSY_WAIT_S = 0.015
HDC_POINTER_DEVICE_ID = 0xFF
HDC_POINTER_MANUFACTURER_ID = 0xFE
HDC1080_DEVICE_ID = 0x1050
HDC1000_DEVICE_ID = 0x1000
TI_MANUFACTURER_ID = 0x5449
HTU_CMD_READ_USER = b"\xE7"
HTU_CMD_EID_SECOND = b"\xFC\xC9"
# SNB_3 (Si70xx, Si7021-A20 §5.3) or SNC_1 (HTU2xD/SHT2x) -> part name. 0x32 is also the
# SNB_3 of the temperature-only Si7050 (Si7050 §5.3), which the htu21d driver cannot read:
# its RH command would be NACKed and the read fail with SensorNotFound.
EID_PARTS = {0x15: "Si7021", 0x14: "Si7020", 0x0D: "Si7013", 0x06: "Si7006", 0x32: "HTU21D",
             0x00: "Si70xx", 0xFF: "Si70xx"}  # fmt: skip
SILABS_PARTS = frozenset({"Si7021", "Si7020", "Si7013", "Si7006", "Si70xx"})
# part name -> the sensorkit driver for it
PART_DRIVERS = {"HDC1080": "hdc1080", **{part: "htu21d" for part in EID_PARTS.values()}}


@dataclass(frozen=True)
class Probe:
    """What answered at 0x40, as far as the probe could tell."""

    part: str | None  # "HDC1080", "HDC1000", "Si7021", "HTU21D", ... or None
    family: str | None  # "hdc1080", "htu21d" or None
    answered: bool  # something ACKed at least one transfer
    all_ff: bool = False  # it answered, but every byte read was 0xFF
    user_register: int | None = None  # HTU21D family: the 0xE7 value read
    eid_byte: int | None = None  # HTU21D family: first byte of the 0xFC 0xC9 answer
    device_id: int | None = None  # HDC: the 0xFF register read


def probe_0x40(
    bus: object,
    address: int = ADDRESS,
    *,
    sleep: Callable[[float], None] = time.sleep,
    part: str = "chip",
) -> Probe:
    """Run the probe described in the module docstring; raises BusError if the bus fails.

    `part` only names the expected chip in a BusError message.
    """
    link = Link(bus, address, part)
    first = link.read(2)
    if first is None:
        sleep(HDC1080_BUSY_WAIT_S)
        first = link.read(2)
    if first is not None:
        found = _probe_hdc(link, first)
        if found is not None:
            return found
    user = link.write_read(HTU_CMD_READ_USER, 1)
    if user is None:
        return Probe(None, None, answered=first is not None, all_ff=first is not None and all_ff(first))
    eid = link.write_read(HTU_CMD_EID_SECOND, 3)
    if all_ff(user) and (eid is None or all_ff(eid)):
        return Probe(None, None, answered=True, all_ff=True, user_register=user[0])
    part, eid_byte = "HTU21D", None
    if eid is not None and crc8(eid[:2], init=0x00) == eid[2]:
        eid_byte = eid[0]
        part = EID_PARTS.get(eid_byte, "HTU21D")
    return Probe(part, "htu21d", answered=True, user_register=user[0], eid_byte=eid_byte)


def _probe_hdc(link: Link, first: bytes) -> Probe | None:
    device = link.write_read(bytes([HDC_POINTER_DEVICE_ID]), 2)
    if device is None:
        return None  # not a pointer chip after all: try the HTU21D family
    if all_ff(first, device):
        return Probe(None, None, answered=True, all_ff=True)
    device_id = int.from_bytes(device, "big")
    if device_id == HDC1000_DEVICE_ID:
        return Probe("HDC1000", None, answered=True, device_id=device_id)
    if device_id != HDC1080_DEVICE_ID:
        return Probe(None, None, answered=True, device_id=device_id)
    maker = link.write_read(bytes([HDC_POINTER_MANUFACTURER_ID]), 2)
    if maker is None:
        return Probe(None, None, answered=False)  # it answered the device ID, then went silent
    if int.from_bytes(maker, "big") != TI_MANUFACTURER_ID:
        return Probe(None, None, answered=True, device_id=device_id)
    return Probe("HDC1080", "hdc1080", answered=True, device_id=device_id)


def identify_0x40(bus: object, *, sleep: Callable[[float], None] = time.sleep) -> str | None:
    """The part at 0x40 ("HDC1080", "Si7021", "HTU21D", ...), or None; for `sensorkit detect`.

    `PART_DRIVERS` maps the name to the sensorkit driver. Never raises for a
    NACK; a failing bus raises `drivers.BusError`.
    """
    return probe_0x40(bus, ADDRESS, sleep=sleep).part


__all__ = ["ADDRESS", "PART_DRIVERS", "SILABS_PARTS", "Probe", "identify_0x40", "probe_0x40"]
