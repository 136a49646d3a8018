"""What the Byteport client puts on the wire, without a server: names, values, `_ts`, packed objects."""
from __future__ import annotations

import base64
import bz2
import datetime
import zlib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorkit.uploaders.byteport import data
from sensorkit.uploaders.byteport.data import (
    check_field_name,
    check_name,
    encode_value,
    format_ts,
    pack,
    store_form,
    timestamp_ms,
)

UTC = datetime.timezone.utc


# ----------------------------------------------------------------------------------------- names

@pytest.mark.parametrize("name", ["ab", "barDev1", "cart-44", "Speed1", "a:b", "x" * 32, "a_b", "9z"])
def test_check_name_accepts_the_api_documents_names(name):
    assert check_name(name, "field name") == name


@pytest.mark.parametrize(("name", "why"), [
    ("a", "2 to 32"), ("x" * 33, "2 to 32"), ("temp.c", "2 to 32"), ("tempé", "2 to 32"), ("a b", "2 to 32"),
    ("-ab", "start or end"), ("_ab", "start or end"), ("ab-", "start or end"), ("ab_", "start or end"),
])
def test_check_name_refuses_with_the_offending_name_and_the_rule(name, why):
    with pytest.raises(ValueError) as info:
        check_name(name, "field name")
    assert repr(name) in str(info.value) and why in str(info.value)


def test_a_meta_field_name_is_refused_saying_how_to_give_the_time():
    with pytest.raises(ValueError, match=r"timestamp=") as info:
        check_field_name("_ts")
    assert "meta field" in str(info.value)


def test_log_fields_are_legal_data_names_at_the_client():
    form = store_form("k", {"info": "All systems nominal", "current_time": 1.5}, None)
    assert form == [("_key", "k"), ("info", "All systems nominal"), ("current_time", "1.5")]


# ----------------------------------------------------------------------------------------- values

@pytest.mark.parametrize(("value", "text"), [
    (20, "20"), (-3, "-3"), (21.5, "21.5"), (0.1, "0.1"), (1e20, "1e+20"), (True, "1"), (False, "0"),
    ("mom", "mom"), ("", ""), ("grön 🌱", "grön 🌱"), (b"text", "text"),
])
def test_encode_value_writes_numbers_and_text_exactly(value, text):
    assert encode_value("f", value) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_travels_as_text_that_reads_back_to_the_same_float(value):
    assert float(encode_value("f", value)) == value


@pytest.mark.parametrize(("value", "fragment"), [
    (float("nan"), "finite"), (float("inf"), "finite"), (b"\xff\xfe", "not UTF-8 text"),
    ("a\udc80b", "lone surrogate"), (None, "not a number or text"), ([1], "not a number or text"),
])
def test_encode_value_refuses_what_byteport_cannot_take(value, fragment):
    with pytest.raises(ValueError, match=fragment) as info:
        encode_value("level", value)
    assert "'level'" in str(info.value)


# ----------------------------------------------------------------------------------------- _ts

@pytest.mark.parametrize(("ms", "text"), [
    (1410613385123, "1410613385.123"), (1410613385120, "1410613385.12"), (1410613385100, "1410613385.1"),
    (1410613385000, "1410613385"), (1410613380000, "1410613380"), (1410613385001, "1410613385.001"),
    (0, "0"), (999, "0.999"),
])
def test_format_ts_writes_seconds_with_exact_ms_and_no_trailing_zeros(ms, text):
    assert format_ts(ms) == text


@given(st.integers(min_value=0, max_value=10**16))
def test_format_ts_is_exact_for_every_ms(ms):
    text = format_ts(ms)
    assert Decimal(text) * 1000 == ms
    assert not ("." in text and text.endswith("0"))


@pytest.mark.parametrize(("timestamp", "ms"), [
    (1410613385123, 1410613385123),  # our int ms
    (1410613385, 1410613385000),  # epoch seconds
    (1410613385.123, 1410613385123),  # float seconds: from its shortest decimal form, no float error
    (1410613385.1235, 1410613385124),  # halfway at the ms rounds to even ...
    (1410613385.1225, 1410613385122),
    (datetime.datetime(2014, 9, 13, 13, 3, 5, 123000, tzinfo=UTC), 1410613385123),
    (datetime.datetime(2014, 9, 13, 15, 3, 5, 123499, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
     1410613385123),
    (data.MS_THRESHOLD, data.MS_THRESHOLD), (data.MS_THRESHOLD - 1, (data.MS_THRESHOLD - 1) * 1000),
])
def test_timestamp_ms_takes_datetimes_seconds_and_int_ms(timestamp, ms):
    assert timestamp_ms(timestamp) == ms


@pytest.mark.parametrize("timestamp", [datetime.datetime(2014, 9, 13), -1, -0.5, float("nan"), True, "1410613385"])
def test_timestamp_ms_refuses_naive_negative_and_other_things(timestamp):
    with pytest.raises(ValueError):
        timestamp_ms(timestamp)


def test_store_form_puts_the_key_and_ts_first():
    assert store_form("K", {"temp": 20, "last_word": "mom"}, 1410613385123) == [
        ("_key", "K"), ("_ts", "1410613385.123"), ("temp", "20"), ("last_word", "mom")]
    assert store_form("K", {}, None) == [("_key", "K")]  # a heartbeat


# ----------------------------------------------------------------------------------------- objects

def test_pack_gzip_is_the_reference_clients_zlib_stream_and_bzip2_is_bzip2():
    content = b"status: ok\n" * 50
    assert zlib.decompress(base64.b64decode(pack(content, "gzip"))) == content
    assert bz2.decompress(base64.b64decode(pack(content, "bzip2"))) == content
    assert base64.b64decode(pack(content, None)) == content
    assert base64.b64decode(pack("grön", None)) == "grön".encode()


def test_pack_refuses_an_unknown_compression():
    with pytest.raises(ValueError, match="'lzma' is not supported"):
        pack(b"x", "lzma")
