"""[uploader.NAME] tables: keys, secrets from the environment, series rules."""
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


def parse(text, environ=None):
    return parse_config(textwrap.dedent(text), "conf.toml", environ or {})


def problems_of(text, environ=None):
    with pytest.raises(ConfigError) as info:
        parse(text, environ)
    return info.value.problems


def test_iobeam_table_with_defaults():
    config = parse(SENSOR + """
        [uploader.iobeam]
        project_id = 42
        token = "abc.def.ghi"
    """)
    iobeam = config.uploader("iobeam")
    assert iobeam["project_id"] == 42 and iobeam["token"] == "abc.def.ghi"
    assert iobeam["base_url"] == "https://api.iobeam.com/v1/"
    assert iobeam["batch_size"] == 1000 and iobeam.get("device_id") is None
    assert config.enabled_uploaders == (iobeam,)


def test_token_from_the_environment_never_shows_in_repr():
    config = parse("""
        [uploader.iobeam]
        project_id = 1
        token_env = "IOBEAM_TOKEN"
        device_id = "greenhouse-1"
        base_url = "http://127.0.0.1:8080"
        batch_size = 500
        max_backoff = "10m"
    """, {"IOBEAM_TOKEN": " s3cret \n"})
    iobeam = config.uploader("iobeam")
    assert iobeam["token"] == "s3cret"
    assert "token_env" not in iobeam.values
    assert iobeam["base_url"] == "http://127.0.0.1:8080/" and iobeam["max_backoff"] == 600.0
    assert "s3cret" not in repr(config)


def test_a_missing_environment_variable_is_named():
    [problem] = problems_of("""
        [uploader.iobeam]
        project_id = 1
        token_env = "IOBEAM_TOKEN"
    """)
    assert problem.startswith("conf.toml:4: [uploader.iobeam] key 'token_env'")
    assert "IOBEAM_TOKEN is not set" in problem


def test_every_problem_in_an_uploader_table_is_reported_with_its_line():
    problems = problems_of("""
        [uploader.iobeam]
        project_id = "seven"
        token = "secret-value"
        token_env = "ALSO"
        base_url = "api.iobeam.com"
        device_id = "has space"
        batch_sise = 10
    """, {"ALSO": "x"})
    text = "\n".join(problems)
    assert "conf.toml:3: [uploader.iobeam] key 'project_id': must be an integer" in text
    assert "give exactly one of token or token_env or token_file (both given)" in text
    assert "conf.toml:6: [uploader.iobeam] key 'base_url'" in text
    assert "conf.toml:7: [uploader.iobeam] key 'device_id'" in text
    assert "did you mean 'batch_size'" in text
    assert "secret-value" not in text


def test_a_token_is_required():
    [problem] = problems_of("""
        [uploader.iobeam]
        project_id = 1
    """)
    assert "give exactly one of token or token_env or token_file (neither given)" in problem


def test_unknown_uploaders_get_a_suggestion():
    [problem] = problems_of("""
        [uploader.iobeem]
        project_id = 1
    """)
    assert "unknown uploader (did you mean 'iobeam'?)" in problem


@pytest.mark.parametrize("name", ["time", "Time", "ALL", "time_offset"])
def test_series_names_reserved_by_iobeam_are_refused(name):
    [problem] = problems_of(SENSOR + f"""
        series = {{ temperature = "{name}" }}

        [uploader.iobeam]
        project_id = 1
        token = "t"
    """)
    assert f"'{name}' is reserved by iobeam" in problem and problem.startswith("conf.toml:5:")


def test_reserved_names_are_fine_when_iobeam_is_disabled():
    config = parse(SENSOR + """
        series = { temperature = "time" }

        [uploader.iobeam]
        enabled = false
        project_id = 1
        token = "t"
    """)
    assert config.enabled_uploaders == ()


def test_outbox_settings_and_their_problems():
    config = parse("""
        [outbox]
        commit_interval = "2s"
        max_readings = 5000
    """)
    assert config.outbox["commit_interval"] == 2.0 and config.outbox["max_readings"] == 5000
    assert config.outbox["sync_interval"] == 10.0 and config.outbox["max_age"] == 30 * 86400.0
    problems = problems_of("""
        [outbox]
        commit_interval = "soon"
        max_readings = 10
        max_ages = "1d"
    """)
    text = "\n".join(problems)
    assert "conf.toml:3: [outbox] key 'commit_interval': must be a duration" in text
    assert "conf.toml:4: [outbox] key 'max_readings': must be at least 1000" in text
    assert "did you mean 'max_age'" in text
