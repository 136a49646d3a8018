"""What a valid Byteport request looks like: pure checks of names, values, `_ts` and read ranges.

Kept apart from the server so the rules of API v1 read in one place and are
testable without sockets. Each failure is an HttpError whose message names
the parameter and shows the value cut short.
"""
from __future__ import annotations

import base64
import binascii
import bz2
import datetime
import re
import zlib
from decimal import Decimal
from typing import Union

from sensorkit.emulators._http import HttpError

NAME_PATTERN = re.compile(r"[0-9a-zA-Z_:-]{2,32}")  # API v1 "Names", matched whole
LOG_FIELDS = ("debug", "info", "warn", "error")
META_PREFIX = "_"
KEY_PARAM, TS_PARAM = "_key", "_ts"
MIN_USER_NAMESPACE = 7  # "a namespace created by a user must be longer than 6 characters"
URL_LIMIT = 2048  # bytes of a request-target ("the whole URL is limited to about 2 KB")
# A number as the form carries it: what Python's float() reads, less nan/inf and "_" digit groups.
_NUMBER = re.compile(r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")
_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")
_TS = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,9}))?")
_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?"
                  r"(Z|[+-][0-9]{2}:[0-9]{2})?")
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
ISO_OUT = "%Y-%m-%dT%H:%M:%S.%f"  # how the read API writes times, UTC without an offset (as its example)
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

Value = Union[int, float, str]


def show(text: str) -> str:
    """`text` quoted and cut short: a message must point at the problem, not echo the request."""
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")


def name_problem(name: str) -> str | None:
    if not NAME_PATTERN.fullmatch(name):
        return "must be 2 to 32 characters of 0-9, a-z, A-Z, '-', '_' and ':'"
    if name[0] in "-_" or name[-1] in "-_":
        return "must not start or end with '-' or '_'"
    return None


def check_field_name(name: str) -> str:
    why = name_problem(name)
    if why:
        raise HttpError(400, f"field name {show(name)} is not valid: it {why}; nothing of this store was stored")
    return name


def is_valid_uid(uid: str) -> bool:
    return name_problem(uid) is None


def parse_value(text: str) -> Value:
    """A field's value: an int or float when the text reads as a number (spaces around allowed), else the text."""
    if _INTEGER.fullmatch(text):
        number = int(text)
        if INT64_MIN <= number <= INT64_MAX:
            return number
        return text  # too long to be a number SQLite can keep: the digits are kept as text
    if _NUMBER.fullmatch(text):
        value = float(text)
        return value if value not in (float("inf"), float("-inf")) else text
    return text


def parse_ts(text: str) -> tuple[int, int]:
    """(ms, µs) since the epoch of a `_ts` of seconds with an optional fraction; sub-ms digits are cut off."""
    match = _TS.fullmatch(text)
    if match is None:
        raise HttpError(400, f"_ts {show(text)} is not UNIX time in seconds (digits, optionally a '.' and a "
                             "fraction, such as 1410613385.123)")
    fraction = (match.group(2) or "").ljust(6, "0")[:6]
    micros = int(match.group(1)) * 1_000_000 + int(fraction)
    return micros // 1000, micros


def is_log_field(name: str) -> bool:
    return name in LOG_FIELDS


def check_url_length(target: str) -> None:
    if len(target.encode("utf-8")) > URL_LIMIT:
        raise HttpError(414, f"the URL is {len(target.encode('utf-8')):,} bytes; a GET may have about 2 KB "
                             f"({URL_LIMIT:,} here): send larger data by POST")


# ---------------------------------------------------------------------------------------- reading

def parse_time(text: str, name: str) -> int:
    """µs since the epoch of an ISO 8601 `from`/`to` (UTC when it has no offset)."""
    match = _ISO.fullmatch(text)
    if match is None:
        raise HttpError(400, f"{name}: {show(text)} is not an ISO 8601 time such as 2015-04-01T13:14:15 "
                             "(optionally .ffffff and an offset)")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micro = int((match.group(7) or "").ljust(6, "0"))
    zone = datetime.timezone.utc
    if match.group(8) and match.group(8) != "Z":
        sign = -1 if match.group(8)[0] == "-" else 1
        hours, minutes = int(match.group(8)[1:3]), int(match.group(8)[4:6])
        zone = datetime.timezone(sign * datetime.timedelta(hours=hours, minutes=minutes))
    try:
        moment = datetime.datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
    except ValueError as exc:
        raise HttpError(400, f"{name}: {show(text)} is not a time: {exc}") from None
    return (moment - _EPOCH) // datetime.timedelta(microseconds=1)


def parse_delta_s(text: str, name: str) -> float:
    if not _NUMBER.fullmatch(text) or text.strip().startswith(("+", "-")) or float(text) <= 0:
        raise HttpError(400, f"{name}: must be a positive number, not {show(text)}")
    return float(Decimal(text.strip()))


def format_time_us(micros: int) -> str:
    return (_EPOCH + datetime.timedelta(microseconds=micros)).strftime(ISO_OUT)


# ---------------------------------------------------------------------------------------- objects

def unpack_object(text: str) -> tuple[bytes, str]:
    """The bytes of a base64 object and the compression found by its magic (gzip, zlib, bzip2 or none).

    The service decompresses on download without being told how the object
    was packed, so the format is recognised by its first bytes; data that
    only looks compressed is given back as it is.
    """
    try:
        block = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HttpError(400, f"the value is not base64 ({exc}); an object field takes base64 text") from None
    if block[:2] == b"\x1f\x8b":
        return _try(lambda: zlib.decompress(block, 16 + zlib.MAX_WBITS), block, "gzip")
    if block[:3] == b"BZh":
        return _try(lambda: bz2.decompress(block), block, "bzip2")
    if len(block) >= 2 and block[0] & 0x0F == 8 and (block[0] << 8 | block[1]) % 31 == 0:
        return _try(lambda: zlib.decompress(block), block, "zlib")  # RFC 1950 header: deflate, check bits
    return block, "none"


def _try(decompress: object, block: bytes, name: str) -> tuple[bytes, str]:
    try:
        return decompress(), name  # type: ignore[operator]
    except (OSError, ValueError, zlib.error):
        return block, "none"
