"""Form parameters (``application/x-www-form-urlencoded``) from a query string or a POST body, strictly.

`urllib.parse` does the decoding with strict parsing and strict UTF-8, so a
parameter without ``=``, bad percent-encoding or bytes that are not UTF-8
are refused (400) rather than turned into something the client did not send.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from sensorkit.emulators._http.messages import HttpError, Request

FORM_TYPE = "application/x-www-form-urlencoded"


def parse_pairs(text: str, where: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of a urlencoded string, in order; 400 naming `where` when it is malformed."""
    if not text:
        return []
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise HttpError(400, f"the {where} is not UTF-8 once percent-decoded (byte {exc.start} of a value); "
                             "text must be UTF-8") from None
    except ValueError as exc:
        raise HttpError(400, f"the {where} is not urlencoded name=value pairs: {exc}") from None


def query_pairs(request: Request) -> list[tuple[str, str]]:
    """The request's query parameters, in order, strictly decoded from the raw request-target."""
    return parse_pairs(urlsplit(request.target).query, "query string")


def body_pairs(request: Request) -> list[tuple[str, str]]:
    """The parameters of a urlencoded POST body (none when it is empty); 415 for another content type, 400 malformed."""
    if not request.body:
        return []
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise HttpError(415, f"the body must be sent as Content-Type: {FORM_TYPE}, not {content_type or 'none'}")
    try:
        text = request.body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise HttpError(400, f"the body is not urlencoded (byte {exc.start} is not ASCII; percent-encode it)") \
            from None
    return parse_pairs(text, "body")


def single(pairs: list[tuple[str, str]], where: str) -> dict[str, str]:
    """The pairs as a dict, in order; 400 for a name given twice (one store carries one value per field)."""
    found: dict[str, str] = {}
    for name, value in pairs:
        if name in found:
            raise HttpError(400, f"parameter {name!r} is given twice in the {where}; give it once")
        found[name] = value
    return found
