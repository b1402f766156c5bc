"""The card loops against the real store and service, with a chat platform faked in the test.

The platform is the outside world here: it records every call and fails on
demand, so the give-up (MAX_FAILURES) and re-post paths can be driven directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.actions import Actions, ChatUser, Core, named
from bot.cards import MAX_FAILURES, CardSync
from bot.cardstore import Card
from bot.lease import Lease, LocalLeases
from bot.moderators import Moderators
from server.bus import MemoryBus
from server.core.model import Barrage, Source, Verdict
from server.core.policy import InputPolicy, RatePolicy
from server.core.service import BarrageService, Submission
from server.core.views import Views
from server.ratelimit import MemoryWindows
from server.store import SqlStore
from server.store.batching import BatchingStore
from server.store.cards import SqlCards
from server.store.sql import create_engine

MOD = ChatUser(7, named("Mod"))


class FakeChat:
    """A CardPlatform: each call is recorded; the kinds in `broken` fail every time, and those in
    `answers` are answered only once their event is set (the request is in, its answer on the way)."""

    platform = "fake"
    source = Source.TELEGRAM
    posts_cards = True

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.broken: set[str] = set()
        self.answers: dict[str, asyncio.Event] = {}
        self._changed = asyncio.Condition()
        self._ids = iter(range(100, 10_000))

    async def post_card(self, barrage: Barrage, waiting_behind: int) -> tuple[str, str] | None:
        await self._record("post", barrage.id)
        return "chat", str(next(self._ids))

    async def close_card(self, card: Card, barrage: Barrage) -> None:
        await self._record("close", barrage.id)

    async def reopen_card(self, card: Card, barrage: Barrage) -> None:
        await self._record("reopen", barrage.id)

    async def notify_sender(self, barrage: Barrage) -> None:
        await self._record("notify", barrage.id)

    async def notify_winner(self, barrage: Barrage) -> None:
        await self._record("winner", barrage.id)

    async def _record(self, kind: str, barrage_id: int) -> None:
        async with self._changed:
            self.calls.append((kind, barrage_id))
            self._changed.notify_all()
        if kind in self.broken:
            raise ConnectionError(f"{kind} failed")
        if (answer := self.answers.get(kind)) is not None:
            await answer.wait()

    async def wait_for(self, kind: str, barrage_id: int, count: int = 1) -> None:
        # The bound only ends a test that would hang; nothing is timed.
        async with asyncio.timeout(30), self._changed:
            await self._changed.wait_for(lambda: self.calls.count((kind, barrage_id)) >= count)


@dataclass
class Desk:
    service: BarrageService
    cards: SqlCards
    chat: FakeChat
    sync: CardSync
    actions: Actions

    async def submit(self, text: str) -> int:
        return (await self.service.submit(Submission(text=text, source=Source.TELEGRAM))).barrage.id


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cards.db'}")
    store, cards, bus = SqlStore(engine), SqlCards(engine), MemoryBus()
    await store.create_schema()
    service = BarrageService(BatchingStore(store, bus), InputPolicy(), MemoryWindows(), RatePolicy(0, 0))
    await service.start()
    chat = FakeChat()
    sync = CardSync(cards, chat, backoff_seconds=0)
    sync.notice_hold = 0
    bus.subscribe(sync.on_event)
    actions = Actions(Core(service, Views(store), cards, screens=lambda room: 0, settings=store),
                      Source.TELEGRAM,
                      Moderators([MOD.ref], None, 60, "none"), sync)
    sync.start()
    yield Desk(service, cards, chat, sync, actions)
    await sync.close()
    await store.close()


async def test_a_card_that_cannot_be_posted_is_given_up_and_the_next_one_posted(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    desk.chat.broken.add("post")
    stuck = await desk.submit("stuck")
    await desk.chat.wait_for("post", stuck, MAX_FAILURES)
    desk.chat.broken.clear()
    after = await desk.submit("after")
    await desk.chat.wait_for("post", after)
    assert desk.chat.calls.count(("post", stuck)) == MAX_FAILURES  # then never again
    [placeholder] = await desk.cards.cards_of(stuck, "fake")
    assert placeholder.message_id == ""  # closed and empty: not retried forever
    assert f"fake: giving up on post {stuck}" in caplog.text


async def test_undo_drops_a_given_up_placeholder_so_the_card_is_tried_again(desk: Desk) -> None:
    desk.chat.broken.add("post")
    barrage_id = await desk.submit("later lucky")
    await desk.chat.wait_for("post", barrage_id, MAX_FAILURES)
    desk.chat.broken.clear()
    await stored_card(desk, barrage_id, "")  # the placeholder commits right after the last try
    await desk.service.decide(barrage_id, Verdict.APPROVE, "Mod")
    await desk.service.undo(barrage_id, "Mod")
    await desk.chat.wait_for("post", barrage_id, MAX_FAILURES + 1)
    card = await stored_card(desk, barrage_id, "100")
    assert [card] == await desk.cards.cards_of(barrage_id, "fake")  # the placeholder is gone


async def stored_card(desk: Desk, barrage_id: int, message_id: str) -> Card:
    """The card stored for `barrage_id` with `message_id`, waiting for its commit."""
    for _ in range(500):
        found = [c for c in await desk.cards.cards_of(barrage_id, "fake") if c.message_id == message_id]
        if found:
            return found[0]
        await asyncio.sleep(0.01)
    raise AssertionError(f"no card {message_id!r} for barrage {barrage_id}")


async def test_a_card_that_cannot_be_closed_is_given_up_and_counted_closed(desk: Desk) -> None:
    barrage_id = await desk.submit("hard to close")
    await desk.chat.wait_for("post", barrage_id)
    desk.chat.broken.add("close")
    await desk.service.decide(barrage_id, Verdict.REJECT, "Mod")
    await desk.chat.wait_for("close", barrage_id, MAX_FAILURES)
    desk.chat.broken.clear()
    other = await desk.submit("other")  # a positive signal: the close loop moved on
    await desk.chat.wait_for("post", other)
    await desk.service.decide(other, Verdict.REJECT, "Mod")
    await desk.chat.wait_for("close", other)
    assert desk.chat.calls.count(("close", barrage_id)) == MAX_FAILURES
    assert barrage_id not in [card.barrage_id for card, _ in await desk.cards.cards_to_close("fake", 10)]


async def test_a_sender_who_cannot_be_told_is_given_up(desk: Desk) -> None:
    desk.chat.broken.add("notify")
    barrage_id = await desk.submit("unreachable sender")
    await desk.service.decide(barrage_id, Verdict.APPROVE, "Mod")
    await desk.chat.wait_for("notify", barrage_id, MAX_FAILURES)
    desk.chat.broken.clear()
    other = await desk.submit("reachable")
    await desk.service.decide(other, Verdict.APPROVE, "Mod")
    await desk.chat.wait_for("notify", other)
    assert desk.chat.calls.count(("notify", barrage_id)) == MAX_FAILURES
    assert barrage_id not in [b.id for b in await desk.cards.unnotified(Source.TELEGRAM, 10)]


async def test_pending_reposts_the_oldest_waiting_and_stores_their_cards(desk: Desk) -> None:
    operator = await desk.actions.operator(MOD)
    assert operator is not None
    assert await operator.pending() == "Nothing waiting."
    ids = [await desk.submit(f"waiting {i}") for i in range(3)]
    for barrage_id in ids:
        await desk.chat.wait_for("post", barrage_id)
    assert await operator.pending(limit=2) == "Re-posting 2 waiting (more waiting — use /moderate)."
    assert await operator.pending(limit=2) == "Still re-posting the last batch of cards."
    await desk.chat.wait_for("post", ids[1], 2)
    await asyncio.wait([desk.sync._repost])  # type: ignore[list-item]
    assert [len(await desk.cards.cards_of(i, "fake")) for i in ids] == [2, 2, 1]
    assert not desk.sync.reposting()


async def test_a_commands_value_wins_over_a_room_of_that_name(desk: Desk) -> None:
    """`/mode off` keeps meaning main's mode even once a room is called "off"."""
    rooms = desk.service.rooms
    await rooms.create("off", {"mode": "manual"}, "test")
    operator = await desk.actions.operator(MOD)
    assert operator is not None
    assert "now off" in await operator.command("mode", "off")
    assert "now off" in await operator.command("mode", "off off")
    assert (rooms.get("main").mode.value, rooms.get("off").mode.value) == ("off", "off")
    assert "Room: main\nModeration mode is now manual" in await operator.command("mode", " MANUAL ")
    assert (await operator.command("pause", "off")).startswith("⏸ off is paused")


