"""What the core needs from the outside: a store (the truth) and a publisher (fan-out)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from server.core.digest import Digest
from server.core.model import Barrage, Draft, Event, EventKind, Mute, Room, Source, Status
from server.core.rules import Rule, RuleSpec


class Store(Protocol):
    """The truth, and the unit of work: each write that appends events (add, add_many,
    decide, undo, retract, expire, put_setting, add_room, update_room, mute, unmute, the filter rules'
    writes) publishes them once committed, in id order (server/store/batching.py wraps the SQL store
    with the group commit and the publisher)."""

    async def add(self, draft: Draft, status: Status, now: datetime) -> tuple[Barrage, Event | None]:
        """Insert the barrage and its event in one transaction.

        ×N: a pending (approved) barrage whose `norm` equals a pending first's (one approved in
        the last screen.merge_seconds) in its room joins it, in the same transaction: stored
        with `merged_into`, the first's count grown, and the event is a `pending` one carrying
        the first (a `merge` {"id", "count", "room"}). Two processes never both make a first.
        With a `dedupe_key` already stored, return the stored barrage and no event.
        Raises RateLimited when too many submissions already wait for a commit.
        """

    async def add_many(
        self, items: Sequence[tuple[Draft, Status]], now: datetime
    ) -> list[tuple[Barrage, Event | None]]:
        """`add` for several submissions in one transaction, results in the same order."""

    async def decide(
        self, barrage_id: int, status: Status, moderator: str, now: datetime, reason: str | None = None
    ) -> tuple[Barrage, Event]:
        """Compare-and-set pending → status, with its event, in one transaction; `reason`,
        when given, is stored as the barrage's (e.g. REASON_MUTED from a card's mute button).
        A first's repeats (×N) get the same status, moment and moderator; a repeat's id decides
        its first.

        Raises NotFound or AlreadyDecided (carrying the stored barrage).
        """

    async def undo(
        self, barrage_id: int, decided_after: datetime, now: datetime
    ) -> tuple[Barrage, Event | None]:
        """Compare-and-set decided → pending for a moderator's decision made after
        `decided_after`, with a `pending` event, in one transaction. In the same
        transaction the sender's notice is reset and card placeholders are dropped
        (the chat side's bookkeeping, bot/cardstore.py), so the card loops follow.

        The CAS lost: the stored barrage and no event. Raises NotFound.
        """

    async def retract(self, barrage_id: int, moderator: str, now: datetime) -> tuple[Barrage, Event]:
        """Compare-and-set approved → retracted, with a `retract` event {"id", "room", "by"}, in one
        transaction; the barrage's cards open again (their loop shows who removed it).

        Raises NotFound or CannotRetract (carrying the stored barrage).
        """

    async def expiry_due(self, deadline: datetime | None, max_pending: int) -> bool:
        """Whether `expire` would find anything (a read: no write lock when nothing is due)."""

    async def expire(
        self, deadline: datetime | None, max_pending: int, now: datetime, limit: int
    ) -> list[tuple[Barrage, Event]]:
        """Compare-and-set pending → expired, with an `expired` event each, in one transaction:
        up to `limit` of those created before `deadline` (None: no deadline) or beyond the
        newest `max_pending` pending of their room, oldest first, and the repeats merged into
        them. Any process may run it at any time: each barrage expires once."""

    async def get(self, barrage_id: int) -> Barrage | None: ...

    async def list(self, status: Status | None, after_id: int, limit: int,
                   room: str | None = None) -> list[Barrage]: ...

    async def by_sender(self, sender: str, limit: int) -> list[Barrage]:
        """That sender's latest barrages, newest first (of every room)."""

    async def events_after(
        self, event_id: int, kinds: Sequence[EventKind], limit: int, room: str | None = None,
        skip_retracted: bool = False,
    ) -> list[Event]:
        """Events of those kinds after `event_id`, in id order; of one room's, when named.
        `skip_retracted`: leave out the `barrage` events of barrages retracted since (a screen's
        replay); a node filling a gap wants every id."""

    async def latest_events(self, kinds: Sequence[EventKind], limit: int) -> list[Event]:
        """The newest events of those kinds, newest first, of every room."""

    async def last_event_id(self) -> int: ...

    async def get_setting(self, key: str) -> str | None: ...

    async def setting_or_default(self, key: str, default: str) -> str:
        """The stored setting; when there is none, store `default` first (atomically: with
        several processes the first to store wins, and all read its value)."""

    async def put_setting(
        self, key: str, value: str, event: tuple[EventKind, dict[str, Any]] | None
    ) -> Event | None:
        """Upsert the setting, with an event row (kind, payload) in the same transaction."""

    async def count(self, status: Status, decided_since: datetime | None = None,
                    room: str | None = None) -> int: ...

    async def rooms(self) -> list[Room]: ...

    async def add_room(
        self, room: Room, event: tuple[EventKind, dict[str, Any]]
    ) -> tuple[Room, Event | None]:
        """Insert the room with its event; when the slug is taken, that room and no event."""

    async def update_room(
        self, slug: str, changes: dict[str, Any], event: tuple[EventKind, dict[str, Any]],
        only_if_changed: bool = False,
    ) -> tuple[Room, Event | None]:
        """Set the room's columns in `changes`, with the event. `only_if_changed`: nothing is
        written (no event) when the columns hold those values already. Raises NotFound."""

    async def append(self, kind: EventKind, payload: dict[str, Any]) -> Event:
        """An event that changes no row (a lottery draw): the log is its store."""

    async def lottery_pool(self, room: str, since: datetime | None) -> list[str]:
        """The distinct sender keys with an approved barrage in the room (created since)."""

    async def latest_authors(
        self, room: str, senders: Sequence[str], since: datetime | None
    ) -> dict[str, tuple[str, Source]]:
        """Each sender's author and source on their latest approved barrage in the room (since)."""

    async def digest(self, room: str) -> Digest:
        """The room's counts, top senders, busiest minute and most repeated text, counted in SQL."""

    async def by_dedupe_key(self, key: str) -> Barrage | None: ...

    async def forget_dedupe_key(self, key: str, barrage_id: int) -> None:
        """Let `key` name a new barrage: it no longer names barrage `barrage_id`."""

    async def filter_rules(self) -> list[Rule]:
        """Every filter rule, in id order."""

    async def add_filter_rule(self, spec: RuleSpec, by: str) -> tuple[Rule, Event]:
        """Insert the rule (checked already) with a `filters` event, in one transaction."""

    async def delete_filter_rule(self, rule_id: int, by: str) -> tuple[Rule, Event]:
        """Delete the rule with a `filters` event, in one transaction; the deleted rule. Raises NotFound."""

    async def seed_filter_rules(self, specs: Sequence[RuleSpec]) -> tuple[int, Event | None]:
        """Store the seed file's rules on a database never seeded before (one process wins);
        how many were stored, and their `filters` event (none when seeded before)."""


    async def mute(self, mute: Mute, now: datetime) -> Event:
        """Upsert the sender's mute, with a `mutes` event (Gate.event_payload), in one transaction."""

    async def unmute(self, sender: str, now: datetime) -> Event | None:
        """Delete the sender's mute with a `mutes` event; None (nothing written) when the sender
        is not muted now (no row, or one that ran out, which is deleted all the same)."""

    async def mutes(self, now: datetime, limit: int, sender: str | None = None) -> list[Mute]:
        """The mutes active at `now` (of one sender, when named), newest first."""

    async def count_by_sender(self, sender: str, status: Status, reason: str, since: datetime) -> int:
        """That sender's barrages with this status and reason, created since (autoban)."""


class Marks(Protocol):
    """Short-lived marks shared by every process on the same backend: slow mode and
    "already sent" (server/core/gate.py). Reserving is atomic: two processes never both get it."""

    async def reserve(self, key: str, token: str, seconds: float) -> float:
        """Set `key` to `token` for `seconds` unless it is set: 0.0. Otherwise set nothing and
        return the seconds it has left."""

    async def release(self, key: str, token: str) -> None:
        """Delete `key` if it still holds `token` (a reservation whose submission failed)."""


class RateWindows(Protocol):
    """Per-minute counting windows, shared by every process that uses the same backend."""

    async def acquire(self, limits: Sequence[tuple[str, int]]) -> tuple[int, float] | None:
        """Count one event against every (key, per-minute limit) when each has room: None.

        Otherwise count nothing, and return the index of the limit that refused and
        the seconds until it has room again.
        """

    async def waiting(self, key: str, limit: int) -> float:
        """Seconds until `key` has room under `limit` (0: now). Counts nothing."""


class Publisher(Protocol):
    async def publish(self, event: Event) -> None: ...
