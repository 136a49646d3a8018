"""Checks of what sensorkit keeps: the config's warnings, the state dir, its free space and the outbox."""
from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

from sensorkit.doctor.checks import Check, fail, ok, split_fix, warn

MB = 1_000_000
LOW_SPACE_BYTES = 100 * MB  # WARN below: the outbox grows while the network is away
NO_SPACE_BYTES = 10 * MB  # FAIL below: commits fail soon, readings wait in memory and a restart loses them
BACKLOG_WARN_S = 3600.0  # the oldest undelivered reading older than this: delivery is stuck, not just behind
REASONS_SHOWN = 2


def check_config_warnings(config: Any) -> list[Check]:
    """The loader's own warnings (a secret others can read, ...), each with the fix it gives."""
    checks = []
    for warning in config.warnings:
        what, fix = split_fix(warning)
        checks.append(warn("config", what, fix))
    return checks


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_state_dir(host: Any, state_dir: Path) -> Check:
    name = "state-dir"
    shown = host.shown(state_dir)
    other = "or give another with --state-dir DIR (and the same to `sensorkit run`)"
    if state_dir.exists() and not state_dir.is_dir():
        return fail(name, f"{shown} is a file, not a directory", f"remove or rename that file, {other}")
    target = state_dir if state_dir.exists() else _existing(state_dir)
    try:
        host.probe_write(target)
    except OSError as exc:
        why = ("is on a read-only file system" if exc.errno == errno.EROFS
               else f"is not writable by {host.user} ({exc.strerror or exc})")
        if target == state_dir:
            return fail(name, f"the state dir {shown} {why}",
                        f"sudo chown -R {host.user} {shown}, {other}")
        return fail(name, f"the state dir {shown} does not exist and cannot be made: {host.shown(target)} {why}",
                    f"sudo install -d -o {host.user} {shown}, {other}")
    if target != state_dir:
        return ok(name, f"{shown} does not exist yet; `sensorkit run` makes it (its parent is writable)")
    return ok(name, f"{shown} is writable")


def check_free_space(host: Any, state_dir: Path) -> Check:
    name = "disk-space"
    where = _existing(state_dir)
    try:
        free = host.free_bytes(where)
    except OSError as exc:
        return warn(name, f"cannot tell the free space of {host.shown(where)}: {exc.strerror or exc}",
                    f"check with `df -h {host.shown(where)}`")
    shown = f"{free / MB:,.0f} MB free" if free < 10_000 * MB else f"{free / (1000 * MB):,.1f} GB free"
    on = f"on the file system of {host.shown(where)}"
    fix = ("free some space (`sudo apt clean`, `sudo journalctl --vacuum-size=100M`), or put the state dir on a "
           "bigger file system with --state-dir DIR")
    if free < NO_SPACE_BYTES:
        return fail(name, f"only {shown} {on}: the outbox cannot keep readings much longer", fix)
    if free < LOW_SPACE_BYTES:
        return warn(name, f"only {shown} {on}: enough for a while, not for days without network", fix)
    return ok(name, f"{shown} {on}")


def _age(seconds: float) -> str:
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def check_outbox(host: Any, config: Any, state_dir: Path, now_ms: int) -> list[Check]:
    """The outbox file: readable, its backlog per uploader, dead letters and dropped readings."""
    from sensorkit.errors import OutboxError
    from sensorkit.outbox.status import read_status
    from sensorkit.system import outbox_path

    path = outbox_path(state_dir)
    shown = host.shown(path)
    uploaders = config.enabled_uploaders if config is not None else ()
    if not path.exists():
        if config is not None and not uploaders:
            return [ok("outbox", "not used: the config has no enabled uploader")]
        return [ok("outbox", f"no outbox at {shown} yet: `sensorkit run` makes one for the uploaders")]
    try:
        status = read_status(path)
    except OutboxError as exc:
        what, fix = split_fix(str(exc))
        return [fail("outbox", what, fix if fix != what else
                     f"move {shown} aside (`sudo mv {shown} {shown}.broken`); `sensorkit run` starts a new one")]
    state = f" --state-dir {host.shown(state_dir)}"
    checks = []
    if status.last_write_error:
        checks.append(fail("outbox", f"the running sensorkit cannot write {shown}: {status.last_write_error}",
                           "see the disk-space and state-dir checks; readings wait in memory until it can"))
    waiting = sum(u.waiting for u in status.uploaders)
    source = f" (from the running sensorkit, pid {status.writer_pid})" if status.writer_pid else ""
    checks.append(ok("outbox", f"{shown}: {status.stored:,} reading(s) stored, {waiting:,} waiting for delivery"
                     f"{source}"))
    for uploader in status.uploaders:
        age = uploader.oldest_waiting_age_s(now_ms)
        if age is not None and age > BACKLOG_WARN_S:
            error = f"; last error: {uploader.last_error}" if uploader.last_error else ""
            checks.append(warn(f"outbox:{uploader.name}", f"{uploader.waiting:,} reading(s) wait for {uploader.name}, "
                               f"the oldest taken {_age(age)} ago{error}",
                               f"see the uploader check for {uploader.name}; they go out by themselves once it "
                               f"answers (`sensorkit outbox{state}` follows them)"))
        if uploader.dead_letters:
            reasons = "; ".join(f"{count:,}: {reason}" for reason, count in
                                uploader.dead_letter_reasons[:REASONS_SHOWN])
            checks.append(warn(f"outbox:{uploader.name}:dead", f"{uploader.dead_letters:,} reading(s) refused by "
                               f"{uploader.name} are kept as dead letters ({reasons})",
                               f"`sensorkit outbox list-dead{state}` shows them; once the cause is fixed, "
                               f"`sensorkit outbox retry-dead{state}` sends them again (`purge-dead` deletes them)"))
    if status.dropped:
        series = ", ".join(f"{name} ({count:,})" for name, count in status.dropped_by_series[:3])
        checks.append(warn("outbox:dropped", f"{status.dropped:,} reading(s) were dropped undelivered, because the "
                           f"outbox was full or they grew too old: {series}",
                           "raise max_readings or max_age in [outbox], and see why delivery fell behind"))
    return checks
