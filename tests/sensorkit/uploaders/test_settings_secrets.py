"""Secrets and URLs in uploader settings: a pasted token never echoed; clear-text URLs and paste mistakes told."""
from __future__ import annotations

import logging

import pytest

from sensorkit.uploaders import build_uploader
from sensorkit.uploaders.iobeam import Iobeam
from sensorkit.uploaders.settings import ENV, IOBEAM, UploaderConfig, clean_token, coerce, looks_like_variable_name

# Realistic shapes: an iobeam project token (an HS256 JWT) and an opaque key of letters and digits.
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0eXAiOiJwcm9qZWN0IiwicGlkIjoxLCJ3cml0ZSI6dHJ1ZX0."
       "k7HqZ2x9Lm3Pq8RtW4vNc1BdF6gJ0sUy-Ae5TiKoXw")
OPAQUE = "k7HqZ2x9Lm3Pq8RtW4vNc1Bd"  # a legal variable name by the letter, but nobody names one like that
TOKEN_ENV = IOBEAM.key("token_env")


def pieces(secret: str, size: int = 4) -> set[str]:
    return {secret[i:i + size] for i in range(len(secret) - size + 1)}


def leaked(secret: str, text: str) -> list[str]:
    """Every run of 4 or more characters of `secret` that shows in `text`."""
    return sorted(piece for piece in pieces(secret) if piece in text)


def settings(server, **overrides):
    values = {k.name: k.default for k in IOBEAM.keys if k.default is not None}
    values.update(project_id=server.project_id, token=server.project_token, base_url=server.url)
    values.update(overrides)
    return UploaderConfig("iobeam", values, line=4, key_lines={"token": 6, "base_url": 7})


@pytest.mark.parametrize("token", [JWT, OPAQUE, f"Bearer {JWT}"])
def test_token_env_holding_a_token_is_refused_without_showing_any_of_it(token):
    assert TOKEN_ENV is not None and TOKEN_ENV.kind == ENV and TOKEN_ENV.hides_value
    with pytest.raises(ValueError) as caught:
        coerce(TOKEN_ENV, token)
    message = str(caught.value)
    assert "does not look like the name of an environment variable" in message
    assert leaked(token, message) == []


@pytest.mark.parametrize("name", ["IOBEAM_TOKEN", "iobeam_token", "TOKEN2", "HomeDir", "_X", "SENSORKIT_TOKEN_2"])
def test_token_env_takes_real_variable_names(name):
    assert looks_like_variable_name(name) and coerce(TOKEN_ENV, name) == name


@pytest.mark.parametrize(("url", "warned"), [
    ("http://pi.example.org:8080/v1/", True),
    ("http://192.168.1.20/v1/", True),
    ("http://[fe80::1]:8080/", True),
    ("https://api.iobeam.com/v1/", False),
    ("http://127.0.0.1:8080/v1/", False),
    ("http://127.3.4.5/", False),
    ("http://localhost:8080/", False),
    ("http://[::1]:8080/", False),
])
def test_plain_http_to_another_machine_is_warned(iobeam_server, url, warned):
    notes = settings(iobeam_server, base_url=url).warnings()
    assert bool(notes) == warned
    if warned:
        (line, message), = notes
        assert line == 7 and "[uploader.iobeam] key 'base_url'" in message and "clear text" in message


def test_the_cleartext_warning_never_shows_a_password_in_the_url(iobeam_server):
    (_, message), = settings(iobeam_server, base_url="http://me:s3cretPass@pi.example.org/v1/").warnings()
    assert "pi.example.org" in message and "s3cret" not in message and "me:" not in message


@pytest.mark.parametrize("pasted", ["'{}'", '"{}"', "Bearer {}", "bearer  {}", "\"Bearer {}\"", "`{}`"])
def test_a_quoted_or_bearer_token_is_cleaned_said_and_works(iobeam_server, tmp_path, pasted):
    token = iobeam_server.project_token
    config = settings(iobeam_server, token=pasted.format(token))
    uploader = build_uploader(config, tmp_path)
    uploader.check_device()  # the server accepts it: before, it answered 403 "Incorrect padding"
    notes = config.warnings()
    assert notes and all(line == 6 and "[uploader.iobeam] key 'token'" in text for line, text in notes)
    assert all(token not in text and token[-8:] not in text for _, text in notes)
    assert clean_token(pasted.format(token))[0] == token


def test_a_clean_token_has_no_notes():
    assert clean_token(f"  {JWT} ") == (JWT, [])


def test_the_library_client_cleans_the_token_and_warns_once_in_the_log(iobeam_server, caplog):
    caplog.set_level(logging.WARNING, logger="sensorkit.uploaders.iobeam")
    client = Iobeam(None, iobeam_server.project_id, f"Bearer '{iobeam_server.project_token}'",
                    backend=iobeam_server.url)
    client.register_device()
    assert client.token == iobeam_server.project_token and client.is_registered()
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.WARNING]  # Bearer, then quotes
    assert all(iobeam_server.project_token[-8:] not in r.getMessage() for r in caplog.records)
    caplog.clear()
    Iobeam(None, 1, JWT, backend="http://pi.example.org:8080")
    assert ["clear text" in r.getMessage() for r in caplog.records] == [True]
