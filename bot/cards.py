"""Moderation cards and sender notices, driven by the database.

Each chat platform implements `CardPlatform`. `CardSync` keeps three small
loops per platform, woken by bus events (and every `sweep_seconds` anyway):

- post a card for every pending barrage that has none on this platform;
- edit every open card whose barrage is decided (wherever it was decided) or expired,
  and give a closed card its buttons back when its decision was undone;
- tell each sender from this platform what became of their message, once the
  decision can no longer be undone, so they only ever hear the final outcome;
- tell each lottery winner from this platform that they won, once per draw,
  through the chat their latest barrage in the room came from (web winners
  have no chat: nothing is sent).

State lives in the database (cards, `notified`), so a restart, a burst or an
outage loses nothing: the next pass picks up where the last one stopped. A
loop that hits a transient error backs off and runs again; an item that keeps
failing is given up after a few tries so it cannot wedge the loop.

Several nodes: the loops run only on the node holding the platform's lease
(`cards:<platform>`), so one node does the work and the others stand by; a
standby takes over within seconds of the holder's death and catches up at
once. Each item is also claimed in the database before the platform is called
(bot/cardstore.py), so even two holders overlapping while the lease changes
hands post, close and notify each item once.

A stop (Ctrl+C, or the lease lost) lets the item in hand finish, for a few
seconds: once the platform has the request, the card may be posted, so the
answer is recorded rather than the claim given back for someone to do again.
Only a holder killed between the platform's answer and the commit leaves a
post nobody can tell from one never made: the next holder posts that card
again, as a card posted twice beats a message no moderator ever sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from bot.cardstore import Card, CardStore
from bot.lease import Lease, while_held
from server.core.errors import Unavailable
from server.core.model import Barrage, Event, EventKind, Source
from server.core.service import UNDO_SECONDS

logger = logging.getLogger(__name__)
T = TypeVar("T")

BATCH = 20
MAX_FAILURES = 5
# How long a stopping loop waits for the platform to answer the item in hand. Telegram
# answers within a second; a server stop must stay well under 10 s.
STOP_GRACE_SECONDS = 3.0
# Senders hear of a decision once it can no longer be undone (a second of slack
# for the clocks of several processes).
NOTICE_HOLD_SECONDS = UNDO_SECONDS + 1.0


class CardPlatform(Protocol):
    platform: str
    source: Source  # whose senders this platform notifies
    posts_cards: bool

    async def post_card(self, barrage: Barrage, waiting_behind: int) -> tuple[str, str] | None:
        """Post a card; return (chat_id, message_id), or None when it cannot be posted."""

    async def close_card(self, card: Card, barrage: Barrage) -> None:
        """Edit the card to show the verdict: an approved one keeps a "Remove from screen"
        button; a retracted one shows who removed it, with no buttons left."""

    async def reopen_card(self, card: Card, barrage: Barrage) -> None:
        """Edit a closed card back to a waiting one with its buttons (the decision was undone)."""

    async def notify_sender(self, barrage: Barrage) -> None: ...

    async def notify_winner(self, barrage: Barrage) -> None:
        """Tell the sender of `barrage` (their latest in the draw's room) that they won."""


class CardSync:
    def __init__(self, store: CardStore, platform: CardPlatform, sweep_seconds: float = 30.0,
                 backoff_seconds: float = 2.0, lease: Lease | None = None) -> None:
        self._store = store
        self._lease = lease  # None: this process alone runs the loops
        self._platform = platform
        self._sweep = sweep_seconds
        self._backoff = backoff_seconds
        self._failures: dict[tuple[str, int | str], int] = {}
        self._loops = {
            "post": (asyncio.Event(), self._post_cards),
            "close": (asyncio.Event(), self._close_cards),
            "notify": (asyncio.Event(), self._notify_senders),
            "winners": (asyncio.Event(), self._tell_winners),
        }
        self._draws_read = 0  # the lottery events this holder has gone through
        self._tasks: list[asyncio.Task[None]] = []
        self._repost: asyncio.Task[None] | None = None
        self.notice_hold = NOTICE_HOLD_SECONDS  # tests that do not undo may shorten it
        self.stop_grace = STOP_GRACE_SECONDS

    def start(self) -> None:
        if self._lease is None:
            self._tasks = self._start_loops()
        else:
            name = f"{self._platform.platform}-cards-lease"
            self._tasks = [asyncio.create_task(while_held(self._lease, self._take_over), name=name)]

    def _start_loops(self) -> list[asyncio.Task[None]]:
        # Every draw again, from the first: the claims in the database skip winners already told.
        self._draws_read = 0
        for wake, _work in self._loops.values():
            wake.set()  # catch up at once on whatever a restart or another node left behind
        name = self._platform.platform
        return [asyncio.create_task(self._loop(wake, work), name=f"{name}-cards-{key}")
                for key, (wake, work) in self._loops.items()]

    async def _take_over(self) -> None:
        """This node now holds the lease: whatever a holder left mid-post is posted again.

        A limit: a holder that lost its lease but still lives may be finishing one of these
        claims (up to `stop_grace`), and that card is then posted twice."""
        await self._store.drop_claims(self._platform.platform)
        loops = self._start_loops()
        try:
            await asyncio.wait(loops)  # they run until cancelled
        finally:
            # Once: a second cancel would land in a loop that is giving a claim back,
            # mid-statement, and the database driver cannot always recover from that.
            for loop in loops:
                loop.cancel()
            await asyncio.wait(loops)

    async def close(self) -> None:
        """Stop every task; one that failed is logged, never raised, so the channel still stops."""
        tasks = [*self._tasks, *([self._repost] if self._repost else [])]
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for task, result in zip(tasks, results, strict=True):
            if isinstance(result, Exception):  # CancelledError is not one: stopped as asked
                logger.error("%s failed", task.get_name(), exc_info=result)

    def reposting(self) -> bool:
        return self._repost is not None and not self._repost.done()

    def repost(self, batch: list[Barrage]) -> None:
        """Post fresh cards for `batch` (/pending), in the background."""
        self._repost = asyncio.create_task(self._post_fresh(batch), name=f"{self._platform.platform}-repost")

    async def _post_fresh(self, batch: list[Barrage]) -> None:
        for index, barrage in enumerate(batch):
            try:
                ref = await self._platform.post_card(barrage, len(batch) - index - 1)
                if ref is not None:
                    await self._store.add_card(barrage.id, self._platform.platform, *ref)
            except Exception:
                logger.exception("%s: re-posting card %s failed", self._platform.platform, barrage.id)
        self.wake("close")  # same race as in _post_cards

    def on_event(self, event: Event) -> None:
        """Bus handler: only wakes loops, never does I/O itself."""
        if event.kind is EventKind.PENDING:
            self.wake("post")
            self.wake("close")  # an undo: its closed cards get their buttons back
        elif event.kind is EventKind.RETRACT:
            self.wake("close")  # its cards, opened again by the retract, now show who removed it
        elif event.kind in (EventKind.BARRAGE, EventKind.REJECTED, EventKind.EXPIRED):
            self.wake("close")
            self.wake("notify")
            # That sender is due once the hold is over; the sweep would be up to 30 s later.
            asyncio.get_running_loop().call_later(self.notice_hold, self.wake, "notify")
        elif event.kind is EventKind.LOTTERY:
            self.wake("winners")

    def wake(self, loop: str) -> None:
        self._loops[loop][0].set()

    async def _loop(self, wake: asyncio.Event, work: Callable[[], Awaitable[None]]) -> None:
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the result
            # when the wake-up and a cancellation land together, swallowing the
            # cancellation, and close() (so Ctrl+C) then waits for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sweep):
                    await wake.wait()
            wake.clear()
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Unavailable:  # the database away: expected, one line and no traceback
                logger.warning("%s card sync pass: the database is unavailable; retrying",
                               self._platform.platform)
                await asyncio.sleep(self._backoff)
                wake.set()
            except Exception:
                logger.exception("%s card sync pass failed; retrying", self._platform.platform)
                await asyncio.sleep(self._backoff)
                wake.set()

    async def _post_cards(self) -> None:
        if not self._platform.posts_cards:
            return
        while True:
            batch, total = await self._store.pending_without_card(self._platform.platform, BATCH)
            if not batch:
                return
            for done, barrage in enumerate(batch):
                await self._to_the_end(self._post_card(barrage, total - done - 1))
            # A barrage decided while its card was on the way has a card no close
            # pass has seen yet: look again now rather than at the next sweep.
            self.wake("close")

    async def _post_card(self, barrage: Barrage, waiting_behind: int) -> None:
        if (card := await self._store.claim_post(barrage.id, self._platform.platform)) is None:
            return  # carded by another node meanwhile, or decided
        try:
            ref = await self._guard("post", barrage.id, self._platform.post_card(barrage, waiting_behind))
        except BaseException:
            await self._store.drop_claim(card.id)  # a later pass posts it
            raise
        if ref is None:  # no card possible: a closed placeholder row, so it is not retried forever
            await self._store.close_card(card.id)
        else:
            await self._store.record_post(card, *ref, shown_count=barrage.count)

    async def _close_cards(self) -> None:
        platform = self._platform.platform
        while found := await self._store.cards_to_close(platform, BATCH):
            for card, barrage in found:
                await self._to_the_end(self._close_card(card, barrage))
        # In the same pass, after closing: a card closed while its decision was being
        # undone is found here, so no card keeps showing a verdict that was taken back.
        while found := await self._store.cards_to_reopen(platform, BATCH):
            for card, barrage in found:
                await self._to_the_end(self._reopen_card(card, barrage))

    async def _close_card(self, card: Card, barrage: Barrage) -> None:
        if not await self._store.close_card(card.id):
            return  # another node claimed this edit
        try:
            await self._guard("close", card.id, self._platform.close_card(card, barrage))
        except BaseException:
            await self._store.reopen_card(card.id)  # not edited: the next pass tries again
            raise

    async def _reopen_card(self, card: Card, barrage: Barrage) -> None:
        if not await self._store.reopen_card(card.id):
            return
        # Read again after the claim: a repeat that joined it since it was listed (×N) closed
        # nothing (the card was closed), so the edit must show the count as it is now.
        barrage = await self._store.barrage(barrage.id) or barrage
        try:
            await self._guard("reopen", card.id, self._platform.reopen_card(card, barrage))
        except BaseException:
            await self._store.close_card(card.id)
            raise

    async def _notify_senders(self) -> None:
        source = self._platform.source
        while found := await self._store.unnotified(source, BATCH, self._decided_before()):
            for barrage in found:
                await self._to_the_end(self._notify_sender(barrage))

    async def _notify_sender(self, barrage: Barrage) -> None:
        if not await self._store.mark_notified(barrage.id):
            return  # another node is telling them
        try:
            await self._guard("notify", barrage.id, self._platform.notify_sender(barrage))
        except BaseException:
            await self._store.unmark_notified(barrage.id)
            raise

    async def _to_the_end(self, item: Awaitable[None]) -> None:
        """Claim, call the platform and record as one step that a cancellation lets finish
        (up to `stop_grace`), then let the cancellation through.

        Cut short while the platform answers, the claim would be given back (or the answer
        never recorded) although the card was posted, edited or the sender told, and the next
        pass or holder would do it a second time.
        """
        task = asyncio.ensure_future(item)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            try:
                await asyncio.wait([task], timeout=self.stop_grace)
            finally:
                task.cancel()  # no answer in time: the item gives its claim back
                await asyncio.wait([task])
                if not task.cancelled() and (error := task.exception()) is not None:
                    logger.warning("%s: a card item failed as this node stopped: %s", self._platform.platform,
                                   type(error).__name__)
            raise  # the item is over (done, or given back): now the stop goes through

    async def _tell_winners(self) -> None:
        while draws := await self._store.draws_after(self._draws_read, BATCH):
            for draw in draws:
                for sender in _winners_from(draw, self._platform.source):
                    await self._to_the_end(self._tell_winner(draw, sender))
                self._draws_read = draw.id  # only once all its winners are told (or given up)

    async def _tell_winner(self, draw: Event, sender: str) -> None:
        draw_id = str(draw.payload.get("draw_id"))
        if not await self._store.claim_winner_notice(draw_id, sender):
            return  # told already, by this node or another
        if (barrage := await self._store.latest_from(draw.room, sender)) is None:
            return  # nowhere to answer them
        try:
            await self._guard("winner", f"{draw_id}:{sender}", self._platform.notify_winner(barrage))
        except BaseException:
            await self._store.drop_winner_notice(draw_id, sender)  # the next pass tries again
            raise

    def _decided_before(self) -> datetime | None:
        """Decisions still undoable are left out: the sender hears the final outcome only."""
        if self.notice_hold <= 0:
            return None
        return datetime.now(UTC) - timedelta(seconds=self.notice_hold)

    async def _guard(self, what: str, item: int | str, call: Awaitable[T]) -> T | None:
        """Run one item; re-raise to retry the pass, unless it has failed too often."""
        key = (what, item)
        try:
            result = await call
        except asyncio.CancelledError:
            raise
        except Exception:
            self._failures[key] = self._failures.get(key, 0) + 1
            if self._failures[key] < MAX_FAILURES:
                raise
            logger.exception("%s: giving up on %s %s", self._platform.platform, what, item)
            result = None
        self._failures.pop(key, None)
        if len(self._failures) > 1000:  # items decided elsewhere meanwhile; keep it bounded
            self._failures.clear()
        return result


def _winners_from(draw: Event, source: Source) -> list[str]:
    """The sender keys of a draw's winners who sent from `source` (payload: `senders` and
    `winners` in the same order)."""
    payload = draw.payload
    pairs = zip(payload.get("senders") or [], payload.get("winners") or [], strict=False)
    return [sender for sender, winner in pairs if sender and winner.get("source") == str(source)]
