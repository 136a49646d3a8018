"""HS256 tokens: the local iobeam server signs them, the client reads their expiry."""
from __future__ import annotations

import base64
import json

import pytest

from sensorkit import tokens

SECRET = b"test-secret"


def test_tokens_round_trip_claims():
    token = tokens.encode({"pid": 7, "exp": 1_800_000_000}, SECRET)
    assert tokens.verify(token, SECRET) == {"pid": 7, "exp": 1_800_000_000}
    assert tokens.expiry_s(token) == 1_800_000_000


def test_tokens_match_a_known_jwt():
    # The example token of RFC 7519 section 3.1's companion (jwt.io's HS256 default, secret "your-256-bit-secret").
    token = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxN"
             "TE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
    assert tokens.verify(token, b"your-256-bit-secret")["name"] == "John Doe"


def test_tokens_reject_a_forged_signature():
    token = tokens.encode({"pid": 1}, SECRET)
    with pytest.raises(tokens.TokenError, match="bad signature"):
        tokens.verify(token, b"another-secret")
    head, body, sig = token.split(".")
    forged_body = base64.urlsafe_b64encode(json.dumps({"pid": 2}).encode()).rstrip(b"=").decode()
    with pytest.raises(tokens.TokenError):
        tokens.verify(f"{head}.{forged_body}.{sig}", SECRET)


@pytest.mark.parametrize("bad", ["", "abc", "a.b", "a.b.c.d", "!!.!!.!!", 42])
def test_tokens_reject_malformed(bad):
    with pytest.raises(tokens.TokenError):
        tokens.unverified_claims(bad)


def test_tokens_refuse_other_algorithms():
    head = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(b'{"pid":1}').rstrip(b"=").decode()
    with pytest.raises(tokens.TokenError, match="HS256"):
        tokens.verify(f"{head}.{body}.", SECRET)


def test_tokens_read_the_standard_base64_alphabet_too():
    claims = {"exp": 1_900_000_000, "note": "??>>"}  # encodes to '+' and '/' in standard base64
    body = base64.b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert "+" in body or "/" in body
    assert tokens.unverified_claims(f"x.{body}.y") == claims


def test_tokens_without_exp_have_no_expiry():
    assert tokens.expiry_s(tokens.encode({"pid": 1}, SECRET)) is None
    with pytest.raises(tokens.TokenError, match="exp"):
        tokens.expiry_s(tokens.encode({"exp": "soon"}, SECRET))
