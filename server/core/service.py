"""The barrage service: submit, decide, switch the moderation mode."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from server.core.errors import (
    AlreadyDecided,
    BarrageError,
    CannotRetract,
    CannotUndo,
    InvalidInput,
    NotFound,
    RateLimited,
    Unavailable,
)
from server.core.filters import Filters
from server.core.gate import Gate, Ticket
from server.core.logcontext import about
from server.core.meter import Meter, NoMeter, Outcome, decision_seconds, outcome_of
from server.core.model import (
    REASON_MUTED,
    Barrage,
    Draft,
    Event,
    Mode,
    Receipt,
    Source,
    Status,
    Verdict,
)
from server.core.normalize import normalize
from server.core.policy import InputPolicy, RatePolicy, clean_name, normalize_color, normalize_size
from server.core.ports import RateWindows, Store
from server.core.rooms import Rooms

logger = logging.getLogger(__name__)

MAX_NAME = 64
REFUSAL_LOG_SECONDS = 10.0  # at most one "refused over the rate limit" line this often
# A moderator may take a decision back for this long (POST /api/barrages/{id}/undo).
UNDO_SECONDS = 10.0
MAX_BULK = 500  # ids in one bulk decision (POST /api/barrages/bulk)
NOT_FOUND = "not found"  # a bulk decision's answer for an id that names no barrage


def _why_not_undoable(barrage: Barrage) -> str:
    if barrage.status is Status.PENDING:
        return "not decided, nothing to undo"
    if barrage.auto_approved:
        return "decided automatically at submission, nothing to undo"
    return f"too late to undo: a decision can be undone for {UNDO_SECONDS:g} s"


def _bulk_ids(ids: object) -> list[int]:
    # bool is an int to Python, never an id to anyone else. A repeated id is refused rather
    # than folded: each answer then stands for exactly one id given, in its place.
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise InvalidInput("ids must be a list of integers")
    if not 1 <= len(ids) <= MAX_BULK:
        raise InvalidInput(f"ids must hold 1 to {MAX_BULK} ids")
    if len(set(ids)) != len(ids):
        raise InvalidInput("ids must not repeat an id")
    return ids


def utcnow() -> datetime:
    return datetime.now(UTC)


def _shadowed(ticket: Ticket, status: Status, draft: Draft) -> tuple[Status | None, Status, Draft]:
    """A silently muted sender (moderation.shadow_mute): stored as rejected (reason `muted`),
    told what the mode would have told anyone else (`told`)."""
    if not ticket.shadow or status is Status.REJECTED:  # blocked: told so, as anyone would be
        return None, status, draft
    return status, Status.REJECTED, replace(draft, reason=REASON_MUTED)


@dataclass(frozen=True)
class Submission:
    """Raw input from any channel, before the policy has looked at it."""

    text: str
    author: str | None = None
    color: str | None = None
    size: str | None = None
    source: Source = Source.WEB
    author_ref: str | None = None
    reply_to: str | None = None  # opaque to the core: the adapter's way back to the sender
    sender_key: str | None = None  # stable per person, stored as `sender`; the rate limit counts it
    # Counted instead of sender_key: a web sender with no valid device cookie counts per network.
    limit_key: str | None = None
    address: str | None = None  # the network a web submission came from, for the backstop
    dedupe_key: str | None = None  # same key twice = one barrage (webhook retries)
    dedupe_for: timedelta | None = None  # past this age the key may name a new barrage
    room: str | None = None  # None: main


class BarrageService:
    def __init__(
        self,
        store: Store,
        policy: InputPolicy,
        windows: RateWindows,
        rates: RatePolicy,
        rooms: Rooms | None = None,
        counters: Counter[str] | None = None,
        filters: Filters | None = None,
        gate: Gate | None = None,
        meter: Meter | None = None,
    ) -> None:
        self._store = store
        self._policy = policy
        self._windows = windows
        self._rates = rates
        self.filters = Filters() if filters is None else filters  # rules and modes: the status
        self.gate = Gate() if gate is None else gate  # mutes, slow mode, repeats, autoban
        # Read from the database, kept current by the log (see on_event): every process alike.
        # (`store` too, so that its writes are published: the unit of work.) None: main alone.
        self.rooms = Rooms.main_only(store) if rooms is None else rooms
        # Refusals and the like, by name: what a metrics endpoint exposes.
        self.counters: Counter[str] = Counter() if counters is None else counters
        # Submissions by outcome and decisions by channel, as they happen (server/metrics.py).
        self.meter: Meter = NoMeter() if meter is None else meter
        self._refusals_logged_at = -REFUSAL_LOG_SECONDS

    @property
    def mode(self) -> Mode:
        """Main's mode (what the routes that name no room mean)."""
        return self.rooms.get(None).mode

    async def start(self) -> None:
        """Load the rooms; a new database takes the configured ones."""
        await self.rooms.load()
        await self.gate.start()

    def on_event(self, event: Event) -> None:
        """Bus handler: a room changed by any process (its mode) holds here too.
        Subscribe it before the streams' handler, so a client that sees a `mode` event
        and submits meets the new mode."""
        self.rooms.on_event(event)
        self.filters.on_event(event)
        self.gate.on_event(event)

    async def submit(self, submission: Submission) -> Receipt:
        try:
            receipt = await self._submit(submission)
        except BarrageError as refused:
            # A 503 (the database away) is the wall's failure, not a refusal of this submission.
            if not isinstance(refused, Unavailable):
                self.meter.submitted(submission.source, Outcome.REFUSED)
            raise
        self.meter.submitted(submission.source, outcome_of(receipt))
        return receipt

    async def _submit(self, submission: Submission) -> Receipt:
        room = self.rooms.get(submission.room)  # NotFound before anything is counted
        draft = self._draft(submission, room.slug)
        if seen := await self._seen(draft.dedupe_key, submission.dedupe_for):
            return Receipt(seen, created=False)  # a redelivery: not counted, not stored again
        ticket = await self.gate.check(draft)  # refusals that store nothing (mutes, repeats, slow mode)
        try:
            await self._check_rate(submission)
            status, draft = self.filters.screen(draft, room.mode)
            told, status, draft = _shadowed(ticket, status, draft)
            barrage, event = await self._add(draft, status)
        except Exception:
            await self.gate.release(ticket)  # refused or failed: the slow-mode clock does not start
            raise
        if event is None:  # a twin delivery stored it first
            await self.gate.release(ticket)
            return Receipt(barrage, created=False)
        # Ids and status only: a participant's text is theirs, not the log's.
        logger.debug("barrage %s stored as %s", barrage.id, barrage.status,
                     extra={**about(barrage), "event_id": event.id})
        try:
            await self.gate.passed(barrage)
        except Exception:  # stored and answered for: an autoban count that failed is no refusal
            logger.exception("counting barrage %s toward autoban failed", barrage.id, extra=about(barrage))
        return Receipt(barrage, created=True, told=told)

    async def _add(self, draft: Draft, status: Status) -> tuple[Barrage, Event | None]:
        try:
            return await self._store.add(draft, status, utcnow())
        except RateLimited:  # too many waiting for a commit
            self._refused("busy")
            raise

    async def _seen(self, dedupe_key: str | None, ttl: timedelta | None) -> Barrage | None:
        if not dedupe_key or not (seen := await self._store.by_dedupe_key(dedupe_key)):
            return None
        if ttl is not None and seen.created_at <= utcnow() - ttl:
            # Expired: the key is free again. A concurrent twin doing the same is harmless;
            # the unique key still lets only one new barrage in.
            await self._store.forget_dedupe_key(dedupe_key, seen.id)
            return None
        return seen

    async def _check_rate(self, submission: Submission) -> None:
        windows = self._rates.windows(submission.limit_key or submission.sender_key, submission.address)
        if not windows or (refused := await self._windows.acquire(windows)) is None:
            return
        index, wait = refused
        self._refused("address" if windows[index][0].startswith("address:") else "sender")
        raise self._rates.refusal(index, wait, windows)

    def _refused(self, which: str) -> None:
        self.counters[f"rate_limited.{which}"] += 1
        now = time.monotonic()
        if now - self._refusals_logged_at >= REFUSAL_LOG_SECONDS:
            self._refusals_logged_at = now
            total = sum(v for k, v in self.counters.items() if k.startswith("rate_limited."))
            logger.warning("refused a submission over the rate limit (%s); %d refused since start "
                           "(logged at most every %.0f s)", which, total, REFUSAL_LOG_SECONDS)

    async def decide(self, barrage_id: int, verdict: Verdict, moderator: str,
                     reason: str | None = None, via: Source = Source.WEB) -> Barrage:
        """Compare-and-set; the loser is told who won. A moderator's own repeat
        (a double click, `a` pressed twice, a card pressed again) is no conflict:
        it gets the barrage back, and no second event is written (nor counted).
        `via`: the channel the moderator decided on (metrics)."""
        moderator = clean_name(moderator, MAX_NAME, "moderator")
        try:
            barrage, event = await self._store.decide(barrage_id, verdict.status, moderator, utcnow(), reason)
        except AlreadyDecided as lost:
            if lost.barrage is None or (lost.status, lost.decided_by) != (verdict.status, moderator):
                raise
            return lost.barrage
        logger.info("barrage %s %s by %s", barrage.id, barrage.status, moderator,
                    extra={**about(barrage), "event_id": event.id})
        self.meter.decided(verdict, via, decision_seconds(barrage))
        return barrage

    async def mute_sender(self, barrage_id: int, moderator: str, minutes: int = 60,
                          via: Source = Source.WEB) -> Barrage:
        """A card's "Mute 1h": mute the barrage's sender, then reject it (reason `muted`, so the
        card says who muted). Already decided: the mute holds all the same (AlreadyDecided says
        who decided)."""
        moderator = clean_name(moderator, MAX_NAME, "moderator")
        barrage = await self._store.get(barrage_id)
        if barrage is None:
            raise NotFound(f"no barrage {barrage_id}")
        if not barrage.sender:
            raise InvalidInput("this message has no sender key to mute")
        await self.gate.mute(barrage.sender, minutes, f"muted from message #{barrage_id}", moderator)
        logger.info("sender of barrage %s muted for %d min by %s", barrage_id, minutes, moderator)
        return await self.decide(barrage_id, Verdict.REJECT, moderator, REASON_MUTED, via)

    async def decide_many(
        self, ids: object, verdict: object, moderator: str
    ) -> list[tuple[int, Barrage | str]]:
        """Decide each barrage as `decide` does (the same compare-and-set, its own event), in
        the order given; for each id, the barrage as it now is or why not ("not found",
        "already approved by Alice"). Bad input (not 1 to MAX_BULK distinct integer ids, or another
        verdict) is refused before anything is decided."""
        checked = _bulk_ids(ids)
        if verdict not in tuple(Verdict):
            raise InvalidInput("verdict must be approve or reject")
        return [(barrage_id, await self._decided_or_why(barrage_id, Verdict(verdict), moderator))
                for barrage_id in checked]

    async def _decided_or_why(self, barrage_id: int, verdict: Verdict, moderator: str) -> Barrage | str:
        try:
            return await self.decide(barrage_id, verdict, moderator)
        except NotFound:
            return NOT_FOUND
        except AlreadyDecided as lost:
            return str(lost)

    async def retract(self, barrage_id: int, moderator: str) -> Barrage:
        """Pull an approved barrage off every screen: status `retracted`, and a `retract`
        event that screens act on and replays honour (it never flies again). Compare-and-set
        like decide: the same moderator's repeat gets the barrage back, and nothing changes."""
        moderator = clean_name(moderator, MAX_NAME, "moderator")
        try:
            barrage, _ = await self._store.retract(barrage_id, moderator, utcnow())
        except CannotRetract as lost:
            if (lost.barrage.status, lost.barrage.retracted_by) != (Status.RETRACTED, moderator):
                raise
            return lost.barrage
        logger.info("barrage %s retracted by %s", barrage.id, moderator, extra=about(barrage))
        return barrage

    async def undo(self, barrage_id: int, moderator: str) -> Barrage:
        """Return a barrage decided in the last UNDO_SECONDS to pending.

        Its `pending` event makes every desk list it again and the chat cards
        show their buttons again. A comment that already flew stays flown.
        """
        moderator = clean_name(moderator, MAX_NAME, "moderator")
        now = utcnow()
        barrage, event = await self._store.undo(barrage_id, now - timedelta(seconds=UNDO_SECONDS), now)
        if event is None:
            raise CannotUndo(_why_not_undoable(barrage))
        logger.info("barrage %s back to pending (undone by %s)", barrage.id, moderator,
                    extra={**about(barrage), "event_id": event.id})
        return barrage

    async def set_mode(self, mode: str, by: str = "moderator", room: str | None = None) -> Mode:
        # The store publishes the `mode` event as it commits; this process holds the new
        # mode once committed, every other once its bus delivers the event.
        by = clean_name(by, MAX_NAME, "?")
        changed = await self.rooms.set_mode(self.rooms.get(room).slug, mode, by)
        logger.info("moderation mode of room %s set to %s by %s", changed.slug, changed.mode, by,
                    extra={"room": changed.slug})
        return changed.mode

    def _draft(self, submission: Submission, room: str) -> Draft:
        if not isinstance(submission.text, str):
            raise InvalidInput("text must be a string")
        text = self._policy.text(submission.text)
        return Draft(
            text=text,
            author=self._policy.author(submission.author, shorten=submission.source is not Source.WEB),
            color=normalize_color(submission.color),
            size=normalize_size(submission.size),
            source=submission.source,
            author_ref=submission.author_ref,
            dedupe_key=submission.dedupe_key,
            reply_to=submission.reply_to,
            sender=submission.sender_key,
            room=room,
            norm=normalize(text),
        )
