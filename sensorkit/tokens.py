"""JSON Web Tokens, HS256 only: what iobeam's project tokens are.

The local iobeam server signs and verifies them; the iobeam client only reads
the `exp` claim to know when to refresh (it cannot check the signature, and
does not need to). The standard library's `hmac` does the signing, so no JWT
package is needed for one algorithm.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

_HEADER = {"alg": "HS256", "typ": "JWT"}


class TokenError(ValueError):
    """A token that is malformed, badly signed or not an HS256 JWT."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    # The iobeam library accepted both alphabets; so do we.
    text = text.replace("+", "-").replace("/", "_")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenError(f"not base64: {exc}") from None


def _json_part(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(text))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise TokenError(f"the token's {what} is not JSON") from None
    if not isinstance(value, dict):
        raise TokenError(f"the token's {what} is not a JSON object")
    return value


def _split(token: str) -> tuple[str, str, str]:
    if not isinstance(token, str):
        raise TokenError("a token must be a string")
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise TokenError("a JWT has three dot-separated parts")
    return parts[0], parts[1], parts[2]


def encode(claims: dict[str, Any], secret: bytes) -> str:
    """Sign `claims` with HS256."""
    head = _b64encode(json.dumps(_HEADER, separators=(",", ":")).encode())
    body = _b64encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode("ascii"), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64encode(signature)}"


def verify(token: str, secret: bytes) -> dict[str, Any]:
    """The claims of `token` when its HS256 signature is right; else TokenError."""
    head, body, signature = _split(token)
    header = _json_part(head, "header")
    if header.get("alg") != "HS256":
        raise TokenError(f"unsupported algorithm {header.get('alg')!r}; only HS256")
    expected = hmac.new(secret, f"{head}.{body}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64decode(signature)):
        raise TokenError("bad signature")
    return _json_part(body, "claims")


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of `token` without checking the signature (a client cannot)."""
    _, body, _ = _split(token)
    return _json_part(body, "claims")


def expiry_s(token: str) -> float | None:
    """The token's `exp` (seconds since the epoch), or None when it has none."""
    exp = unverified_claims(token).get("exp")
    if exp is None:
        return None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise TokenError("the token's exp claim is not a number")
    return float(exp)
