"""`Iobeam`: a client for one project and (once registered) one device, with the seed library's names."""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from sensorkit import tokens
from sensorkit.uploaders import http
from sensorkit.uploaders.iobeam.data import (
    DEVICE_ID_RE,
    MAX_POINTS_PER_REQUEST,
    DataPoint,
    DataSeries,
    DataStore,
    Import,
    Number,
    Table,
    check_device_id,
    check_series_name,
    imports,
)
from sensorkit.uploaders.iobeam.errors import (
    DuplicateIdError,
    IobeamAuthError,
    IobeamError,
    IobeamUnavailable,
    error_for,
)
from sensorkit.uploaders.settings import check_base_url, clean_token, cleartext_warning

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.iobeam.com/v1/"
DEVICE_ID_FILE = "iobeam_device_id"
REFRESH_MARGIN_S = 86400.0  # a token counts as expired one day before its exp


class Iobeam:
    """A client for one project and (once registered) one device.

    `path` is a directory where the device id is kept in `iobeam_device_id`
    (None: not kept). `backend` is the base URL of the API, with or without
    its `/v1/` (default the iobeam Cloud's). `on_token` is called with each
    refreshed token so a caller can keep it. Quotes around the token and a
    leading `Bearer ` (paste mistakes) are removed; that, and a plain http://
    URL to another machine, is logged as a warning unless `warn` is False.
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
        warn: bool = True,
    ) -> None:
        if isinstance(project_id, bool) or not isinstance(project_id, int) or project_id <= 0:
            raise ValueError(f"project_id must be a positive integer, not {project_id!r}")
        if not isinstance(project_token, str) or not project_token.strip():
            raise ValueError("project_token must be a non-empty string (the token from your project settings)")
        self.project_id = project_id
        self._token, notes = clean_token(project_token)
        if not self._token:
            raise ValueError("project_token holds only quotes or 'Bearer ': give the token from your project settings")
        self._path = Path(path) if path is not None else None
        self.base_url = api_base_url(backend or DEFAULT_BASE_URL)
        cleartext = cleartext_warning(self.base_url)
        if warn:  # the uploader turns these off: the config loader reports the same from its settings
            for note in notes + ([cleartext] if cleartext else []):
                log.warning("iobeam client: %s", note)
        self._session = session or http.session_for(self.base_url)
        self._timeout_s = timeout_s
        self._clock = clock
        self._on_token = on_token
        self._lock = threading.RLock()
        self._series: dict[str, dict[int, Number]] = {}
        self._stores: list[DataStore] = []
        self._unsent: list[Import] = []
        self._device_id: str | None = None
        self._refusal_seen_for: str | None = None
        self._expiry_of: str | None = None  # the token whose exp `_expiry_s` is
        self._expiry_s: float | None = None
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

        Blocking. Everything added (points, series and data stores' rows)
        goes in the fewest requests `imports()` finds: tables where series
        share their timestamps, the series format where they do not. Data
        leaves memory only once the server has accepted the request that
        carried it: when an error is raised, what was not accepted is kept
        and goes with the next send().
        """
        if self._device_id is None:
            raise IobeamError("no device id yet: call register_device() first, or give the id of a "
                              "registered device")
        with self._lock:
            pending, self._series = self._series, {}
            for store in self._stores:  # after the points: a store's value wins, as it did when sent last
                rows = store._take()
                if not rows:
                    continue
                columns = {c: pending.setdefault(c, {}) for c in store.columns}
                for timestamp, values in rows:
                    for column, value in values.items():
                        columns[column][timestamp] = value
            if pending:
                self._unsent.extend(imports(pending))
            while self._unsent:
                self.send_import(self._unsent[0])
                self._unsent.pop(0)
        return True

    def send_import(self, data: Import) -> None:
        """Send one import (a Table or a SeriesImport of at most MAX_POINTS_PER_REQUEST points) as one request."""
        if self._device_id is None:
            raise IobeamError("no device id yet: call register_device() first")
        if isinstance(data, Table):
            cells = len(data.rows) * len(data.columns)
            if cells > MAX_POINTS_PER_REQUEST:
                raise ValueError(f"a table of {cells} cells is over the {MAX_POINTS_PER_REQUEST}-point limit; "
                                 "split it with tables()")
        elif data.points > MAX_POINTS_PER_REQUEST:
            raise ValueError(f"an import of {data.points} points is over the {MAX_POINTS_PER_REQUEST}-point "
                             "limit; split it with series_imports()")
        self._call("POST", data.path, data.body(self.project_id, self._device_id))

    def import_table(self, table: Table) -> None:
        """Send one table (at most MAX_POINTS_PER_REQUEST cells) as one import request."""
        self.send_import(table)

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
        if self._expiry_of != self._token:  # read once per token, not on every request
            try:
                self._expiry_s = tokens.expiry_s(self._token)
            except tokens.TokenError:
                self._expiry_s = None  # not a JWT we can read: use it as it is until the server says no
            self._expiry_of = self._token
        return self._expiry_s is not None and self._now_s() >= self._expiry_s - REFRESH_MARGIN_S

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
            return http.call(self._session, method, url, body=None if body is None else http.encode_json(body),
                             token=self._token if auth else None, timeout_s=self._timeout_s)
        except http.ServerUnreachable as exc:
            raise IobeamUnavailable(f"iobeam: {exc}") from None
        except http.HTTPError as exc:
            raise error_for(exc, method, path) from None


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


def api_base_url(url: str) -> str:
    """The API root of a server: `http://host:8080` and `http://host:8080/v1` both give `.../v1/`."""
    url = check_base_url(url)
    return url if url.endswith("/v1/") else url + "v1/"
