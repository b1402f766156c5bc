"""Lottery winners told through their chat, once: two card loops at once on one database (a lease
changing hands), then a third starting from the first draw, against the real store, lottery and claims."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cards import CardSync
from bot.replyto import ReplyTo
from server.bus import MemoryBus
from server.core.lottery import Lottery
from server.core.model import MAIN, Mode, Source
from server.core.policy import InputPolicy, RatePolicy
from server.core.rooms import Rooms
from server.core.service import BarrageService, Submission
from server.ratelimit import MemoryWindows
from server.store import SqlStore
from server.store.batching import BatchingStore
from server.store.cards import SqlCards
from server.store.sql import create_engine
from tests.bot.test_cards import FakeChat

DRAWS = 5


@dataclass
class Party:
    service: BarrageService
    lottery: Lottery
    cards: SqlCards
    bus: MemoryBus

    def card_loop(self, chat: FakeChat) -> CardSync:
        sync = CardSync(self.cards, chat, backoff_seconds=0)  # no lease: it runs whatever others do
        self.bus.subscribe(sync.on_event)
        sync.start()
        return sync

    async def submit(self, text: str, sender: str, source: Source = Source.TELEGRAM) -> int:
        reply = ReplyTo(f"chat-{sender}", len(text)).dump() if source is Source.TELEGRAM else None
        submission = Submission(text=text, author=sender.title(), source=source, sender_key=sender,
                                reply_to=reply)
        return (await self.service.submit(submission)).barrage.id


@pytest.fixture(params=["sqlite", "postgres"])
async def party(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Party]:
    url = (f"sqlite+aiosqlite:///{tmp_path / 'party.db'}" if request.param == "sqlite"
           else request.getfixturevalue("fresh_postgres_url"))
    engine = create_engine(url)
    store, bus = SqlStore(engine), MemoryBus()
    await store.create_schema()
    batching = BatchingStore(store, bus)
    rooms = Rooms.main_only(batching, Mode.OFF)
    service = BarrageService(batching, InputPolicy(), MemoryWindows(), RatePolicy(0, 0), rooms)
    bus.subscribe(service.on_event)
    await service.start()
    yield Party(service, Lottery(batching, rooms), SqlCards(engine), bus)
    await store.close()


async def test_two_card_loops_on_one_database_tell_each_winner_once_per_draw(party: Party) -> None:
    await party.submit("first", "ann")
    ann = await party.submit("latest", "ann")  # answered on their latest message
    bob = await party.submit("hi", "bob")
    await party.submit("from the web", "wen", Source.WEB)  # a winner with no chat: nothing sent
    chat = FakeChat()  # one Telegram, two nodes' card loops
    one, two = party.card_loop(chat), party.card_loop(chat)

    for _ in range(DRAWS):
        await party.lottery.draw(MAIN, 3)  # everyone wins, every time
    await chat.wait_for("winner", ann, DRAWS)
    await chat.wait_for("winner", bob, DRAWS)
    assert winners_told(chat) == {ann: DRAWS, bob: DRAWS}

    # A third joins (a restart, a new lease holder): it reads every draw again, from the first.
    # Nothing is stopped before the end: a loop cancelled mid-claim may hold SQLite's write lock.
    three = party.card_loop(chat)
    await party.lottery.draw(MAIN, 3)
    await chat.wait_for("winner", ann, DRAWS + 1)
    await chat.wait_for("winner", bob, DRAWS + 1)  # the newest draw's: every earlier one was read first
    for loop in (one, two, three):
        await loop.close()
    assert winners_told(chat) == {ann: DRAWS + 1, bob: DRAWS + 1}


def winners_told(chat: FakeChat) -> Counter[int]:
    return Counter(barrage for kind, barrage in chat.calls if kind == "winner")
