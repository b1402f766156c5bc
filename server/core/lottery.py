"""The lottery: N distinct senders drawn among those with an approved barrage in a room.

A ticket is a sender key, not a barrage: one person with three messages has one ticket.
The draw is an event in the log (`lottery`), so it is stored, replayed to screens and seen
by every process; `exclude_previous` reads the earlier draws back from the same log.

Winners are told through their channel by the card loops' lease holder (bot/cards.py,
`winners`): the event's `senders` are the winners' keys, each one's latest barrage in the
room holds the `reply_to` its adapter answers on, and a claim per (draw_id, sender) in the
database tells each once across nodes. Web winners have no channel: the screen shows them,
and their phone's /send finds the draw in `GET /api/my/barrages` (`Views.wins`).
Two draws at the same moment with `exclude_previous` may also pick the same sender (each
reads the log before the other's event); the desk's one button makes that unlikely.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from server.core.errors import InvalidInput, PoolTooSmall
from server.core.model import EventKind, Source
from server.core.ports import Store
from server.core.rooms import Rooms

logger = logging.getLogger(__name__)

MAX_WINNERS = 100  # a screen shows them all at once; more prizes: draw again, excluding these
LOG_PAGE = 500     # earlier draws read back per query
# The system's CSPRNG (os.urandom): no seed to guess, no state to recover from past draws.
_RANDOM = secrets.SystemRandom()


@dataclass(frozen=True)
class Winner:
    sender: str
    author: str  # the author of their latest approved barrage in the pool
    source: Source

    def to_dict(self) -> dict[str, str]:
        return {"author": self.author, "source": str(self.source)}


@dataclass(frozen=True)
class Draw:
    draw_id: str
    room: str
    winners: list[Winner]
    pool: int  # the distinct senders the winners were drawn from

    def to_dict(self) -> dict[str, Any]:
        return {"draw_id": self.draw_id, "winners": [w.to_dict() for w in self.winners], "pool": self.pool}


def check_winners(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WINNERS:
        raise InvalidInput(f"winners must be a whole number from 1 to {MAX_WINNERS}")
    return value


def parse_since(value: object) -> datetime | None:
    """An ISO 8601 time with its offset; without one the moment is ambiguous, so refused."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise InvalidInput("since must be an ISO 8601 time with an offset, e.g. 2025-01-31T18:00:00+08:00")
    try:
        moment.astimezone(UTC)  # the store compares in UTC: 0001-01-01T00:00+08:00 has no UTC time
    except OverflowError:
        raise InvalidInput("since is out of range") from None
    return moment


def pick(pool: Sequence[str], count: int) -> list[str]:
    """`count` distinct tickets, each set of them equally likely (sorted first: the order the
    database returned them in cannot matter)."""
    return _RANDOM.sample(sorted(pool), count)


class Lottery:
    def __init__(self, store: Store, rooms: Rooms) -> None:
        self._store = store
        self._rooms = rooms

    async def draw(self, room: str, winners: object, since: object = None,
                   exclude_previous: object = False, by: str = "web") -> Draw:
        slug = self._rooms.get(room).slug
        count, moment = check_winners(winners), parse_since(since)
        if not isinstance(exclude_previous, bool):
            raise InvalidInput("exclude_previous must be true or false")
        pool = set(await self._store.lottery_pool(slug, moment))
        if exclude_previous:
            pool -= await self.previous_winners(slug)
        winners, size = await self._winners(slug, pool, count, moment)
        draw = Draw(uuid.uuid4().hex, slug, winners, size)
        await self._store.append(EventKind.LOTTERY, _payload(draw, moment, by))
        logger.info("lottery %s in room %s by %s: %d of %d", draw.draw_id, slug, by, count, size)
        return draw

    async def _winners(self, room: str, pool: set[str], count: int,
                       since: datetime | None) -> tuple[list[Winner], int]:
        """`count` winners who still hold a ticket, and the pool's size. A ticket can go
        between reading the pool and the draw (its only barrage retracted or undone on
        another node): that sender is dropped and another drawn in their place."""
        winners: list[Winner] = []
        left = set(pool)
        while (wanted := count - len(winners)) > 0:
            if len(left) < wanted:
                raise PoolTooSmall(f"{count} winners asked for, but only {len(left) + len(winners)} "
                                   "senders are in the draw")
            chosen = pick(list(left), wanted)
            left -= set(chosen)
            latest = await self._store.latest_authors(room, chosen, since)
            winners += [Winner(sender, *latest[sender]) for sender in chosen if sender in latest]
            pool -= {sender for sender in chosen if sender not in latest}
        return winners, len(pool)

    async def previous_winners(self, room: str) -> set[str]:
        """Every sender key an earlier draw in the room picked, read back from the log."""
        found: set[str] = set()
        after = 0
        while events := await self._store.events_after(after, [EventKind.LOTTERY], LOG_PAGE, room):
            found.update(key for event in events for key in event.payload.get("senders", []))
            after = events[-1].id
        return found


def _payload(draw: Draw, since: datetime | None, by: str) -> dict[str, Any]:
    # The screen sees draw_id, winners and pool (SCREEN_FIELDS); the admin stream and later
    # draws (exclude_previous) also see who won by sender key.
    return {"room": draw.room, **draw.to_dict(), "senders": [w.sender for w in draw.winners],
            "since": since.isoformat() if since else None, "by": by}
