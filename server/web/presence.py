"""Live screens per room, summed over every node.

A node knows its own screen streams (the fan-out), at once. With one process (a memory://
bus) that is the whole answer and nothing is written. With several, each node writes its
per-room counts every PERIOD_SECONDS as one row of the `setting` table, key
`presence:<node>`, value `{"at": <unix time>, "rooms": {slug: n}}`, and reads every node's
rows in the same pass; a row older than STALE_SECONDS (a node killed without a word) counts
for nothing and is deleted. A node removes its own row when it stops.

Why the database and not Redis with a TTL: every node shares the database whatever the bus
is (Redis or PostgreSQL), the `setting` table needs no migration, and one small upsert and
one read per node every 2 s is nothing next to the barrages. A screen opened on another node
counts here within about two periods; on this node, immediately. The senders' "no screen"
notice and /stats read the last sum from memory, never the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from server.web.fanout import Audience, FanOut

logger = logging.getLogger(__name__)

PREFIX = "presence:"
PERIOD_SECONDS = 2.0
# Several missed periods (a slow database, a little clock skew between hosts) before a
# node's screens stop counting.
STALE_SECONDS = 15.0


class PresenceStore(Protocol):
    async def put_setting(self, key: str, value: str, event: None) -> Any: ...

    async def settings_under(self, prefix: str) -> dict[str, str]: ...

    async def delete_setting(self, key: str, value: str | None = None) -> None: ...


class Presence:
    def __init__(self, fanout: FanOut, store: PresenceStore | None,
                 clock: Callable[[], float] = time.time) -> None:
        self._fanout = fanout
        self._store = store  # None: this process is the only one
        self._key = PREFIX + secrets.token_hex(8)
        self._clock = clock
        self._others: dict[str, int] = {}  # room → screens on the other nodes, as last read
        self._task: asyncio.Task[None] | None = None

    def screens(self, room: str | None = None) -> int:
        """Screens showing `room` (every room: None) on every node."""
        if room is None:
            return self._fanout.count(Audience.SCREEN) + sum(self._others.values())
        return self._fanout.count(Audience.SCREEN, room) + self._others.get(room, 0)

    def by_room(self, rooms: list[str]) -> dict[str, int]:
        return {room: self.screens(room) for room in rooms}

    def start(self) -> None:
        if self._store is not None:
            self._task = asyncio.create_task(self._run(), name="presence")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._store is not None:
            with contextlib.suppress(Exception):  # best effort: a stale row expires anyway
                await self._store.delete_setting(self._key)

    async def _run(self) -> None:
        while True:
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is down: the last sum stands, try again
                logger.warning("presence: could not share screen counts: %s", type(exc).__name__)
            await asyncio.sleep(PERIOD_SECONDS)

    async def sync(self) -> None:
        """Write this node's counts, read everyone's."""
        assert self._store is not None
        now = self._clock()
        mine = {"at": now, "rooms": self._fanout.screens_by_room()}
        await self._store.put_setting(self._key, json.dumps(mine), None)
        others: Counter[str] = Counter()
        for key, value in (await self._store.settings_under(PREFIX)).items():
            if key == self._key:
                continue
            rooms = _fresh_rooms(value, now)
            if rooms is None:
                await self._store.delete_setting(key, value)
            else:
                others.update(rooms)
        self._others = dict(others)


def _fresh_rooms(value: str, now: float) -> dict[str, int] | None:
    """A row's counts; None for a stale or unreadable row."""
    try:
        row = json.loads(value)
        fresh = now - float(row["at"]) <= STALE_SECONDS
        rooms = {str(room): int(n) for room, n in row["rooms"].items() if int(n) > 0}
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return rooms if fresh else None
