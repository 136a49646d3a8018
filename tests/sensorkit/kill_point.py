"""`sensorkit` that kills itself with SIGKILL inside its Nth write transaction: a crash mid-commit.

    python kill_point.py N ARGS...   # as `sensorkit ARGS...`

Every SQLite connection the process opens is traced. At the Nth statement
that runs inside an open transaction (an insert, an update, or the COMMIT
itself, of a commit of readings or of a delivery's acknowledgement) the
process sends itself SIGKILL: no cleanup, no atexit, no flush, exactly what
`kill -9` does at that instant. Only tests use this; it is not shipped.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import sys
import threading
import time


def arm(statements: int) -> None:
    """Make the `statements`-th statement inside a transaction, on any connection, the last one."""
    connect = sqlite3.connect
    lock = threading.Lock()
    left = [statements]

    def traced_connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)  # type: ignore[arg-type]

        def trace(sql: str) -> None:
            if not conn.in_transaction:
                return
            with lock:
                left[0] -= 1
                if left[0]:
                    return
            # Said first, so the test knows when and where; stderr is unbuffered.
            sys.stderr.write(f"kill point: SIGKILL at {time.time_ns() // 1_000_000} ms inside a transaction, "
                             f"before: {' '.join(sql.split())[:80]}\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        conn.set_trace_callback(trace)
        return conn

    sqlite3.connect = traced_connect  # type: ignore[assignment]


if __name__ == "__main__":
    arm(int(sys.argv[1]))
    from sensorkit.cli import main

    sys.exit(main(sys.argv[2:]))
