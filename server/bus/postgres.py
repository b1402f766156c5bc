"""PostgreSQL backend: LISTEN/NOTIFY on a connection of its own, named `barrage-bus`
(application_name), on the channel `bus.channel`.

A notification carries only an event's id, so NOTIFY's 8,000-byte payload limit can
never be hit; the receiving node reads the event from the log (the Sequencer does, as
for any gap). That also makes a burst cheap: one NOTIFY with the newest id announces
every event up to it, so the outbox sends only that one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

import asyncpg

from server.bus.link import CHECK_SECONDS, DEAD_SECONDS, Link
from server.core.model import Event

logger = logging.getLogger(__name__)

APPLICATION_NAME = "barrage-bus"
MAX_ID_DIGITS = 18


class PostgresBus(Link):
    def __init__(self, url: str, channel: str) -> None:
        parts = urlsplit(url)
        super().__init__(f"postgresql {parts.hostname or 'localhost'}:{parts.port or 5432}")
        self._dsn = url
        self.channel = channel
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        # One connection for listening, checking and notifying; asyncpg runs one query at a time.
        self._turn = asyncio.Lock()

    async def _open(self) -> None:
        self._lost = asyncio.Event()
        self._conn = await asyncpg.connect(self._dsn, timeout=DEAD_SECONDS,
                                           server_settings={"application_name": APPLICATION_NAME})
        self._conn.add_termination_listener(lambda _: self._lost.set())
        await self._conn.add_listener(self.channel, self._notified)  # LISTEN is on when this returns

    async def _listen(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), CHECK_SECONDS)
            if self._lost.is_set():  # the server ended the session (pg_terminate_backend, restart)
                raise ConnectionError("connection closed")
            async with asyncio.timeout(DEAD_SECONDS), self._turn:  # a silent link answers nothing
                await self._connection().fetchval("SELECT 1")

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if not (payload.isascii() and payload.isdigit() and len(payload) <= MAX_ID_DIGITS):
            logger.warning("bus: ignoring a notification on %s that is not an event id", self.channel)
            return
        self.deliver(int(payload))

    async def _send(self, events: Sequence[Event]) -> None:
        async with asyncio.timeout(DEAD_SECONDS), self._turn:
            await self._connection().execute("SELECT pg_notify($1, $2)", self.channel,
                                            str(max(event.id for event in events)))

    def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            raise ConnectionError("not connected")
        return self._conn

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        try:
            await conn.close(timeout=DEAD_SECONDS)
        except Exception:
            conn.terminate()
