"""Reading: numbers, text and bytes with a media type; the size bound; the JSON of each."""
from __future__ import annotations

import base64
import dataclasses
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorkit.errors import SensorkitError, ValueTooLarge
from sensorkit.output import JsonlOutput, format_value
from sensorkit.readings import BYTES_JSON_KEYS, JSON_KEYS, MAX_VALUE_BYTES, Reading

TS = 1_700_000_000_000


def make(value: object, media_type: str | None = None, series: str = "door_note") -> Reading:
    return Reading(series, "door", "note", value, "", TS, media_type)  # type: ignore[arg-type]


def test_reading_takes_text_and_bytes_with_a_media_type() -> None:
    assert make("opened by the cat").value == "opened by the cat"
    photo = make(b"\xff\xd8\xff\xe0", "image/jpeg")
    assert (photo.value, photo.media_type) == (b"\xff\xd8\xff\xe0", "image/jpeg")
    assert make("").value == "" and make(b"", "application/octet-stream").value == b""
    for media_type in ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "image/svg+xml",
                       "text/csv", "application/x-www-form-urlencoded", "video/3gpp"):
        assert make(b"x", media_type).media_type == media_type
    assert make(21.5).media_type is None  # numbers as before: positional, six fields


def test_reading_is_immutable() -> None:
    photo = make(b"\x00", "image/png")
    with pytest.raises(dataclasses.FrozenInstanceError):
        photo.media_type = "image/jpeg"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        photo.value = b"\x01"  # type: ignore[misc]


@pytest.mark.parametrize("media_type", [None, "", "jpeg", "image/", "/jpeg", "image/jpeg; q=1", " image/png",
                                        "image/png ", "image/jp eg", "ima(ge/png", "image/png/x", "-image/png",
                                        "a" * 128 + "/b", 7])
def test_reading_bytes_need_a_media_type_of_the_form_type_subtype(media_type: object) -> None:
    with pytest.raises(ValueError, match="type/subtype"):
        make(b"\x00", media_type)  # type: ignore[arg-type]


def test_reading_media_type_only_for_bytes() -> None:
    with pytest.raises(ValueError, match="text carries no media type"):
        make("hello", "text/plain")
    for number in (21.5, 3, True):
        with pytest.raises(ValueError, match="only bytes carry a media type"):
            make(number, "application/octet-stream")


@pytest.mark.parametrize("value", [bytearray(b"ab"), memoryview(b"ab")])
def test_reading_bytes_must_be_bytes(value: object) -> None:
    with pytest.raises(TypeError, match=r"bytes must be bytes, not .*pass bytes\(value\)"):
        make(value, "application/octet-stream")


def test_reading_text_must_be_valid_unicode() -> None:
    undecodable = b"caf\xe9".decode("utf-8", "surrogateescape")  # what os.fsdecode gives for a Latin-1 name
    with pytest.raises(ValueError, match="character 3 is a lone surrogate"):
        make(undecodable)


def test_reading_size_bound_is_one_mib_of_bytes_or_utf8() -> None:
    assert len(make(b"\x00" * MAX_VALUE_BYTES, "application/octet-stream").value) == MAX_VALUE_BYTES
    assert len(make("x" * MAX_VALUE_BYTES).value) == MAX_VALUE_BYTES
    with pytest.raises(ValueTooLarge, match=r"at most 1,048,576 bytes \(1 MiB\), and this one is 1,048,577 bytes"):
        make(b"\x00" * (MAX_VALUE_BYTES + 1), "application/octet-stream")
    euros = "€" * (MAX_VALUE_BYTES // 3 + 1)  # fewer characters than the bound, more bytes of UTF-8
    with pytest.raises(ValueTooLarge, match="1,048,578 bytes of text") as raised:
        make(euros)
    assert (raised.value.size, raised.value.limit) == (len(euros.encode()), MAX_VALUE_BYTES)
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, SensorkitError)
    with pytest.raises(ValueTooLarge, match="2,097,152 bytes of text"):
        make("x" * (2 * MAX_VALUE_BYTES))


def test_reading_still_refuses_what_it_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        make(float("nan"))
    with pytest.raises(TypeError, match="timestamp_ms must be an int"):
        Reading("s", "s", "q", 1.0, "", True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="timestamp_ms must be an int"):
        Reading("s", "s", "q", 1.0, "", 1.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- JSON
def test_reading_json_keys_for_numbers_and_text_are_the_landed_ones() -> None:
    for value in (21.5, 3, True, "opened by the cat\nat 3 am"):
        line = make(value).to_dict()
        assert tuple(line) == JSON_KEYS and line["value"] == value


def test_reading_json_of_bytes_is_base64_with_encoding_and_media_type() -> None:
    line = make(b"\xff\xd8\xff\xe0\x00", "image/jpeg").to_dict()
    assert tuple(line) == BYTES_JSON_KEYS
    assert line["value"] == "/9j/4AA=" and line["encoding"] == "base64" and line["media_type"] == "image/jpeg"


@given(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-2**53, 2**53), st.booleans(),
                 st.text(), st.binary()))
def test_jsonl_output_stays_json_whatever_the_value(value: object) -> None:
    reading = make(value, "application/octet-stream" if isinstance(value, bytes) else None)
    stream = io.StringIO()
    JsonlOutput(stream).write([reading])
    [line] = stream.getvalue().splitlines()  # one line, even for text with newlines
    back = json.loads(line)
    if isinstance(value, bytes):
        assert base64.b64decode(back["value"], validate=True) == value
        assert back["media_type"] == "application/octet-stream"
    else:
        assert back["value"] == value and type(back["value"]) is type(value)


def test_console_shows_text_and_bytes_on_one_short_line() -> None:
    assert format_value("warm") == '"warm"'
    long = format_value("a rather long note\nabout the door, over two lines")
    assert "\n" not in long and len(long) <= 24 and long.endswith('…"')
    assert format_value(b"\x00" * 2048) == "<2,048 bytes>"
    assert format_value(21.456) == "21.46" and format_value(True) == "1"
