"""Checks that talk to things: one read of every sensor, and every uploader's server with its credentials.

Both are bounded in time: the reads run in a worker that `doctor` stops
waiting for after `read_timeout_s`, and every request to a server is capped
at `timeout_s` (connect and read).
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

from sensorkit.doctor.checks import Check, fail, ok, split_fix, warn

READ_TIMEOUT_S = 60.0  # every sensor once; a DHT22 alone may take a few seconds of retries
UPLOADER_TIMEOUT_S = 10.0
CLOCK_NOTE_S = 2.0  # a server clock this far from ours is worth saying


# --------------------------------------------------------------------------- sensors
def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _sensor_fix(resolved: Any, exc: Exception, service_active: bool) -> str:
    from drivers import DriverConfigError

    transport = resolved.config.spec.transport
    if isinstance(exc, DriverConfigError):
        fix = str(exc)
    elif transport == "i2c":
        fix = (f"check its wiring (SDA, SCL, 3.3 V, GND) and address; `sensorkit detect` lists what answers on "
               f"I2C bus {resolved.bus}")
    elif transport == "w1":
        fix = "check the data wire, 3.3 V, GND and the 4.7 kOhm pull-up; `ls /sys/bus/w1/devices` lists what is found"
    else:
        fix = f"check the wiring to GPIO{resolved.pin} (BCM numbering, as in the config) and the sensor's power"
    if service_active:
        fix += " — the running service uses the same hardware: if it says busy, `sudo systemctl stop sensorkit` and " \
               "run doctor again"
    return fix


def check_sensors(config: Any, profile: Any, *, service_active: bool = False, clock: Any = None,
                  read_timeout_s: float = READ_TIMEOUT_S) -> list[Check]:
    """One read of every enabled sensor (`System.read_once`), one line each."""
    from boards import BoardError
    from sensorkit.errors import ConfigError
    from sensorkit.system import build_system

    try:
        config.require_inputs()
    except ConfigError as exc:
        return [fail("sensors", *split_fix(str(exc)))]
    try:
        system = build_system(config, board=profile.name, clock=clock)
    except BoardError as exc:
        return [fail("sensors", f"cannot open the hardware: {exc}",
                     "fix the I2C and GPIO checks above, then run `sensorkit doctor` again")]
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: outcome.update(results=system.read_once()), name="doctor-read",
                              daemon=True)
    worker.start()
    worker.join(read_timeout_s)
    if worker.is_alive():  # left running (a daemon): closing the buses under it would only add errors
        return [fail("sensors", f"the sensors did not all answer within {read_timeout_s:g} s: a read hangs",
                     "run `sensorkit read -v -c FILE` to see which sensor it is, and check its wiring")]
    system.close()
    checks = []
    for handle, result in outcome["results"]:
        resolved = handle.resolved
        where = resolved.where()
        what = f"{resolved.config.driver}{f' at {where}' if where else ''}"
        if isinstance(result, Exception):
            checks.append(fail(f"sensor:{handle.name}", f"{what}: {type(result).__name__}: {result}",
                               _sensor_fix(resolved, result, service_active)))
        else:
            values = ", ".join(f"{r.quantity} {_value(r.value)}{f' {r.unit}' if r.unit else ''}" for r in result)
            checks.append(ok(f"sensor:{handle.name}", f"{what}: {values}"))
    return checks


# --------------------------------------------------------------------------- uploaders
def capped_session(timeout_s: float) -> Any:
    """A requests session whose every request waits at most `timeout_s` to connect and to read."""
    import requests

    from sensorkit.uploaders.http import USER_AGENT

    class Capped(requests.Session):
        def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            given = kwargs.get("timeout")
            parts = given if isinstance(given, tuple) else (given, given)
            kwargs["timeout"] = tuple(timeout_s if t is None else min(t, timeout_s) for t in parts)
            return super().request(method, url, *args, **kwargs)

    session = Capped()
    session.headers["User-Agent"] = USER_AGENT
    return session


def _probe_iobeam(uploader_config: Any, state_dir: Any, session: Any) -> Check:
    """The token against the server: GET /v1/devices/timestamp takes any valid project token."""
    from sensorkit.errors import StateError
    from sensorkit.uploaders import build_uploader
    from sensorkit.uploaders.iobeam import IobeamAuthError, IobeamError, IobeamRefused

    name = f"uploader:{uploader_config.name}"
    section = f"[uploader.{uploader_config.name}]"
    try:
        uploader: Any = build_uploader(uploader_config, state_dir, session=session)
    except StateError as exc:
        return fail(name, *split_fix(str(exc)))
    client = uploader.client
    at = f"iobeam at {client.base_url}"
    try:
        server_ms = client.get_timestamp()
    except IobeamAuthError as exc:
        return fail(name, f"{at} refused the project token: {exc}",
                    f"put a valid project token of project {client.project_id} (with write access) in {section} "
                    "token, or in the environment variable its token_env names")
    except IobeamRefused as exc:
        return warn(name, f"{at} answers, but not as iobeam does: {exc}",
                    f"check base_url in {section}: the API root of the server, e.g. https://api.iobeam.com/v1/; "
                    "readings wait in the outbox meanwhile")
    except IobeamError as exc:
        return warn(name, f"{at} is not reachable now: {exc}",
                    "check the network and base_url; readings wait safely in the outbox and go out once it answers")
    device = client.get_device_id()
    registered = f"device {device}" if device else "no device id yet: the first send registers one (or `sensorkit " \
                                                   "register` now)"
    skew_s = (server_ms - time.time_ns() // 1_000_000) / 1000
    skew = f"; the server's clock is {abs(skew_s):.0f} s {'ahead' if skew_s > 0 else 'behind'}" \
        if abs(skew_s) >= CLOCK_NOTE_S else ""
    return ok(name, f"{at} accepts the token (project {client.project_id}); {registered}{skew}")


PROBES: dict[str, Callable[[Any, Any, Any], Check]] = {"iobeam": _probe_iobeam}


def check_uploaders(config: Any, state_dir: Any, *, timeout_s: float = UPLOADER_TIMEOUT_S) -> list[Check]:
    checks = []
    for uploader_config in config.enabled_uploaders:
        probe = PROBES.get(uploader_config.name)
        if probe is None:
            checks.append(ok(f"uploader:{uploader_config.name}", "no reachability check for this uploader yet"))
            continue
        session = capped_session(timeout_s)
        try:
            checks.append(probe(uploader_config, state_dir, session))
        finally:
            session.close()
    if not checks:
        checks.append(ok("uploaders", "none enabled: readings are only printed (add [uploader.iobeam] to send them)"))
    return checks
