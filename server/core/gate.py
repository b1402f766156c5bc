"""The gate: per-sender refusals before a barrage is screened and stored, and what a stored
one counts toward afterwards (slow mode, "already sent", mutes, autoban).

The seam every submission passes (BarrageService.submit): `check(draft)` refuses (403 muted,
409 already sent, 429 slow mode) before anything is stored, or hands back a `Ticket`;
`release(ticket)` undoes what it reserved when the submission fails later (the rate limit,
the store); `passed(barrage)` runs once the barrage is stored (the autoban count).

Everything counts by the draft's `sender` key (web:<device>, telegram:<id>, slack:<team>:<user>);
a draft without one is never muted or slowed.

Slow mode and "already sent" are reservations on the `Marks` port (in memory for one
process; for several, Redis, or the database on a PostgreSQL bus), taken atomically at check:
a sender's next barrage reserves the slow-mode mark for `slow_mode_seconds` and the mark of its
normalised text for `repeat_seconds`; a second submission, on any node, finds them taken. A
refused attempt sets nothing, so it never restarts the clock, and a reservation whose
submission fails afterwards is released (only the one it holds: the token must match). So the
clock starts when a barrage is accepted, a few milliseconds before it is stored; a cancelled
submission keeps its reservation, as it may have been stored.

Mutes live in the database (`mute` table); every change is written with a `mutes` event that
carries it. Each process keeps a copy, read at start and updated from those events (the bus
delivers every event once, in order), so checking a submission reads no database. The copy is
bounded (MAX_MUTES); past that, senders it does not hold are looked up in the database.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from server.core.errors import AlreadySent, InvalidInput, Muted, NotFound, SlowMode
from server.core.model import REASON_BLOCKED, Barrage, Draft, Event, EventKind, Mute, Status
from server.core.ports import Marks, Store

logger = logging.getLogger(__name__)

MAX_MUTES = 100_000  # held in each process; about 300 bytes each
MAX_SENDER = 200
MAX_REASON = 200
MAX_MINUTES = 525_600  # a year: a mute longer than that is a typo
AUTOBAN = "autoban"
LISTED = 1000  # GET /api/mutes answers at most this many


@dataclass(frozen=True)
class GateRules:
    """[moderation]'s keys for senders (server/config.py)."""

    slow_mode_seconds: float = 0  # 0: off
    repeat_seconds: float = 60  # 0: off
    shadow_mute: bool = False
    autoban_after: int = 3  # 0: off
    autoban_window_minutes: float = 180
    autoban_minutes: float = 60


