"""The durable outbox: readings kept on disk until every uploader has them.

Modules, each importing only those below it:

- `outbox` — `Outbox`, what the rest of sensorkit uses (queue, commit, batches, acks);
- `writer` — the thread-owned SQLite writer behind it (commits, bounds, dead letters);
- `chunks` — the hot/cold chunk layout the writer appends to;
- `status` — the read-only view: what the file holds, per uploader, for `sensorkit outbox`;
- `store` — the file itself: opening it safely and the queries on it;
- `schema` — its tables, their versions and the upgrade of an older file;
- `codec` — readings to and from the packed records of a chunk (text and bytes beside them).
"""
from __future__ import annotations

from sensorkit.outbox.outbox import PRUNE_INTERVAL_S, WARNING_INTERVAL_S, Outbox

__all__ = ["PRUNE_INTERVAL_S", "WARNING_INTERVAL_S", "Outbox"]
