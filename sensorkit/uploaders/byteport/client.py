"""`ByteportHttpClient` (stores by POST) and `ByteportHttpGetClient` (by GET), with the seed's names."""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any, Callable
from urllib.parse import quote, urlencode

from sensorkit.uploaders import http
from sensorkit.uploaders.byteport.data import (
    KEY_PARAM,
    check_log_level,
    check_name,
    pack,
    store_form,
)
from sensorkit.uploaders.byteport.data import timestamp_ms as to_ms
from sensorkit.uploaders.byteport.errors import ByteportError, ByteportRequestTooLarge, ByteportUnavailable, error_for
from sensorkit.uploaders.byteport.files import DirectoryPoller, read_directory, read_text
from sensorkit.uploaders.byteport.read_api import ReadApi
from sensorkit.uploaders.settings import check_base_url, clean_token, cleartext_warning

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.byteport.se/"
API_ROOT = "api/v1/"
GET_URL_LIMIT = 2048  # characters of a whole GET URL ("about 2 KB", the API documentation says)
HTTP_WRITE_METHODS = ("both", "get", "post")  # a namespace's "HTTP write method" setting


def server_root(url: str) -> str:
    """The root of a Byteport server: `https://host/` and `https://host/api/v1/` both give `https://host/`."""
    url = check_base_url(url)
    return url[:-len(API_ROOT)] if url.endswith("/" + API_ROOT) else url


