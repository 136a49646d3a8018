"""The Byteport client's errors, and the one place that turns an HTTP answer into one of them.

::

    ByteportError (an UploadError)
    ├── ByteportUnavailable (also TransientUploadError)  no answer, 5xx, 429: try again later
    ├── ByteportForbidden   (also TransientUploadError)  403: a wrong key, or the namespace does not
    │   │                                                take writes by this HTTP method
    │   └── ByteportLoginFailed                          the user name or password (read API) was refused
    └── ByteportRefused     (also PermanentUploadError)  the server refused the request itself (4xx)
        ├── ByteportDeviceNotFound   404: the uid is not registered in the namespace (it requires that)
        ├── ByteportInvalidUid       406: the uid is not allowed
        └── ByteportRequestTooLarge  414, or a GET-only namespace and a store past the URL limit
                                     (raised before anything is sent)
    (bad names, values and timestamps raise ValueError before anything is sent)

Each carries `status` and the server's own words (`server_message`). A 403
counts as transient, as iobeam's refused token does: the readings are fine,
the key is not, and they must wait until it is fixed. No message ever holds
the write key: it travels in a GET's query string, so only paths are shown.
"""
from __future__ import annotations

from sensorkit.errors import PermanentUploadError, TransientUploadError, UploadError
from sensorkit.uploaders import http


class ByteportError(UploadError):
    """A call to Byteport failed; `status` and `server_message` say how (None when unknown)."""

    def __init__(self, message: str, *, status: int | None = None, server_message: str | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message
        self.retry_after_s = retry_after_s


class ByteportUnavailable(ByteportError, TransientUploadError):
    """No answer, a server error or a rate limit: the same request may succeed later."""


class ByteportForbidden(ByteportError, TransientUploadError):
    """403: the key is wrong, or the namespace does not allow writes by this HTTP method."""


class ByteportLoginFailed(ByteportForbidden):
    """Logging in for the read calls failed: wrong user name or password, or no session cookie."""


class ByteportRefused(ByteportError, PermanentUploadError):
    """The server refused the request itself; sending it again will not help."""


class ByteportDeviceNotFound(ByteportRefused):
    """404: the namespace requires registered devices and this uid is not one of them."""


class ByteportInvalidUid(ByteportRefused):
    """406: the server does not allow this device uid."""


class ByteportRequestTooLarge(ByteportRefused):
    """The store does not fit a GET URL (414), and the namespace takes writes by GET only."""


_HINTS = {
    403: "check the namespace's write key, and that its HTTP write method (Security tab) allows",
    404: "register the device in the namespace, or check the namespace and uid",
    406: "the device uid is not allowed; choose another",
}


def error_for(exc: http.HTTPError, method: str, path: str, *, secret: str | None = None) -> ByteportError:
    """The error for an HTTP error answer to `method path` (a path: never a URL with its query string)."""
    message = exc.message
    if secret:
        message = message.replace(secret, "***")  # a server that echoes the request must not leak the key
    what = f"Byteport {method} {path} answered {exc.status}: {message}"
    kwargs = {"status": exc.status, "server_message": message, "retry_after_s": exc.retry_after_s}
    if exc.status == 403:
        return ByteportForbidden(f"{what} — {_HINTS[403]} {method}", **kwargs)
    if exc.status == 404:
        return ByteportDeviceNotFound(f"{what} — {_HINTS[404]}", **kwargs)
    if exc.status == 406:
        return ByteportInvalidUid(f"{what} — {_HINTS[406]}", **kwargs)
    if exc.status == 414:
        return ByteportRequestTooLarge(f"{what} — send it by POST", **kwargs)
    if exc.status == 429 or exc.status >= 500 or exc.status in (408, 409):
        return ByteportUnavailable(what, **kwargs)
    if 400 <= exc.status < 500:
        return ByteportRefused(what, **kwargs)
    return ByteportUnavailable(what, **kwargs)  # a 3xx, ...
