"""The iobeam client's errors, and the one place that turns an HTTP answer into one of them.

::

    IobeamError (an UploadError)
    ├── IobeamUnavailable (also TransientUploadError)  no answer, 5xx, 429: try again later
    ├── IobeamAuthError   (also TransientUploadError)  the token was refused even after a refresh
    ├── IobeamRefused     (also PermanentUploadError)  the server refused the request itself (4xx)
    │   └── DuplicateIdError                            the device id is registered already (code 150)
    └── (bad names, ids and values raise ValueError before anything is sent)

An auth failure counts as transient for delivery: the readings are fine, the
token is not, and they must wait (not be discarded) until it is fixed.
"""
from __future__ import annotations

from sensorkit.errors import PermanentUploadError, TransientUploadError, UploadError
from sensorkit.uploaders import http

CODE_DUPLICATE_ID = 150
CODE_DUPLICATE_NAME = 151


class IobeamError(UploadError):
    """A call to iobeam failed; `status`, `code` and `server_message` say how (None when unknown)."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None,
                 server_message: str | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.server_message = server_message
        self.retry_after_s = retry_after_s


class IobeamUnavailable(IobeamError, TransientUploadError):
    """No answer, a server error or a rate limit: the same request may succeed later."""


class IobeamAuthError(IobeamError, TransientUploadError):
    """The project token was refused, even after trying to refresh it."""


class IobeamRefused(IobeamError, PermanentUploadError):
    """The server refused the request itself; sending it again will not help."""


class DuplicateIdError(IobeamRefused):
    """The device id asked for is already registered in the project (error code 150)."""


def error_for(exc: http.HTTPError, method: str, path: str) -> IobeamError:
    what = f"iobeam {method} /v1/{path.split('?')[0]} answered {exc.status}: {exc.message}"
    kwargs = {"status": exc.status, "code": exc.code, "server_message": exc.message,
              "retry_after_s": exc.retry_after_s}
    if exc.status in (401, 403):
        return IobeamAuthError(what, **kwargs)
    if exc.code == CODE_DUPLICATE_ID:
        return DuplicateIdError(what + " — that device id is taken; choose another or adopt it with "
                                "register_or_set_id()", **kwargs)
    if exc.status == 429 or exc.status >= 500 or exc.status in (408, 409):
        return IobeamUnavailable(what, **kwargs)
    if 400 <= exc.status < 500:
        return IobeamRefused(what, **kwargs)
    return IobeamUnavailable(what, **kwargs)  # a 2xx that is not JSON, 3xx, ...
