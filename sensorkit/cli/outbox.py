"""`sensorkit outbox`: where the readings are, and the dead letters."""
from __future__ import annotations

import argparse
import os
from typing import Any

from sensorkit.cli.common import EXIT_OK, BadInput, add_state_dir, default_state_dir, local_time


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the `sensorkit` parser."""
    outbox = commands.add_parser("outbox", parents=[common], help="show or manage the readings waiting for delivery",
                                 description="Where your readings are: per uploader, how many wait and since "
                                 "when, the last success and error, the dead letters (readings a server refused).")
    outbox.add_argument("action", nargs="?", default="status",
                        choices=("status", "list-dead", "retry-dead", "purge-dead", "purge-held"),
                        help="status (default); list-dead: the readings a server refused, with its reason; "
                             "retry-dead: send them again; purge-dead: delete them; purge-held: delete the "
                             "readings held in earlier boots whose clock was never synchronised")
    outbox.add_argument("--uploader", metavar="NAME", help="only this uploader's dead letters")
    add_state_dir(outbox)
    outbox.add_argument("--json", action="store_true", help="print JSON instead of text")
    outbox.set_defaults(handler=cmd_outbox)


def cmd_outbox(args: argparse.Namespace) -> int:
    import json
    import time
    from dataclasses import asdict

    from sensorkit.outbox import status as outbox_status
    from sensorkit.system import outbox_path

    state_dir = args.state_dir or default_state_dir()
    if os.path.exists(state_dir) and not os.path.isdir(state_dir):
        raise BadInput(f"the state dir {state_dir} is not a directory — give the directory that holds "
                       "outbox.sqlite with --state-dir DIR")
    path = outbox_path(state_dir)
    if not path.exists():
        if args.json:
            print(json.dumps({"path": str(path), "exists": False}))
        else:
            print(f"no outbox at {path} yet: `sensorkit run` makes one when the config has an [uploader.*] "
                  "table (a different state dir? give --state-dir DIR)")
        return EXIT_OK
    if args.uploader is not None:
        known = [u.name for u in outbox_status.read_status(path).uploaders]
        if args.uploader not in known:
            names = ", ".join(f"'{n}'" for n in known) or "none yet"
            raise BadInput(f"the outbox {path} knows no uploader '{args.uploader}' (it knows {names}) — "
                           "give one of those with --uploader, or leave it out for all")
    if args.action == "purge-held":
        from sensorkit.clock import read_boot_id

        count = outbox_status.purge_held(path, read_boot_id())
        if args.json:
            print(json.dumps({"action": args.action, "held": count}))
        else:
            print(f"{count} held reading(s) of earlier boots deleted (those of this boot are kept: they are sent "
                  "once the clock is synchronised)")
        return EXIT_OK
    if args.action == "list-dead":
        return _list_dead(outbox_status.dead_letters(path, args.uploader), as_json=args.json)
    if args.action != "status":
        change = outbox_status.retry_dead if args.action == "retry-dead" else outbox_status.purge_dead
        count = change(path, args.uploader)
        whose = f" of '{args.uploader}'" if args.uploader else ""
        if args.json:
            print(json.dumps({"action": args.action, "dead_letters": count, "uploader": args.uploader}))
        elif args.action == "retry-dead":
            print(f"{count} dead letter(s){whose} will be sent again by the next `sensorkit run`")
        else:
            print(f"{count} dead letter(s){whose} deleted")
        return EXIT_OK
    status = outbox_status.read_status(path)
    if args.json:
        print(json.dumps(asdict(status), indent=2))
        return EXIT_OK
    from sensorkit.clock import read_boot_id

    now_ms = time.time_ns() // 1_000_000
    for line in _outbox_lines(status, now_ms) + held_lines(status.held, read_boot_id()):
        print(line)
    return EXIT_OK


def _list_dead(letters: list[Any], *, as_json: bool) -> int:
    import json

    if as_json:
        print(json.dumps([letter.to_dict() for letter in letters], indent=2, ensure_ascii=False))
        return EXIT_OK
    if not letters:
        print("no dead letters: every server took every reading it was sent")
        return EXIT_OK
    for letter in letters:
        again = " (to be sent again)" if letter.retry else ""
        taken = local_time(letter.timestamp_ms, ms=True)
        print(f"{letter.uploader}  {taken}  {letter.series} = {shown_value(letter.value, letter.media_type)}{again}: "
              f"{letter.reason}")
    return EXIT_OK


TEXT_SHOWN = 60  # characters of a text value that list-dead shows


def shown_value(value: Any, media_type: str | None) -> str:
    """A value on one line: numbers as they are, text quoted (cut, with its length), bytes by size and type."""
    import json

    if isinstance(value, bytes):
        return f"<{len(value):,} bytes, {media_type}>"
    if isinstance(value, str):
        if len(value) <= TEXT_SHOWN:
            return json.dumps(value, ensure_ascii=False)
        return f"{json.dumps(value[:TEXT_SHOWN], ensure_ascii=False)[:-1]}…\" ({len(value):,} characters)"
    return str(value)


def _outbox_lines(status: Any, now_ms: int) -> list[str]:
    size_mb = status.file_bytes / 1_000_000
    lines = [f"outbox {status.path}: {size_mb:.1f} MB, {status.stored:,} reading(s) stored"]
    if status.writer_pid is not None:
        lines.append(f"  (as published by the running sensorkit, pid {status.writer_pid}, "
                     f"{_ago(status.as_of_ms, now_ms)}; {status.unsaved:,} more in memory)")
    if status.last_write_error:
        lines.append(f"  ! cannot write: {status.last_write_error}")
    if status.dropped:
        series = ", ".join(f"{name} ({count:,})" for name, count in status.dropped_by_series[:5])
        lines.append(f"  dropped undelivered (outbox full or too old): {status.dropped:,} — {series}")
    for uploader in status.uploaders:
        lines.append(f"{uploader.name}:")
        if uploader.waiting:
            lines.append(f"  waiting:       {uploader.waiting:,} reading(s), the oldest taken "
                         f"{_ago(uploader.oldest_waiting_ms, now_ms)}")
        else:
            lines.append("  waiting:       none — up to date")
        lines.append(f"  delivered:     {uploader.delivered:,} in all; last success "
                     f"{_ago(uploader.last_success_ms, now_ms)}")
        if uploader.last_error:
            lines.append(f"  last error:    {_ago(uploader.last_error_ms, now_ms)}: {uploader.last_error}")
        dead = f"{uploader.dead_letters:,}"
        if uploader.dead_letters_to_retry:
            dead += f" ({uploader.dead_letters_to_retry:,} to be sent again)"
        if uploader.dead_letters:
            dead += (" — `sensorkit outbox list-dead` shows them, `retry-dead` sends them again, "
                     "`purge-dead` deletes them")
        lines.append(f"  dead letters:  {dead}")
        for reason, count in uploader.dead_letter_reasons:
            lines.append(f"    {count:,} refused: {reason}")
    if not status.uploaders:
        lines.append("no uploader has used this outbox yet")
    return lines


def held_lines(held: Any, this_boot: str) -> list[str]:
    """The readings held while the clock was not synchronised: this boot's wait, earlier boots' are stuck."""
    lines = []
    for boot in held:
        span = f"taken over {_span(boot.span_s)}, the clock then said {local_time(boot.first_clock_ms)}"
        if boot.boot_id == this_boot:
            lines.append(f"held: {boot.count:,} reading(s) of this boot ({span}): they get their time and go to "
                         "the uploaders once the clock is synchronised (`sensorkit doctor` says why it is not)")
        else:
            lines.append(f"held from an earlier boot {boot.boot_id}: {boot.count:,} reading(s) ({span}), never sent: "
                         "that boot ended before its clock was synchronised, so their time cannot be known; "
                         "`sensorkit outbox purge-held` deletes them")
    return lines


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _ago(when_ms: int | None, now_ms: int) -> str:
    if when_ms is None:
        return "never"
    seconds = max(0, (now_ms - when_ms) // 1000)
    if seconds < 120:
        span = f"{seconds} s"
    elif seconds < 7200:
        span = f"{seconds // 60} min"
    elif seconds < 2 * 86400:
        span = f"{seconds // 3600} h {seconds % 3600 // 60} min"
    else:
        span = f"{seconds // 86400} days"
    return f"{span} ago ({local_time(when_ms)})"