async def test_a_failed_repost_is_logged_and_the_batch_goes_on(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [await desk.submit(f"waiting {i}") for i in range(2)]
    for barrage_id in ids:
        await desk.chat.wait_for("post", barrage_id)
    desk.chat.broken.add("post")
    operator = await desk.actions.operator(MOD)
    assert operator is not None and await operator.pending() == "Re-posting 2 waiting."
    await asyncio.wait([desk.sync._repost])  # type: ignore[list-item]
    assert desk.chat.calls.count(("post", ids[1])) == 2  # the second was tried after the first failed
    assert caplog.text.count("re-posting card") == 2
    assert [r.levelno for r in caplog.records if "re-posting" in r.getMessage()] == [logging.ERROR] * 2


async def test_only_moderators_get_the_operator_commands(desk: Desk) -> None:
    assert await desk.actions.operator(ChatUser(8, named("Eve"))) is None
    outcome = await desk.actions.press(ChatUser(8, named("Eve")), Verdict.APPROVE, 1)
    assert not outcome.decided and outcome.text == "Only moderators can decide."


# -- several nodes on one database --

@asynccontextmanager
async def second_node(desk: Desk, chat: FakeChat, lease: Lease | None = None) -> AsyncIterator[CardSync]:
    """Another process's card loops on the same database: an engine of its own, woken by
    nothing but its sweep (another process's bus events never reach it here)."""
    engine = create_engine(str(desk.cards._engine.url))
    sync = CardSync(SqlCards(engine), chat, sweep_seconds=0.05, backoff_seconds=0, lease=lease)
    sync.notice_hold = 0
    sync.start()
    try:
        yield sync
    finally:
        await sync.close()
        await engine.dispose()


async def test_two_nodes_running_the_card_loops_at_once_still_do_everything_once(desk: Desk) -> None:
    """No lease at all, the worst overlap: the claims alone keep every post, edit and notice single."""
    other_chat = FakeChat()
    async with second_node(desk, other_chat):
        ids = [await desk.submit(f"both {i}") for i in range(8)]
        for barrage_id in ids:
            await either(desk.chat, other_chat, "post", barrage_id)
            await desk.service.decide(barrage_id, Verdict.APPROVE, "Mod")
        for barrage_id in ids:
            await either(desk.chat, other_chat, "close", barrage_id)
            await either(desk.chat, other_chat, "notify", barrage_id)
        last = await desk.submit("a later one")  # both nodes have swept past the others since
        await either(desk.chat, other_chat, "post", last)
    calls = desk.chat.calls + other_chat.calls
    for barrage_id in ids:
        assert [calls.count((kind, barrage_id)) for kind in ("post", "close", "notify")] == [1, 1, 1]
    print(f"\nwork done by each node: {len(desk.chat.calls)} and {len(other_chat.calls)}")


@pytest.fixture
async def bare_desk(tmp_path: Path) -> AsyncIterator[Desk]:
    """The database and the service, with no card loops of its own: the nodes bring theirs."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cards.db'}")
    store = SqlStore(engine)
    await store.create_schema()
    service = BarrageService(BatchingStore(store, MemoryBus()), InputPolicy(), MemoryWindows(),
                             RatePolicy(0, 0))
    await service.start()
    yield Desk(service, SqlCards(engine), FakeChat(), None, None)  # type: ignore[arg-type]
    await store.close()


async def test_with_a_lease_one_node_works_and_the_other_takes_over_when_it_stops(bare_desk: Desk) -> None:
    desk, leases = bare_desk, LocalLeases()
    first_chat, second_chat = FakeChat(), FakeChat()
    async with second_node(desk, first_chat, leases("cards:fake")) as first:
        async with second_node(desk, second_chat, leases("cards:fake")):
            before = await desk.submit("before")
            await first_chat.wait_for("post", before)
            await stored_card(desk, before, "100")  # between two items: a post cut short is re-posted
            await first.close()  # the holder stops (its lease is released on the way out)
            after = await desk.submit("after")
            await second_chat.wait_for("post", after)
    assert first_chat.calls == [("post", before)] and second_chat.calls == [("post", after)]


@pytest.mark.parametrize("kind", ["post", "close", "notify"])
async def test_a_holder_stopped_while_the_platform_answers_does_its_work_once(
    bare_desk: Desk, kind: str
) -> None:
    """Ctrl+C, or the lease lost, while Telegram already has the request: the post, edit or
    notice has happened, so it is recorded as done, or the next holder does it a second time."""
    desk, leases = bare_desk, LocalLeases()
    first_chat, second_chat = FakeChat(), FakeChat()
    first_chat.answers[kind] = asyncio.Event()
    async with second_node(desk, first_chat, leases("cards:fake")) as first:
        cut_short = await decided_if_not(desk, first_chat, kind, "cut short")
        await first_chat.wait_for(kind, cut_short)

        async def answer_once_stopping() -> None:
            loop = next(t for t in asyncio.all_tasks() if t.get_name() == f"fake-cards-{kind}")
            # The stop has reached the loop (a task state: no event to wait on), then the answer.
            while not (loop.done() or loop.cancelling()):  # noqa: ASYNC110
                await asyncio.sleep(0)
            first_chat.answers[kind].set()
        await asyncio.gather(first.close(), answer_once_stopping())
    async with second_node(desk, second_chat, leases("cards:fake")):
        later = await decided_if_not(desk, second_chat, kind, "later")
        await second_chat.wait_for(kind, later)  # its pass went past the one cut short
    assert (first_chat.calls + second_chat.calls).count((kind, cut_short)) == 1


async def test_a_holder_whose_platform_never_answers_still_stops_and_gives_the_post_back(
    bare_desk: Desk
) -> None:
    desk, leases = bare_desk, LocalLeases()
    first_chat, second_chat = FakeChat(), FakeChat()
    first_chat.answers["post"] = asyncio.Event()  # never set
    async with second_node(desk, first_chat, leases("cards:fake")) as first:
        first.stop_grace = 0
        stuck = await desk.submit("never answered")
        await first_chat.wait_for("post", stuck)
        await first.close()  # returns: the stop does not wait for an answer that never comes
    async with second_node(desk, second_chat, leases("cards:fake")):
        await second_chat.wait_for("post", stuck)  # the claim was given back: posted again


async def decided_if_not(desk: Desk, chat: FakeChat, kind: str, text: str) -> int:
    """A barrage with `kind` to do: pending for a post, carded and decided for an edit or a notice."""
    barrage_id = await desk.submit(text)
    if kind != "post":
        await chat.wait_for("post", barrage_id)
        await desk.service.decide(barrage_id, Verdict.APPROVE, "Mod")
    return barrage_id


async def either(one: FakeChat, other: FakeChat, kind: str, barrage_id: int) -> None:
    done = asyncio.Event()
    waits = [asyncio.create_task(chat.wait_for(kind, barrage_id)) for chat in (one, other)]
    for wait in waits:
        wait.add_done_callback(lambda task: done.set() if not task.cancelled() else None)
    try:
        await asyncio.wait_for(done.wait(), 30)  # ends a hang; nothing is timed
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
