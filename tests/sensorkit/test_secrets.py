"""No command ever shows a secret: every command run with a known token, and all its output searched.

Also the ways a token gets in without sitting in the config: `token_file` (its permissions checked)
and systemd credentials (`LoadCredential=` → `$CREDENTIALS_DIRECTORY`, a bare `token_file` name).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from sensorkit.config import parse_config
from sensorkit.errors import ConfigError
from tests.sensorkit.test_cli import sensorkit, write
from tests.sensorkit.test_cli_iobeam import EmulatorProcess

SENSOR = '[device]\nboard = "simulated"\n[[sensor]]\nname = "air"\ndriver = "sht3x"\ninterval = "200ms"\n'


def pieces(secret: str, size: int = 8) -> list[str]:
    """Every run of `size` characters of the secret: none may show, not only the whole of it."""
    return [secret[i:i + size] for i in range(len(secret) - size + 1)]


def assert_hidden(secret: str, *outputs: str) -> None:
    text = "\n".join(outputs)
    shown = [piece for piece in pieces(secret) if piece in text]
    assert not shown, f"the secret shows in the output: {shown[:3]}"


@pytest.fixture
def server(tmp_path: Path):
    process = EmulatorProcess(cwd=tmp_path)
    yield process
    process.stop()


def test_secrets_no_command_shows_the_token(tmp_path: Path, server: EmulatorProcess) -> None:
    token = server.token
    config = write(tmp_path / "sensorkit.toml", SENSOR + f'[uploader.iobeam]\nproject_id = {server.project_id}\n'
                   f'token_env = "IOBEAM_TOKEN"\nbase_url = "{server.url}/v1/"\n')
    dead = write(tmp_path / "dead.toml", SENSOR + '[uploader.iobeam]\nproject_id = 1\ntoken_env = "IOBEAM_TOKEN"\n'
                 'base_url = "http://127.0.0.1:9/v1/"\n')
    env = {"IOBEAM_TOKEN": token}
    runs = [
        ("-vv", "validate", "-c", str(config)),
        ("-vv", "read", "--simulate", "-c", str(config), "--json"),
        ("-vv", "register", "-c", str(config)),
        ("-vv", "run", "--simulate", "-c", str(config), "--duration", "2", "--output", "jsonl"),
        ("-vv", "run", "--simulate", "-c", str(dead), "--duration", "1", "--output", "jsonl",
         "--state-dir", str(tmp_path / "dead-state")),
        ("-vv", "register", "-c", str(dead), "--state-dir", str(tmp_path / "dead-state")),
        ("outbox", "status", "--json"),
        ("outbox", "list-dead", "--json"),
        ("-vv", "doctor", "-c", str(config), "--board", "simulated", "--json"),
        ("-vv", "doctor", "-c", str(dead), "--board", "simulated", "--state-dir", str(tmp_path / "dead-state")),
        ("service", "install", "--print", "-c", str(config), "--user", "pi"),
    ]
    for args in runs:
        result = sensorkit(*args, cwd=tmp_path, env_extra=env)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        assert_hidden(token, result.stdout, result.stderr)
    # A token written into a config that others can read is warned about, and still not shown.
    pasted = write(tmp_path / "pasted.toml", SENSOR + f'[uploader.iobeam]\nproject_id = 1\ntoken = "{token}"\n'
                   f'base_url = "{server.url}/v1/"\n')
    pasted.chmod(0o644)
    for args in (("-vv", "validate", "-c", str(pasted)), ("-vv", "doctor", "-c", str(pasted), "--board", "simulated",
                                                          "--json")):
        result = sensorkit(*args, cwd=tmp_path)
        assert_hidden(token, result.stdout, result.stderr)
        assert "chmod 600" in result.stdout + result.stderr


def test_secrets_token_file_is_read_and_its_permissions_checked(tmp_path: Path) -> None:
    secret = tmp_path / "iobeam-token"
    secret.write_text("k7HqZ2x9Lm3Pq8Rt.W4vNc1Bd\n")
    secret.chmod(0o600)
    text = SENSOR + f'[uploader.iobeam]\nproject_id = 1\ntoken_file = "{secret}"\n'
    [uploader] = parse_config(text, "c.toml").uploaders
    assert uploader["token"] == "k7HqZ2x9Lm3Pq8Rt.W4vNc1Bd"
    assert "k7Hq" not in repr(uploader)
    assert parse_config(text, "c.toml").warnings == ()
    secret.chmod(0o640)
    [warning] = parse_config(text, "c.toml").warnings
    assert f"chmod 600 {secret}" in warning and "k7Hq" not in warning
    with pytest.raises(ConfigError, match="exactly one of token or token_env or token_file"):
        parse_config(text + 'token = "x.y.z"\n', "c.toml")
    with pytest.raises(ConfigError, match="there is no file"):
        parse_config(SENSOR + '[uploader.iobeam]\nproject_id = 1\ntoken_file = "/nowhere/token"\n', "c.toml")


def test_secrets_systemd_credential_by_its_name(tmp_path: Path) -> None:
    """`LoadCredential=iobeam-token:/etc/sensorkit/iobeam-token` and `token_file = "iobeam-token"`."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "iobeam-token").write_text("a.b.credential\n")
    os.chmod(credentials / "iobeam-token", 0o400)
    text = SENSOR + '[uploader.iobeam]\nproject_id = 1\ntoken_file = "iobeam-token"\n'
    [uploader] = parse_config(text, "c.toml", environ={"CREDENTIALS_DIRECTORY": str(credentials)}).uploaders
    assert uploader["token"] == "a.b.credential"
    with pytest.raises(ConfigError, match="there is no file 'iobeam-token'"):
        parse_config(text, "c.toml", environ={})  # outside the service, a bare name is a relative path


def test_secrets_byteport_key_file(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("s3cr3t-byteport-key\n")
    key.chmod(0o600)
    text = SENSOR + f'[uploader.byteport]\nnamespace = "greenhouse"\ndevice_uid = "pi1"\nkey_file = "{key}"\n'
    [uploader] = parse_config(text, "c.toml").uploaders
    assert uploader["key"] == "s3cr3t-byteport-key" and "s3cr3t" not in repr(uploader)
