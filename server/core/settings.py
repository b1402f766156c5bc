"""Settings every process shares: read from the database, kept current by the event log.

Nothing that matters may live in one process only. A setting is a row in the store;
each change is written with an event in the same transaction, and every process
follows the log (its bus handler sees every event, in id order) to update its copy.
So a change made on one node holds on all of them as soon as their buses deliver it,
and a node that starts late reads the database.

Each value remembers the event id it is current as of, so the order things arrive in
does not matter: the load at start (current as of the log's end when it began), this
process's own write (its event's id) and the bus (each event's id) each replace a
value only with a newer one. An event the bus hands over twice, or late, changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from server.core.model import Event, EventKind
from server.core.ports import Store

logger = logging.getLogger(__name__)

MODE_KEY = "moderation.mode"
# Which events carry a setting's new value: event kind → (setting key, payload field).
# A later setting adds its kind here (or one general "setting" kind with key and value).
FOLLOWED: dict[EventKind, tuple[str, str]] = {EventKind.MODE: (MODE_KEY, "mode")}
NEVER = -1  # "current as of": older than any event, so the first real value wins


class Settings:
    def __init__(self, store: Store, defaults: Mapping[str, str]) -> None:
        self._store = store
        self._defaults = dict(defaults)
        self._values = dict(defaults)
        self._as_of = dict.fromkeys(defaults, NEVER)

    def get(self, key: str) -> str:
        return self._values[key]

    async def load(self) -> None:
        """Every setting as stored; a new database takes the defaults (the first process to
        store one wins, and every other reads its value)."""
        as_of = await self._store.last_event_id()  # before the reads: they are at least this new
        for key, default in self._defaults.items():
            self._take(key, await self._store.setting_or_default(key, default), as_of)

    async def put(self, key: str, value: str, event: tuple[EventKind, dict[str, Any]]) -> None:
        """Store the setting with its event; this process holds the new value once committed
        (without waiting for its bus, which may be another process's broker)."""
        written = await self._store.put_setting(key, value, event)
        if written is not None:
            self._take(key, value, written.id)

    def on_event(self, event: Event) -> None:
        """Bus handler: follow the changes every process writes."""
        if (followed := FOLLOWED.get(event.kind)) is None:
            return
        key, field = followed
        value = event.payload.get(field)
        if key in self._values and isinstance(value, str):
            self._take(key, value, event.id)

    def _take(self, key: str, value: str, as_of: int) -> None:
        if as_of > self._as_of[key]:
            self._values[key], self._as_of[key] = value, as_of
