"""The iobeam uploader: batches of Readings in, imports out, in the fewest requests.

A batch goes as tables where its series share timestamps (one sensor's
temperature and humidity) and in the series format where they do not (ten
sensors read at different moments), whichever needs fewer requests, so a
batch of 1000 readings is one request whatever the sensor mix
(`sensorkit.uploaders.iobeam.data.imports`).

It follows the Uploader contract (DESIGN.md): `send(batch)` returns when the
server took every reading and raises `TransientUploadError` (no answer, 5xx,
429, a refused token, a wrong URL) or `PermanentUploadError` (the data itself
was refused) otherwise. It never sleeps or retries; delivery does.

State it keeps in the state dir: `iobeam_device_id` (the registered id, as the
seed library kept it) and `iobeam_token` (a refreshed project token, private
to this user, used only while the config still holds the token it replaced).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, NamedTuple, TypeVar

from sensorkit.errors import PermanentUploadError, StateError, TransientUploadError
from sensorkit.readings import Reading
from sensorkit.uploaders.iobeam import DuplicateIdError, Iobeam, IobeamRefused, imports
from sensorkit.uploaders.settings import UploaderConfig

log = logging.getLogger(__name__)

TOKEN_FILE = "iobeam_token"
# What `check_device` found.
REGISTERED = "registered"  # there was no id (or the config asks for another): the server gave or took one
KNOWN = "known"  # the server knows the stored id
REGISTERED_AGAIN = "registered again"  # the server had forgotten the stored id and registered it again

T = TypeVar("T")


class DeviceCheck(NamedTuple):
    device_id: str
    outcome: str  # REGISTERED, KNOWN or REGISTERED_AGAIN


class IobeamUploader:
    name = "iobeam"

    def __init__(self, config: UploaderConfig, state_dir: str | os.PathLike[str] | None, *,
                 session: Any = None, clock: Any = None) -> None:
        self._config = config
        self._state_dir = Path(state_dir) if state_dir is not None else None
        self._configured_token = config["token"]
        try:
            self.client = Iobeam(
                self._state_dir, config["project_id"], self._stored_token() or self._configured_token,
                backend=config["base_url"], session=session, clock=clock, on_token=self._keep_token,
                warn=False,  # UploaderConfig.warnings() says it, where the config loader shows it
            )
        except ValueError as exc:  # the config was checked, so this is the state dir's id file
            raise StateError(str(exc)) from None
        self.wanted_device_id: str | None = config.get("device_id")
        self.batch_size: int = config["batch_size"]

    @property
    def base_url(self) -> str:
        return self.client.base_url

    # ------------------------------------------------------------------ device
    def ensure_device(self) -> str:
        """The device id, registering it on first use (and keeping it in the state dir)."""
        wanted = self.wanted_device_id
        known = self.client.get_device_id()
        if wanted is not None and known != wanted:
            self._register(lambda: self.client.register_or_set_id(wanted))
        elif known is None:
            self._register(self.client.register_device)
        device_id = self.client.get_device_id()
        assert device_id is not None
        return device_id

    def check_device(self) -> DeviceCheck:
        """The device id, checked with the server: what `sensorkit register` reports.

        Without a stored id (or with a configured one that differs) this
        registers, as `ensure_device` does. With one, it registers that id
        again: the server answers "taken" when it knows the device (nothing
        changes) or registers it when it had forgotten it, the same step
        `send` takes on a 404. Either way the token is tried on the server.
        Raises IobeamAuthError (the token was refused, even after a refresh),
        IobeamUnavailable (no answer, 5xx, 429) and TransientUploadError (the
        server would not register the device: the config is wrong), all
        UploadErrors whose message says why and never shows the token.
        """
        known = self.client.get_device_id()
        if known is None or (self.wanted_device_id is not None and known != self.wanted_device_id):
            return DeviceCheck(self.ensure_device(), REGISTERED)
        return DeviceCheck(known, REGISTERED_AGAIN if self._register_again() else KNOWN)

    def _register(self, how: Callable[[], object]) -> None:
        self._registration(how)
        log.info("registered with iobeam as device %s", self.client.get_device_id())

    def _register_again(self) -> bool:
        """Register the known id once more: True when the server had forgotten it, False when it knows it."""
        device_id = self.client.get_device_id()

        def again() -> bool:
            try:
                self.client.register_device(device_id, again=True)
            except DuplicateIdError:
                return False  # the server has it: the id is good
            return True

        forgotten = self._registration(again)
        if forgotten:
            log.warning("iobeam did not know device %s any more: registered it again", device_id)
        return forgotten

    def _registration(self, how: Callable[[], T]) -> T:
        try:
            return how()
        except IobeamRefused as exc:
            # Not the readings' fault: keep them (transient) until the config is fixed.
            fix = "base_url" if exc.status in (404, 405) else "project_id and device_id"
            raise TransientUploadError(f"iobeam would not register this device: {exc} — check {fix} "
                                       "in [uploader.iobeam]") from None

    # ------------------------------------------------------------------ sending
    def send(self, batch: Sequence[Reading]) -> None:
        if not batch:
            return
        self.ensure_device()
        series: dict[str, dict[int, Any]] = {}
        for reading in batch:
            value = reading.value
            points = series.get(reading.series)
            if points is None:
                points = series[reading.series] = {}
            points[reading.timestamp_ms] = int(value) if type(value) is bool else value
        pending = imports(series)
        reregistered = False
        while pending:
            try:
                self.client.send_import(pending[0])
            except IobeamRefused as exc:
                if exc.status == 404 and not reregistered:
                    # The server does not know this device (a server that lost its devices, or a
                    # wrong base_url): register it again once; a second 404 means the URL is wrong.
                    reregistered = True
                    self._register_again()
                    continue
                if exc.status in (400, 413, 422):
                    raise
                # 404, 405, 415...: the URL or the server is wrong, not the data.
                raise TransientUploadError(f"{exc} — check base_url in [uploader.iobeam]",
                                           retry_after_s=exc.retry_after_s) from None
            except ValueError as exc:  # a value iobeam cannot carry; config checks make this rare
                raise PermanentUploadError(f"iobeam cannot take this data: {exc}") from None
            pending.pop(0)

    # ------------------------------------------------------------------ token
    def _fingerprint(self) -> str:
        return hashlib.sha256(self._configured_token.encode()).hexdigest()

    def _stored_token(self) -> str | None:
        if self._state_dir is None:
            return None
        file = self._state_dir / TOKEN_FILE
        try:
            saved = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            log.warning("ignoring %s: it is not readable JSON", file)
            return None
        if isinstance(saved, dict) and saved.get("replaces") == self._fingerprint():
            token = saved.get("token")
            return token if isinstance(token, str) and token else None
        return None  # the config's token changed since: it wins

    def _keep_token(self, token: str) -> None:
        if self._state_dir is None:
            return
        file = self._state_dir / TOKEN_FILE
        partial = file.with_name(file.name + ".partial")
        try:
            self._state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"replaces": self._fingerprint(), "token": token}, out)
            os.replace(partial, file)
        except OSError as exc:
            log.warning("could not keep the refreshed iobeam token in %s: %s", file, exc.strerror)
