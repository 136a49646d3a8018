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
one in shared/protocols/iobeam.md: table-format imports of at most 1000
points, µs on the wire, the token refreshed a day before it expires and once
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
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union

from sensorkit import tokens
from sensorkit.errors import PermanentUploadError, TransientUploadError, UploadError
from sensorkit.uploaders import http
from sensorkit.uploaders.settings import IOBEAM_DEVICE_ID_RE, IOBEAM_RESERVED_SERIES, check_base_url

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.iobeam.com/v1/"
DEVICE_ID_FILE = "iobeam_device_id"
DEVICE_ID_RE = IOBEAM_DEVICE_ID_RE
RESERVED_SERIES = IOBEAM_RESERVED_SERIES
MAX_POINTS_PER_REQUEST = 1000
REFRESH_MARGIN_S = 86400.0  # a token counts as expired one day before its exp
CODE_DUPLICATE_ID = 150
CODE_DUPLICATE_NAME = 151

Number = Union[int, float]


# --------------------------------------------------------------------------- errors


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


# --------------------------------------------------------------------------- names and values


def check_device_id(device_id: Any) -> str:
    if not isinstance(device_id, str) or not DEVICE_ID_RE.match(device_id):
        raise ValueError(f"device id {device_id!r} is not valid: use letters, digits, '_', ':' or '-'")
    return device_id


def check_series_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"series name {name!r} is not valid: it must be a non-empty string")
    if name.lower() in RESERVED_SERIES:
        raise ValueError(f"series name {name!r} is reserved by iobeam (time, time_offset and all, in any case); "
                         "choose another")
    return name


def _check_value(value: Any) -> Number:
    if isinstance(value, bool):
        return int(value)  # JSON true is not a number; iobeam stores 0/1
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"value {value} cannot be sent: iobeam takes finite numbers only")
        return value
    raise ValueError(f"value {value!r} is not a number (int or float)")


def _check_timestamp_ms(timestamp: Any) -> int:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError(f"timestamp {timestamp!r} must be an int of ms since the epoch")
    return timestamp


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DataPoint:
    """One value at one time (ms since the epoch; now when not given)."""

    value: Number
    timestamp: int = field(default_factory=_now_ms)

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _check_value(self.value))
        if self.timestamp is None:
            object.__setattr__(self, "timestamp", _now_ms())
        _check_timestamp_ms(self.timestamp)

    def getValue(self) -> Number:  # noqa: N802 - the seed library's name
        return self.value

    def getTimestamp(self) -> int:  # noqa: N802
        return self.timestamp


class DataSeries:
    """A named collection of DataPoints."""

    def __init__(self, name: str, points: Iterable[DataPoint] | None = None) -> None:
        self.name = check_series_name(name)
        self.points = list(points or [])
        for point in self.points:
            if not isinstance(point, DataPoint):
                raise ValueError(f"series '{name}': {point!r} is not a DataPoint")

    def __len__(self) -> int:
        return len(self.points)

    def getName(self) -> str:  # noqa: N802
        return self.name

    def getPoints(self) -> list[DataPoint]:  # noqa: N802
        return list(self.points)


class DataStore:
    """Rows of values for fixed columns: `add(timestamp_ms, {column: value})`.

    A column missing from a row is sent as null.
    """

    def __init__(self, columns: Sequence[str]) -> None:
        if isinstance(columns, str) or not columns:
            raise ValueError("a DataStore needs a list of one or more column names")
        self.columns = tuple(check_series_name(c) for c in columns)
        if len({c.lower() for c in self.columns}) != len(self.columns):
            raise ValueError(f"column names must be unique: {list(self.columns)}")
        self._rows: dict[int, dict[str, Number]] = {}
        self._lock = threading.Lock()

    def add(self, timestamp: int, values: Mapping[str, Any]) -> None:
        """Add a row; a second row at the same timestamp updates the first."""
        _check_timestamp_ms(timestamp)
        if not values:
            raise ValueError("a row needs at least one value")
        unknown = [k for k in values if k not in self.columns]
        if unknown:
            raise ValueError(f"{unknown} are not columns of this DataStore {list(self.columns)}")
        checked = {k: _check_value(v) for k, v in values.items()}
        with self._lock:
            self._rows.setdefault(timestamp, {}).update(checked)

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> list[tuple[int, dict[str, Number]]]:
        with self._lock:
            return sorted((t, dict(v)) for t, v in self._rows.items())

    def _take(self) -> list[tuple[int, dict[str, Number]]]:
        with self._lock:
            rows = sorted(self._rows.items())
            self._rows = {}
        return rows