class ByteportHttpClient(ReadApi):
    """A client for one namespace that stores by HTTP POST (`ByteportHttpGetClient` stores by GET).

    `base_url` is the server's root (the API paths start at `/api/v1/`); the
    constructor sends a heartbeat to check the credentials unless
    `check_credentials` is False or no `default_device_uid` is given.
    `http_write_method` is the namespace's setting ("both", "get" or "post"):
    a client whose method the namespace refuses is a ValueError here, and a
    GET client of a "get" namespace raises ByteportRequestTooLarge for a
    store past the URL limit instead of switching to POST. Quotes around the
    key (a paste mistake) are removed; that, and a plain http:// URL to
    another machine, is logged as a warning unless `warn` is False.
    """

    method = "POST"

    def __init__(self, namespace: str, api_key: str, default_device_uid: str | None = None, *,
                 base_url: str = DEFAULT_BASE_URL, check_credentials: bool = True, session: Any = None,
                 timeout_s: tuple[float, float] = http.DEFAULT_TIMEOUT_S, http_write_method: str = "both",
                 warn: bool = True, clock: Any = None) -> None:
        self.namespace = check_name(namespace, "namespace")
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key must be a non-empty string (the namespace's API write key)")
        self._key, notes = clean_token(api_key, bearer=False)
        if not self._key:
            raise ValueError("api_key holds only quotes: give the namespace's API write key")
        notes = [n.replace("the token", "the key") for n in notes]
        self.device_uid = None if default_device_uid is None else check_name(default_device_uid, "device uid")
        if http_write_method not in HTTP_WRITE_METHODS:
            raise ValueError(f"http_write_method must be one of {', '.join(HTTP_WRITE_METHODS)}, "
                             f"not {http_write_method!r}")
        other = {"GET": "post", "POST": "get"}[self.method]
        if http_write_method == other:
            use = "ByteportHttpPostClient" if other == "post" else "ByteportHttpGetClient"
            raise ValueError(f"namespace {self.namespace!r} takes writes by {other.upper()} only: use {use}")
        self.http_write_method = http_write_method
        self.base_url = server_root(base_url)
        cleartext = cleartext_warning(self.base_url)
        if warn:
            for note in notes + ([cleartext.replace("token", "key")] if cleartext else []):
                log.warning("Byteport client: %s", note)
        self._session = session or http.session_for(self.base_url)
        self._injected_session = session
        self._timeout_s = timeout_s
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._told: set[tuple[str, str]] = set()  # (name, why) of files skipped, each said once
        self._told_post = False
        http.hide_query_param(KEY_PARAM)  # the key is in the query string of every GET store
        log.info("storing to Byteport at %s", self.store_url(self.device_uid or "<uid>"))
        if check_credentials and self.device_uid is not None:
            self.store()  # a heartbeat: the device shows as online, and a wrong key fails now

    @property
    def namespace_name(self) -> str:  # the reference client's attribute
        return self.namespace

    def __repr__(self) -> str:
        return f"{type(self).__name__}(namespace={self.namespace!r}, device_uid={self.device_uid!r}, " \
               f"base_url={self.base_url!r})"

    def store_path(self, device_uid: str) -> str:
        return f"/{API_ROOT}timeseries/{quote(self.namespace)}/{quote(device_uid)}/"

    def store_url(self, device_uid: str | None = None) -> str:
        return self.base_url.rstrip("/") + self.store_path(device_uid or self._uid(None))

    def _uid(self, device_uid: str | None) -> str:
        if device_uid is None:
            if self.device_uid is None:
                raise ValueError("no device uid: give one to the constructor (default_device_uid) or to this call")
            return self.device_uid
        return check_name(device_uid, "device uid")

    # ------------------------------------------------------------------ storing
    def store(self, data: Mapping[str, Any] | None = None, device_uid: str | None = None, timestamp: Any = None,
              *, timestamp_ms: int | None = None) -> None:
        """Store `data` ({field: number or text}) for `device_uid` (default the client's), all at one time.

        `timestamp` is a datetime (aware), epoch seconds, or int ms (see
        data.timestamp_ms); `timestamp_ms` is an int of ms, unambiguous.
        None of them: the server's time of arrival. Empty `data` is a
        heartbeat. Names and values are checked before anything is sent.
        """
        uid = self._uid(device_uid)
        if timestamp is not None and timestamp_ms is not None:
            raise ValueError("give timestamp or timestamp_ms, not both")
        ms = to_ms(timestamp) if timestamp is not None else _checked_ms(timestamp_ms)
        self._send(uid, store_form(self._key, data or {}, ms))

    def log(self, message: str, level: str = "info", device_uid: str | None = None) -> None:
        """Store `message` as a log message of `level` (debug, info, warn, error)."""
        self.store({check_log_level(level): message}, device_uid)

    def _send(self, uid: str, form: list[tuple[str, str]]) -> None:
        self._call("POST", self.store_url(uid), self.store_path(uid), form)

    def _call(self, method: str, url: str, path: str, form: list[tuple[str, str]] | None) -> Any:
        try:
            return http.request(self._session, method, url, data=form, timeout_s=self._timeout_s)
        except http.ServerUnreachable as exc:
            raise ByteportUnavailable(f"Byteport: {exc}") from None
        except http.HTTPError as exc:
            raise error_for(exc, method, path, secret=self._key) from None

    # ------------------------------------------------------------------ files
    def store_file(self, field_name: str, path_to_file: str | os.PathLike[str], device_uid: str | None = None,
                   timestamp: Any = None) -> None:
        """Store the text of a file (UTF-8) as the value of `field_name`."""
        self.store({field_name: read_text(path_to_file)}, device_uid, timestamp)

    def store_directory(self, directory_path: str | os.PathLike[str], device_uid: str | None = None,
                        timestamp: Any = None) -> None:
        """Store every file of a directory in one call, each file's name its field name and its text the value.

        Files whose names are not field names, or whose content is not UTF-8
        text, are skipped with a warning (once per name); subdirectories are
        not entered.
        """
        data, problems = read_directory(directory_path)
        for name, why in problems.items():
            self._warn_once(name, why)
        self.store(data, device_uid, timestamp)

    def base64_encode_and_store(self, field_name: str, data: bytes | str, device_uid: str | None = None,
                                timestamp: Any = None, compression: str | None = None) -> None:
        """Store bytes as an object: compressed (None, "gzip", "bzip2"), then base64-encoded.

        The field should be declared as an object (data_type "object",
        encoding "base64") in the device type, so the server decodes and
        decompresses it on download.
        """
        self.store({field_name: pack(data, compression)}, device_uid, timestamp)

    def base64_encode_and_store_file(self, field_name: str, path_to_file: str | os.PathLike[str],
                                     device_uid: str | None = None, timestamp: Any = None,
                                     compression: str | None = None) -> None:
        """Store a file's bytes as an object (see base64_encode_and_store)."""
        with open(path_to_file, "rb") as file:
            content = file.read()
        self.base64_encode_and_store(field_name, content, device_uid, timestamp, compression)

    base64_encode_and_store_store_file = base64_encode_and_store_file  # the seed README's (misspelt) name

    def poll_directory_and_store_upon_content_change(self, directory_path: str | os.PathLike[str],
                                                     device_uid: str | None = None, poll_interval: float = 5, *,
                                                     stop: threading.Event | None = None,
                                                     wait: Callable[[float], bool] | None = None) -> None:
        """Poll a directory every `poll_interval` s and store the files added or changed since; blocks.

        Returns when `stop` (or, without one, `stop_polling()` from another
        thread) is set. A failed store is logged and tried again at the next
        poll with the time its change was first seen, so nothing is forgotten
        and a retried store is the same points. `wait(seconds)` -> True to
        stop is how tests step time without sleeping.
        """
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be more than 0 seconds, not {poll_interval!r}")
        poller = DirectoryPoller(self, directory_path, self._uid(device_uid), clock=self._clock,
                                 warn_once=self._warn_once)
        if stop is not None:
            poller.run(poll_interval, stop, wait)
            return
        try:
            poller.run(poll_interval, self._stop, wait)
        finally:
            self._stop.clear()  # stopped: the next call polls again

    def stop_polling(self) -> None:
        """End poll_directory_and_store_upon_content_change (without its own `stop`), from any thread."""
        self._stop.set()

    def _warn_once(self, name: str, why: str) -> None:
        with self._lock:
            if (name, why) in self._told:
                return
            self._told.add((name, why))
        log.warning("Byteport: skipping %r: %s", name, why)


class ByteportHttpPostClient(ByteportHttpClient):
    """Stores by HTTP POST (a form-urlencoded body): any size, the key out of URLs."""


class ByteportHttpGetClient(ByteportHttpClient):
    """Stores by HTTP GET (parameters in the query string), by POST when the URL would pass 2 KB.

    The switch is logged once. When the namespace takes writes by GET only
    (`http_write_method="get"`), such a store raises ByteportRequestTooLarge
    before anything is sent.
    """

    method = "GET"

    def _send(self, uid: str, form: list[tuple[str, str]]) -> None:
        url = f"{self.store_url(uid)}?{urlencode(form)}"
        if len(url) <= GET_URL_LIMIT:
            self._call("GET", url, self.store_path(uid), None)
            return
        if self.http_write_method == "get":
            raise ByteportRequestTooLarge(
                f"this store makes a {len(url):,}-character URL, over the {GET_URL_LIMIT:,} a GET may have, and "
                f"namespace {self.namespace!r} takes writes by GET only: allow POST in its Security tab, or store "
                "less per call", status=None)
        with self._lock:
            first, self._told_post = not self._told_post, True
        if first:
            log.info("Byteport: a store of %d characters is over the %d-character limit of a GET URL; sending it, "
                     "and later ones that large, by POST", len(url), GET_URL_LIMIT)
        self._call("POST", self.store_url(uid), self.store_path(uid), form)


def _checked_ms(ms: Any) -> int | None:
    if ms is None:
        return None
    if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
        raise ValueError(f"timestamp_ms {ms!r} must be an int of ms since the epoch")
    return ms


__all__ = ["API_ROOT", "DEFAULT_BASE_URL", "GET_URL_LIMIT", "HTTP_WRITE_METHODS", "ByteportError",
           "ByteportHttpClient", "ByteportHttpGetClient", "ByteportHttpPostClient", "server_root"]
