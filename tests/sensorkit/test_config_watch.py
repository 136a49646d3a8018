"""`[[watch]]` tables: keys, defaults, paths from the config file's directory, and every way to get one wrong."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from sensorkit.config import load_config, parse_config
from sensorkit.errors import ConfigError
from tests.sensorkit.test_cli import assert_bad_input, sensorkit, write

BYTEPORT = """
[uploader.byteport]
namespace = "greenhouse"
key = "k3y"
device_uid = "pi-1"
"""


def parse(text, base_dir):
    return parse_config(textwrap.dedent(text), "conf.toml", {}, base_dir=base_dir)


def problems_of(text, base_dir):
    with pytest.raises(ConfigError) as info:
        parse(text, base_dir)
    return info.value.problems


@pytest.fixture
def files(tmp_path):
    (tmp_path / "files").mkdir()
    return tmp_path / "files"


def test_watch_defaults_and_a_config_of_only_watches_is_valid(tmp_path, files):
    config = parse('[[watch]]\npath = "files"\n' + BYTEPORT, tmp_path)
    [watch] = config.watches
    assert (watch.name, watch.path, watch.device_uid) == ("files", files, "pi-1")
    assert (watch.interval_s, watch.compression, watch.media_type, watch.pattern, watch.enabled) == (
        5.0, None, None, "*", True)
    assert watch.line == 1 and watch.key_lines == {"path": 2}
    config.require_inputs()  # watches are inputs: no [[sensor]] needed


def test_watch_every_key(tmp_path, files):
    [watch] = parse(f"""
        [[watch]]
        name = "snaps"
        path = "{files}"
        device_uid = "camera-1"
        interval = "1m"
        compression = "bzip2"
        media_type = "image/jpeg"
        pattern = "snap*"
        enabled = true
    """ + BYTEPORT, tmp_path / "elsewhere").watches
    assert (watch.name, watch.path, watch.device_uid, watch.interval_s) == ("snaps", files, "camera-1", 60.0)
    assert (watch.compression, watch.media_type, watch.pattern) == ("bzip2", "image/jpeg", "snap*")


def test_watch_relative_path_is_from_the_config_files_directory_not_the_working_one(tmp_path, files, monkeypatch):
    config_dir = tmp_path / "etc"
    (config_dir / "data").mkdir(parents=True)
    config = write(config_dir / "sensorkit.toml", '[[watch]]\npath = "data"\n' + BYTEPORT)
    monkeypatch.chdir(files)
    assert load_config(config).watches[0].path == config_dir / "data"


@pytest.mark.parametrize(("table", "fragment"), [
    ('path = "files"\nintervl = "5s"', "key 'intervl': unknown key (did you mean 'interval'?)"),
    ('path = "files"\ncompression = "gzp"', "key 'compression': 'gzp' is not a compression (did you mean 'gzip'?)"),
    ('path = "files"\ncompression = true', "key 'compression': true is not a compression"),
    ('path = "files"\ninterval = "fast"', "key 'interval': must be a duration"),
    ('path = "files"\ninterval = "10ms"', "key 'interval': 10ms is shorter than the shortest, 100ms"),
    ('path = "files"\ninterval = "2w"', "key 'interval': 2w is longer than the longest interval"),
    ('path = "files"\nmedia_type = "jpeg"', "key 'media_type': a string ('jpeg') is not a media type"),
    ('path = "files"\npattern = "a/*"', "key 'pattern': must be a glob on the file name"),
    ('path = "files"\npattern = ""', "key 'pattern': must be a glob on the file name"),
    ('path = "files"\ndevice_uid = "pi_"', "key 'device_uid': a string ('pi_') is not a Byteport device uid"),
    ('path = "files"\nenabled = "yes"', "key 'enabled': must be true or false"),
    ('path = "files"\nname = "a b"', "key 'name': a string ('a b') is not a usable name"),
    ('name = "x"', "key 'path': missing"),
    ('path = 3', "key 'path': must be the path of a directory"),
    ('path = "nowhere"', "does not exist (a relative path is taken from the config file's directory"),
    ('path = "files/f"', "is not a directory"),
    ('path = ".hidden dir"', "the directory's name '.hidden dir' cannot stand in for it"),
])
def test_watch_bad_tables_say_where_and_how_to_fix(tmp_path, files, table, fragment):
    (files / "f").write_text("x")
    (tmp_path / ".hidden dir").mkdir()
    [problem] = problems_of("[[watch]]\n" + table + "\n" + BYTEPORT, tmp_path)
    assert problem.startswith("conf.toml:") and "[[watch]]" in problem
    assert fragment in problem, problem


def test_watch_without_byteport_is_bad_input(tmp_path, files):
    [problem] = problems_of('[[watch]]\npath = "files"\n', tmp_path)
    assert problem.startswith("conf.toml:1: [[watch]] #1: ") and "add one" in problem
    assert "[uploader.byteport]" in problem


def test_watch_with_a_broken_byteport_table_reports_the_table_only(tmp_path, files):
    problems = problems_of('[[watch]]\npath = "files"\n[uploader.byteport]\nnamespace = "greenhouse"\n', tmp_path)
    assert problems and all("[uploader.byteport]" in p and "[[watch]]" not in p for p in problems)


def test_watch_names_are_unique_among_watches_and_sensors(tmp_path, files):
    (tmp_path / "air").mkdir()
    problems = problems_of("""
        [[sensor]]
        name = "air"
        driver = "sht3x"

        [[watch]]
        path = "air"

        [[watch]]
        path = "files"

        [[watch]]
        path = "files"
        device_uid = "pi-2"
    """ + BYTEPORT, tmp_path)
    assert len(problems) == 2
    assert "a sensor is already called 'air'" in problems[0] and "conf.toml:6:" in problems[0]
    assert "another [[watch]] is already called 'files'" in problems[1]


def test_a_disabled_watch_may_name_a_directory_not_made_yet_and_is_no_input(tmp_path):
    config = parse('[[watch]]\npath = "later"\nenabled = false\n' + BYTEPORT, tmp_path)
    assert config.watches[0].path == tmp_path / "later" and config.enabled_watches == ()
    with pytest.raises(ConfigError, match=r"all 1 \[\[watch\]\] table\(s\) have enabled = false"):
        config.require_inputs()


def test_no_sensor_and_no_watch_says_a_watch_would_do(tmp_path):
    with pytest.raises(ConfigError, match=r"or a \[\[watch\]\] table"):
        parse(BYTEPORT, tmp_path).require_inputs()


def test_watch_single_brackets_is_explained(tmp_path, files):
    [problem] = problems_of('[watch]\npath = "files"\n' + BYTEPORT, tmp_path)
    assert "write [[watch]] (double brackets)" in problem


def test_validate_exits_2_for_a_watch_of_a_missing_directory(tmp_path: Path):
    config = write(tmp_path / "sensorkit.toml", '[[watch]]\npath = "files"\n' + BYTEPORT)
    assert_bad_input(sensorkit("validate", "-c", str(config), cwd=tmp_path),
                     f"sensorkit.toml:2: [[watch]] #1 key 'path': {tmp_path / 'files'} does not exist",
                     f"mkdir -p {tmp_path / 'files'}")


def test_validate_lists_the_watches(tmp_path: Path):
    (tmp_path / "files").mkdir()
    config = write(tmp_path / "sensorkit.toml", '[[watch]]\npath = "files"\ninterval = "30s"\ncompression = "gzip"\n'
                   '[[watch]]\nname = "old"\npath = "gone"\nenabled = false\n' + BYTEPORT)
    os.chmod(config, 0o600)
    result = sensorkit("validate", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 enabled watch(es) of a directory, to Byteport:" in result.stdout
    assert f"  files            {tmp_path / 'files'}/* every 30s to device " in result.stdout
    assert ", gzip" in result.stdout and "  old              disabled (enabled = false)" in result.stdout