@dataclass(frozen=True)
class Table:
    """One import request's worth of data: columns and rows of (timestamp_ms, values)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[int, tuple[Number | None, ...]], ...]

    def body(self, project_id: int, device_id: str) -> dict[str, Any]:
        return {
            "project_id": project_id,
            "device_id": device_id,
            "timefmt": "usec",
            "sources": {
                "fields": ["time", *self.columns],
                "data": [[t * 1000, *values] for t, values in self.rows],
            },
        }

    @property
    def points(self) -> int:
        return sum(v is not None for _, values in self.rows for v in values)


def tables(columns: Sequence[str], rows: Sequence[tuple[int, Mapping[str, Number]]]) -> list[Table]:
    """Split rows into tables of at most MAX_POINTS_PER_REQUEST cells (rows = 1000 // columns)."""
    columns = tuple(columns)
    if len(columns) > MAX_POINTS_PER_REQUEST:
        raise ValueError(f"{len(columns)} columns cannot fit one import of {MAX_POINTS_PER_REQUEST} points")
    per_request = MAX_POINTS_PER_REQUEST // len(columns)
    out = []
    for start in range(0, len(rows), per_request):
        chunk = rows[start:start + per_request]
        out.append(Table(columns, tuple((t, tuple(v.get(c) for c in columns)) for t, v in chunk)))
    return out


def tables_from_series(series: Mapping[str, Mapping[int, Number]]) -> list[Table]:
    """Tables for named series of {timestamp_ms: value}.

    Series with exactly the same timestamps (temperature and humidity from one
    measurement) share a table, so nothing is padded with nulls; others get a
    table each.
    """
    groups: dict[tuple[int, ...], list[str]] = {}
    for name, points in series.items():
        if points:
            groups.setdefault(tuple(sorted(points)), []).append(name)
    out: list[Table] = []
    for times, names in groups.items():
        rows = [(t, {n: series[n][t] for n in names}) for t in times]
        out.extend(tables(names, rows))
    return out


# --------------------------------------------------------------------------- the client


class Iobeam:
    """A client for one project and (once registered) one device.

    `path` is a directory where the device id is kept in `iobeam_device_id`
    (None: not kept). `backend` is the base URL of the API, with or without
    its `/v1/` (default the iobeam Cloud's). `on_token` is called with each
    refreshed token so a caller can keep it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        project_id: int,
        project_token: str,
        deviceId: str | None = None,  # noqa: N803 - the seed library's name
        backend: str | None = None,
        *,
        device_id: str | None = None,
        session: Any = None,
        timeout_s: tuple[float, float] = http.DEFAULT_TIMEOUT_S,
        clock: Any = None,
        on_token: Callable[[str], None] | None = None,
    ) -> None:
        if isinstance(project_id, bool) or not isinstance(project_id, int) or project_id <= 0:
            raise ValueError(f"project_id must be a positive integer, not {project_id!r}")
        if not isinstance(project_token, str) or not project_token.strip():
            raise ValueError("project_token must be a non-empty string (the token from your project settings)")
        self.project_id = project_id
        self._token = project_token.strip()
        self._path = Path(path) if path is not None else None
        self.base_url = api_base_url(backend or DEFAULT_BASE_URL)
        self._session = session or http.session_for(self.base_url)
        self._timeout_s = timeout_s
        self._clock = clock
        self._on_token = on_token
        self._lock = threading.RLock()
        self._series: dict[str, dict[int, Number]] = {}
        self._stores: list[DataStore] = []
        self._unsent: list[Table] = []
        self._device_id: str | None = None
        self._refusal_seen_for: str | None = None
        wanted = device_id if device_id is not None else deviceId
        if wanted is not None:
            self._set_device_id(check_device_id(wanted))
        else:
            self._device_id = self._read_device_id()

    # ------------------------------------------------------------------ device
    def _id_file(self) -> Path | None:
        return self._path / DEVICE_ID_FILE if self._path is not None else None

    def _read_device_id(self) -> str | None:
        file = self._id_file()
        if file is None or not file.is_file():
            return None
        text = file.read_text(encoding="utf-8").strip()
        if not text:
            return None
        if not DEVICE_ID_RE.match(text):
            raise ValueError(f"{file} holds {text[:40]!r}, which is not a device id — delete the file to "
                             "register again, or write the right id into it")
        return text

    def _set_device_id(self, device_id: str) -> None:
        self._device_id = device_id
        file = self._id_file()
        if file is None:
            return
        file.parent.mkdir(parents=True, exist_ok=True)
        partial = file.with_name(file.name + ".partial")
        partial.write_text(device_id, encoding="utf-8")
        os.replace(partial, file)  # a power cut leaves the old id or the new one, never half of one

    def get_device_id(self) -> str | None:
        return self._device_id

    def set_device_id(self, device_id: str) -> None:
        """Use an id registered some other way (CLI, web app, an earlier install)."""
        self._set_device_id(check_device_id(device_id))

    def is_registered(self) -> bool:
        return self._device_id is not None

    def register_device(self, device_id: str | None = None, device_name: str | None = None, *,
                        set_on_duplicate: bool = False, again: bool = False) -> Iobeam:
        """Register this device (the server makes up an id when none is given).

        Does nothing when an id is known and no different one is asked for; a
        different id replaces the known one. With `set_on_duplicate`, an id the
        project already has is adopted instead of raising DuplicateIdError;
        `again` registers even a known id (for a server that has forgotten it).
        """
        if device_id is not None:
            check_device_id(device_id)
        if not again and self._device_id is not None and device_id in (None, self._device_id):
            return self
        body: dict[str, Any] = {"project_id": self.project_id}
        if device_id is not None:
            body["device_id"] = device_id
        if device_name is not None:
            body["device_name"] = device_name
        try:
            answer = self._call("POST", "devices", body)
        except DuplicateIdError:
            if not set_on_duplicate:
                raise
            self._set_device_id(device_id)  # type: ignore[arg-type]  # only raised when an id was given
            return self
        new_id = answer.get("device_id") if isinstance(answer, dict) else None
        if not isinstance(new_id, str) or not DEVICE_ID_RE.match(new_id):
            raise IobeamUnavailable(f"iobeam at {self.base_url} answered the registration without a usable "
                                    f"device_id: {str(answer)[:120]}")
        self._set_device_id(new_id)
        return self

    def register_or_set_id(self, device_id: str) -> Iobeam:
        """Register `device_id`, or adopt it when the project already has it."""
        return self.register_device(device_id, set_on_duplicate=True)

    # ------------------------------------------------------------------ data
    def add_data_point(self, series: str, point: DataPoint) -> None:
        check_series_name(series)
        if not isinstance(point, DataPoint):
            raise ValueError(f"{point!r} is not a DataPoint")
        with self._lock:
            self._series.setdefault(series, {})[point.timestamp] = point.value

    def add_data_series(self, series: DataSeries) -> None:
        if not isinstance(series, DataSeries):
            raise ValueError(f"{series!r} is not a DataSeries")
        with self._lock:
            points = self._series.setdefault(series.name, {})
            for point in series.points:
                points[point.timestamp] = point.value

    def create_data_store(self, columns: Sequence[str]) -> DataStore:
        """A DataStore whose rows the next send() delivers."""
        store = DataStore(columns)
        self.add_data_store(store)
        return store

    def add_data_store(self, store: DataStore) -> None:
        if not isinstance(store, DataStore):
            raise ValueError(f"{store!r} is not a DataStore")
        with self._lock:
            if store not in self._stores:
                self._stores.append(store)

    def pending_points(self) -> int:
        with self._lock:
            return (sum(len(p) for p in self._series.values())
                    + sum(t.points for t in self._unsent)
                    + sum(sum(len(v) for _, v in s.rows()) for s in self._stores))

    def send(self) -> bool:
        """Send everything added so far; True when the server took all of it.

        Blocking. Data leaves memory only once the server has accepted the
        request that carried it: when an error is raised, what was not
        accepted is kept and goes with the next send().
        """
        if self._device_id is None:
            raise IobeamError("no device id yet: call register_device() first, or give the id of a "
                              "registered device")
        with self._lock:
            if self._series:
                self._unsent.extend(tables_from_series(self._series))
                self._series = {}
            for store in self._stores:
                rows = store._take()
                if rows:
                    self._unsent.extend(tables(store.columns, rows))
            while self._unsent:
                self.import_table(self._unsent[0])
                self._unsent.pop(0)
        return True

    def import_table(self, table: Table) -> None:
        """Send one table (at most MAX_POINTS_PER_REQUEST cells) as one import request."""
        if self._device_id is None:
            raise IobeamError("no device id yet: call register_device() first")
        cells = len(table.rows) * len(table.columns)
        if cells > MAX_POINTS_PER_REQUEST:
            raise ValueError(f"a table of {cells} cells is over the {MAX_POINTS_PER_REQUEST}-point limit; "
                             "split it with tables()")
        self._call("POST", "imports?fmt=table", table.body(self.project_id, self._device_id))

    def get_timestamp(self) -> int:
        """The server's clock in ms since the epoch, for a device whose own clock is not to be trusted."""
        answer = self._call("GET", "devices/timestamp", None)
        stamp = answer.get("server_timestamp") if isinstance(answer, dict) else None
        if isinstance(stamp, bool) or not isinstance(stamp, int):
            raise IobeamUnavailable(f"iobeam at {self.base_url} sent no usable server_timestamp: {str(answer)[:120]}")
        return stamp

    # ------------------------------------------------------------------ token
    @property
    def token(self) -> str:
        return self._token

    def _now_s(self) -> float:
        return self._clock.time_ms() / 1000 if self._clock is not None else time.time()

    def token_needs_refresh(self) -> bool:
        try:
            exp = tokens.expiry_s(self._token)
        except tokens.TokenError:
            return False  # not a JWT we can read: use it as it is until the server says no
        return exp is not None and self._now_s() >= exp - REFRESH_MARGIN_S

    def refresh_token(self) -> str:
        """Trade the token for a new one (POST /tokens/project) and use that from now on."""
        answer = self._request("POST", "tokens/project", {"refresh_token": self._token}, auth=False)
        new = answer.get("token") if isinstance(answer, dict) else None
        if not isinstance(new, str) or not new:
            raise IobeamUnavailable(f"iobeam at {self.base_url} answered the token refresh without a token")
        self._token = new
        log.info("iobeam project token refreshed")
        if self._on_token is not None:
            self._on_token(new)
        return new

    # ------------------------------------------------------------------ requests
    def _call(self, method: str, path: str, body: Any) -> Any:
        """A call with the token: refreshed first when due, and once more on a 401/403."""
        if self.token_needs_refresh() and self._refusal_seen_for != self._token:
            try:
                self.refresh_token()
            except IobeamUnavailable as exc:  # try again next call; the old token may still work
                log.warning("could not refresh the iobeam token before it expires: %s", exc)
            except IobeamError as exc:  # the server said no: do not ask again for this token
                self._refusal_seen_for = self._token
                log.warning("iobeam would not refresh the project token (%s); using it until it expires", exc)
        try:
            return self._request(method, path, body)
        except IobeamAuthError:
            try:
                self.refresh_token()
            except IobeamError as exc:
                raise IobeamAuthError(
                    f"iobeam refused the project token and refreshing it failed ({exc}) — put a valid "
                    "token with write access in the config (token or token_env)", status=exc.status,
                    code=exc.code, server_message=exc.server_message) from None
            return self._request(method, path, body)

    def _request(self, method: str, path: str, body: Any, *, auth: bool = True) -> Any:
        url = self.base_url + path
        try:
            return http.call(self._session, method, url, json_body=body, token=self._token if auth else None,
                             timeout_s=self._timeout_s)
        except http.ServerUnreachable as exc:
            raise IobeamUnavailable(f"iobeam: {exc}") from None
        except http.HTTPError as exc:
            raise _error_for(exc, method, path) from None


    # The seed library's camelCase names, kept so old programs run unchanged.
    def registerDevice(self, deviceId: str | None = None, deviceName: str | None = None) -> Iobeam:  # noqa: N802,N803
        return self.register_device(deviceId, deviceName)

    registerOrSetId = register_or_set_id  # noqa: N815
    getDeviceId = get_device_id  # noqa: N815
    setDeviceId = set_device_id  # noqa: N815
    isRegistered = is_registered  # noqa: N815
    addDataPoint = add_data_point  # noqa: N815
    addDataSeries = add_data_series  # noqa: N815
    addDataStore = add_data_store  # noqa: N815
    createDataStore = create_data_store  # noqa: N815
    getTimestamp = get_timestamp  # noqa: N815


def _error_for(exc: http.HTTPError, method: str, path: str) -> IobeamError:
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


def api_base_url(url: str) -> str:
    """The API root of a server: `http://host:8080` and `http://host:8080/v1` both give `.../v1/`."""
    url = check_base_url(url)
    return url if url.endswith("/v1/") else url + "v1/"
