"""[uploader.byteport]: its keys, the key from the environment, and the series names Byteport cannot take."""
from __future__ import annotations

import textwrap

import pytest

from sensorkit.config import parse_config
from sensorkit.errors import ConfigError

SENSOR = """\
[[sensor]]
name = "air"
driver = "sht3x"
"""

TABLE = """
[uploader.byteport]
namespace = "greenhouse"
key = "k3y"
device_uid = "pi-1"
"""


def parse(text, environ=None):
    return parse_config(textwrap.dedent(text), "conf.toml", environ or {})


def problems_of(text, environ=None):
    with pytest.raises(ConfigError) as info:
        parse(text, environ)
    return info.value.problems


def test_byteport_table_with_defaults():
    byteport = parse(SENSOR + TABLE).uploader("byteport")
    assert (byteport["namespace"], byteport["key"], byteport["device_uid"]) == ("greenhouse", "k3y", "pi-1")
    assert byteport["base_url"] == "https://api.byteport.se/" and byteport["method"] == "post"
    assert byteport["batch_size"] == 1000 and byteport["send_delay"] == 5.0
    assert "k3y" not in repr(byteport)


def test_the_key_from_the_environment_and_method_get():
    byteport = parse(SENSOR + """
        [uploader.byteport]
        namespace = "greenhouse"
        key_env = "BYTEPORT_KEY"
        device_uid = "pi-1"
        method = "GET"
        base_url = "http://127.0.0.1:8000"
    """, {"BYTEPORT_KEY": " s3cret\n"}).uploader("byteport")
    assert byteport["key"] == "s3cret" and byteport["method"] == "get"
    assert byteport["base_url"] == "http://127.0.0.1:8000/"


@pytest.mark.parametrize(("line", "fragment"), [
    ('method = "put"', "key 'method': must be one of 'post', 'get'"),
    ('namespace = "g"', "key 'namespace': must be 2 to 32 characters"),
    ('device_uid = "pi_"', "key 'device_uid': must not start or end with '-' or '_'"),
    ('device_uid = "pi 1"', "key 'device_uid': must be 2 to 32 characters"),
])
def test_bad_values_name_the_key_and_the_rule(line, fragment):
    key = line.split(" = ")[0]
    table = "\n".join(x for x in TABLE.splitlines() if not x.startswith(key + " ")) + "\n" + line + "\n"
    [problem] = problems_of(SENSOR + table)
    assert fragment in problem


def test_namespace_device_uid_and_one_key_are_required():
    problems = problems_of(SENSOR + "\n[uploader.byteport]\n")
    assert any("'namespace': missing" in p for p in problems)
    assert any("'device_uid': missing" in p for p in problems)
    assert any("exactly one of key or key_env" in p for p in problems)


def test_a_pasted_key_in_key_env_is_not_shown():
    [problem] = problems_of(SENSOR + TABLE.replace('key = "k3y"', 'key_env = "f00b4s3cretk3yXYZ123abc"'))
    assert "f00b4s3cretk3yXYZ123abc" not in problem and "give it as `key`" in problem


@pytest.mark.parametrize("series", ["info", "Error", "debug", "warn"])
def test_a_series_named_like_a_log_level_is_refused_at_load(series):
    [problem] = problems_of(SENSOR + f'series = {{ temperature = "{series}" }}\n' + TABLE)
    assert f"'{series}' is a log level at Byteport" in problem and "series = { temperature" in problem


def test_a_one_character_series_is_no_byteport_field_but_fine_without_byteport():
    sensor = SENSOR + 'series = { temperature = "t" }\n'
    [problem] = problems_of(sensor + TABLE)
    assert "'t' is not a Byteport field name" in problem
    parse(sensor + TABLE.replace("[uploader.byteport]", "[uploader.byteport]\nenabled = false"))
    parse(sensor)


def test_warnings_speak_of_the_key_and_never_show_it():
    config = parse(SENSOR + TABLE.replace('key = "k3y"', "key = \"'k3y'\"") + 'base_url = "http://192.0.2.7:8000/"\n')
    byteport = config.uploader("byteport")
    assert byteport["key"] == "'k3y'"  # cleaned by the client, with a warning
    notes = [message for _, message in byteport.warnings()]
    assert any("the key is wrapped in quotes" in n for n in notes)
    assert any("the key travels in clear text" in n for n in notes)
    assert not any("token" in n or "k3y" in n for n in notes)
