"""An iobeam client with the names of the original Python library.

A program written for the old library moves over by changing one import line
and, since the iobeam Cloud is gone, giving the base URL of a compatible
server::

    from sensorkit.uploaders import iobeam          # was: from iobeam import iobeam

    client = iobeam.Iobeam(PATH, PROJECT_ID, PROJECT_TOKEN, backend="http://127.0.0.1:8080/v1/")
    client.registerDevice()
    client.addDataPoint("temperature", iobeam.DataPoint(21.5, timestamp=now_ms))
    client.send()

Every camelCase name is an alias of a snake_case one (`register_device`,
`add_data_point`, ...), which new code should use. The wire protocol is the
one in shared/protocols/iobeam.md: imports of at most 1000 points in the
format that needs fewer requests (tables where series share timestamps, the
series format where they do not), µs on the wire, the token refreshed a day before it expires and once
more when the server answers 401/403.

Errors::

    IobeamError (an UploadError)
    ├── IobeamUnavailable (also TransientUploadError)  no answer, 5xx, 429: try again later
    ├── IobeamAuthError   (also TransientUploadError)  the token was refused even after a refresh
    ├── IobeamRefused     (also PermanentUploadError)  the server refused the request itself (4xx)
    │   └── DuplicateIdError                            the device id is registered already (code 150)
    └── (bad names, ids and values raise ValueError before anything is sent)

An auth failure counts as transient for delivery: the readings are fine, the
token is not, and they must wait (not be discarded) until it is fixed.

Modules: `data` (names, values, points, series, data stores, imports in
both formats; no I/O), `errors` (the tree above and the HTTP answer -> error mapping),
`client` (`Iobeam`). Every public name is importable from here, as the seed
library's `iobeam` module had them.
"""
from __future__ import annotations

from sensorkit.errors import PermanentUploadError, TransientUploadError, UploadError
from sensorkit.uploaders.iobeam.client import DEFAULT_BASE_URL, DEVICE_ID_FILE, REFRESH_MARGIN_S, Iobeam, api_base_url
from sensorkit.uploaders.iobeam.data import (
    DEVICE_ID_RE,
    MAX_POINTS_PER_REQUEST,
    RESERVED_SERIES,
    DataPoint,
    DataSeries,
    DataStore,
    Import,
    Number,
    SeriesImport,
    Table,
    _now_ms,  # noqa: F401 - kept where the tests and old callers found it
    check_device_id,
    check_series_name,
    imports,
    series_imports,
    tables,
    tables_from_series,
)
from sensorkit.uploaders.iobeam.errors import (
    CODE_DUPLICATE_ID,
    CODE_DUPLICATE_NAME,
    DuplicateIdError,
    IobeamAuthError,
    IobeamError,
    IobeamRefused,
    IobeamUnavailable,
)

__all__ = [
    "CODE_DUPLICATE_ID", "CODE_DUPLICATE_NAME", "DEFAULT_BASE_URL", "DEVICE_ID_FILE", "DEVICE_ID_RE",
    "MAX_POINTS_PER_REQUEST", "REFRESH_MARGIN_S", "RESERVED_SERIES", "DataPoint", "DataSeries", "DataStore",
    "DuplicateIdError", "Import", "Iobeam", "IobeamAuthError", "IobeamError", "IobeamRefused",
    "IobeamUnavailable", "Number", "PermanentUploadError", "SeriesImport", "Table", "TransientUploadError",
    "UploadError", "api_base_url", "check_device_id", "check_series_name", "imports", "series_imports", "tables",
    "tables_from_series",
]
