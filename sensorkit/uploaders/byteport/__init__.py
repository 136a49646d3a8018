"""A Byteport client with the names of the seed's reference library (already snake_case).

The seed README's examples run with only the constructor's server and
credentials changed (Byteport's service is gone; any server that speaks its
API v1 will do, such as ``sensorkit emulate byteport``)::

    from sensorkit.uploaders.byteport import ByteportHttpClient

    client = ByteportHttpClient("myownspace", KEY, "barDev1", base_url="http://127.0.0.1:8000/")
    client.store({"info": "All systems nominal", "current_time": time.time()})
    client.store({"temperature": 21.5}, timestamp_ms=now_ms)       # one _ts for every field
    client.base64_encode_and_store_file("status_files", "/tmp/status_data", compression="bzip2")

`ByteportHttpClient` (= `ByteportHttpPostClient`) stores by POST; the
`ByteportHttpGetClient` by GET, switching to POST past the 2 KB URL limit.
The wire protocol is shared/protocols/byteport.md: one store is one form of
`_key`, `_ts` (seconds with the ms as a fraction) and the fields, every
value as UTF-8 text; names are 2-32 of ``0-9a-zA-Z-_:`` with no ``-``/``_``
at either end; ``debug``/``info``/``warn``/``error`` fields are log messages.

Errors::

    ByteportError (an UploadError)
    ├── ByteportUnavailable (also TransientUploadError)  no answer, 5xx, 429: try again later
    ├── ByteportForbidden   (also TransientUploadError)  403: the key, or the HTTP method
    │   └── ByteportLoginFailed                          the read API's login was refused
    └── ByteportRefused     (also PermanentUploadError)  the server refused the request itself (4xx)
        ├── ByteportDeviceNotFound   404: the uid is not registered (the namespace requires it)
        ├── ByteportInvalidUid       406: the uid is not allowed
        └── ByteportRequestTooLarge  414, or past the URL limit of a GET-only namespace (before sending)
    (bad names, values and timestamps raise ValueError before anything is sent)

The write key travels in a GET's query string, so it is kept out of every
message, and urllib3's request log lines are scrubbed of it.

Modules: `data` (names, values, `_ts`, packing objects; no I/O), `errors`
(the tree above and the HTTP answer -> error mapping), `files` (files and
directories as fields, the directory poller), `read_api` (login and the read
calls), `client` (the clients).
"""
from __future__ import annotations

from sensorkit.errors import PermanentUploadError, TransientUploadError, UploadError
from sensorkit.uploaders.byteport.client import (
    API_ROOT,
    DEFAULT_BASE_URL,
    GET_URL_LIMIT,
    HTTP_WRITE_METHODS,
    ByteportHttpClient,
    ByteportHttpGetClient,
    ByteportHttpPostClient,
    server_root,
)
from sensorkit.uploaders.byteport.data import (
    COMPRESSIONS,
    LOG_LEVELS,
    MS_THRESHOLD,
    check_field_name,
    check_name,
    encode_value,
    format_ts,
    pack,
    timestamp_ms,
    ts_param,
)
from sensorkit.uploaders.byteport.errors import (
    ByteportDeviceNotFound,
    ByteportError,
    ByteportForbidden,
    ByteportInvalidUid,
    ByteportLoginFailed,
    ByteportRefused,
    ByteportRequestTooLarge,
    ByteportUnavailable,
)
from sensorkit.uploaders.byteport.files import DirectoryPoller, read_directory, read_text

__all__ = [
    "API_ROOT", "COMPRESSIONS", "DEFAULT_BASE_URL", "GET_URL_LIMIT", "HTTP_WRITE_METHODS", "LOG_LEVELS",
    "MS_THRESHOLD", "ByteportDeviceNotFound", "ByteportError", "ByteportForbidden", "ByteportHttpClient",
    "ByteportHttpGetClient", "ByteportHttpPostClient", "ByteportInvalidUid", "ByteportLoginFailed",
    "ByteportRefused", "ByteportRequestTooLarge", "ByteportUnavailable", "DirectoryPoller", "PermanentUploadError",
    "TransientUploadError", "UploadError", "check_field_name", "check_name", "encode_value", "format_ts", "pack",
    "read_directory", "read_text", "server_root", "timestamp_ms", "ts_param",
]