@dataclass
class Ticket:
    """What check() let through: reservations to release if the submission fails, and whether
    the sender is muted silently (stored as rejected, told nothing unusual)."""

    shadow: bool = False
    held: list[tuple[str, str]] = field(default_factory=list)  # (key, token)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Gate:
    def __init__(self, store: Store | None = None, marks: Marks | None = None,
                 rules: GateRules = GateRules(), clock: Callable[[], datetime] = utcnow,
                 max_mutes: int = MAX_MUTES) -> None:
        self._store = store
        self._marks = marks
        self.rules = rules
        self._clock = clock
        self._max_mutes = max_mutes
        self._mutes: dict[str, Mute] = {}
        self._complete = True  # the copy holds every active mute
        self._loading: list[Event] | None = None  # events that arrived while loading

    # -- the seam --

    async def check(self, draft: Draft) -> Ticket:
        """Refuse `draft` (Muted, AlreadySent, SlowMode), or hand back its ticket."""
        sender = draft.sender
        if not sender:
            return Ticket()
        mute = await self.muted(sender)
        if mute is not None and not self.rules.shadow_mute:
            raise Muted(mute.until)
        ticket = Ticket(shadow=mute is not None)
        try:
            await self._reserve_repeat(ticket, sender, draft.norm or draft.text)
            await self._reserve_slow(ticket, sender)
        except Exception:
            await self.release(ticket)
            raise
        return ticket

    async def release(self, ticket: Ticket) -> None:
        if self._marks is None:
            return
        for key, token in ticket.held:
            await self._marks.release(key, token)
        ticket.held.clear()

    async def passed(self, barrage: Barrage) -> None:
        """`barrage` was stored (not a redelivery): a blocked one counts toward autoban."""
        rules = self.rules
        if (self._store is None or not rules.autoban_after or not barrage.sender
                or barrage.status is not Status.REJECTED or barrage.reason != REASON_BLOCKED):
            return
        since = self._clock() - timedelta(minutes=rules.autoban_window_minutes)
        blocked = await self._store.count_by_sender(barrage.sender, Status.REJECTED, REASON_BLOCKED, since)
        if blocked >= rules.autoban_after and await self.muted(barrage.sender) is None:
            reason = f"{blocked} blocked messages in {rules.autoban_window_minutes:g} min"
            await self._mute(barrage.sender, timedelta(minutes=rules.autoban_minutes), reason, AUTOBAN)
            logger.info("sender muted for %g min by autoban (%d blocked)", rules.autoban_minutes, blocked)

    async def _reserve_repeat(self, ticket: Ticket, sender: str, norm: str) -> None:
        if self._marks is None or not self.rules.repeat_seconds:
            return
        digest = hashlib.sha256(norm.encode()).hexdigest()[:32]
        if await self._reserve(ticket, f"repeat:{sender}:{digest}", self.rules.repeat_seconds):
            raise AlreadySent(f"already sent: you sent the same message less than "
                              f"{self.rules.repeat_seconds:g} s ago")

    async def _reserve_slow(self, ticket: Ticket, sender: str) -> None:
        if self._marks is None or not self.rules.slow_mode_seconds:
            return
        if wait := await self._reserve(ticket, f"slow:{sender}", self.rules.slow_mode_seconds):
            raise SlowMode(wait)

    async def _reserve(self, ticket: Ticket, key: str, seconds: float) -> float:
        assert self._marks is not None
        token = secrets.token_hex(8)
        if wait := await self._marks.reserve(key, token, seconds):
            return wait
        ticket.held.append((key, token))
        return 0.0

    # -- mutes --

    async def start(self) -> None:
        """Read the active mutes; a `mutes` event that arrives meanwhile is applied after."""
        if self._store is None:
            return
        self._loading = []
        try:
            found = await self._store.mutes(self._clock(), self._max_mutes + 1)
            self._mutes = {mute.sender: mute for mute in found[:self._max_mutes]}
            self._complete = len(found) <= self._max_mutes
        finally:
            arrived, self._loading = self._loading, None
        for event in arrived:
            self.on_event(event)

    def on_event(self, event: Event) -> None:
        """Bus handler: a sender was muted or unmuted on some process (a `mutes` event)."""
        if event.kind is not EventKind.MUTES:
            return
        if self._loading is not None:
            self._loading.append(event)
            return
        payload = event.payload
        if payload.get("muted"):
            until = payload.get("until")
            self._hold(Mute(payload["sender"], datetime.fromisoformat(until) if until else None,
                            payload.get("reason"), payload.get("by")))
        else:
            self._mutes.pop(payload.get("sender", ""), None)

    async def muted(self, sender: str) -> Mute | None:
        """The sender's active mute; a database read only when the copy is not complete."""
        now = self._clock()
        mute = self._mutes.get(sender)
        if mute is not None and not mute.active(now):
            del self._mutes[sender]
            mute = None
        if mute is None and not self._complete and self._store is not None:
            found = await self._store.mutes(now, 1, sender)
            mute = found[0] if found else None
        return mute

    async def mute(self, sender: object, minutes: object, reason: object = None,
                   by: str = "moderator") -> Mute:
        """Mute `sender` for `minutes` (0: until lifted); checked input from an adapter."""
        sender, reason = check_sender(sender), check_reason(reason)
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 0 <= minutes <= MAX_MINUTES:
            raise InvalidInput(f"minutes must be an integer from 0 (until lifted) to {MAX_MINUTES}")
        return await self._mute(sender, timedelta(minutes=minutes) if minutes else None, reason, by)

    async def unmute(self, sender: str, by: str = "moderator") -> None:
        assert self._store is not None
        try:
            sender = check_sender(sender)
        except InvalidInput:  # no such key can be muted
            raise NotFound("that sender is not muted") from None
        if await self._store.unmute(sender, self._clock()) is None:
            raise NotFound("that sender is not muted")
        self._mutes.pop(sender, None)
        logger.info("a sender was unmuted by %s", by)

    async def mutes(self) -> list[Mute]:
        """The active mutes, from the database (the truth), newest first."""
        assert self._store is not None
        return await self._store.mutes(self._clock(), LISTED)

    async def _mute(self, sender: str, length: timedelta | None, reason: str | None, by: str) -> Mute:
        assert self._store is not None
        now = self._clock()
        mute = Mute(sender, now + length if length else None, reason, by)
        await self._store.mute(mute, now)
        self._hold(mute)  # at once here; other processes by the event
        return mute

    def _hold(self, mute: Mute) -> None:
        if mute.sender not in self._mutes and len(self._mutes) >= self._max_mutes:
            self._drop_expired()
        if mute.sender in self._mutes or len(self._mutes) < self._max_mutes:
            self._mutes[mute.sender] = mute
        else:  # full of active mutes: the database answers for senders not held
            self._complete = False

    def _drop_expired(self) -> None:
        now = self._clock()
        for sender in [s for s, mute in self._mutes.items() if not mute.active(now)]:
            del self._mutes[sender]


def event_payload(mute: Mute | None, sender: str) -> dict[str, Any]:
    """A `mutes` event's payload: the change, so that every process applies it without a read."""
    if mute is None:
        return {"sender": sender, "muted": False}
    until = mute.until.astimezone(UTC).isoformat() if mute.until else None
    return {"sender": sender, "muted": True, "until": until, "reason": mute.reason, "by": mute.muted_by}


def check_sender(sender: object) -> str:
    if (not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER
            or not sender.isprintable()):
        raise InvalidInput(f"sender must be a sender key (1-{MAX_SENDER} printable characters), "
                           "e.g. telegram:12345")
    return sender


def check_reason(reason: object) -> str | None:
    if reason is None:
        return None
    if not isinstance(reason, str) or len(reason) > MAX_REASON or not reason.isprintable():
        raise InvalidInput(f"reason must be a string of at most {MAX_REASON} printable characters, or null")
    return reason.strip() or None
