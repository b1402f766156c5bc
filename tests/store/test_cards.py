"""The chat side's card store (server/store/cards.py): cards and sender notices, on SQLite and
PostgreSQL, beside the barrage store on the same engine."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from server.core.model import MAX_ID, Source, Status
from server.store import SqlStore
from server.store.cards import SqlCards
from tests.store.conftest import draft

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def cards(store: SqlStore) -> SqlCards:
    return SqlCards(store._engine)


async def test_pending_barrages_without_a_card_on_that_platform(
    store: SqlStore, cards: SqlCards
) -> None:
    made = [(await store.add(draft(f"m{i}"), Status.PENDING, NOW))[0] for i in range(4)]
    await store.add(draft("flown"), Status.APPROVED, NOW)
    card = await cards.add_card(made[0].id, "telegram", "-100", "7", False)
    assert card.barrage_id == made[0].id
    assert (card.platform, card.chat_id, card.message_id) == ("telegram", "-100", "7")
    assert await cards.pending_without_card("telegram", 2) == ([made[1], made[2]], 3)
    assert await cards.pending_without_card("slack", 10) == (made, 4)
    assert await cards.cards_of(made[0].id, "telegram") == [card]
    assert await cards.cards_of(made[0].id, "slack") == []
    assert await cards.cards_of(MAX_ID + 1, "telegram") == []


async def test_a_decided_barrages_cards_close_and_reopen_after_an_undo(
    store: SqlStore, cards: SqlCards
) -> None:
    barrage, _ = await store.add(draft(), Status.PENDING, NOW)
    card = await cards.add_card(barrage.id, "slack", "C1", "1.5", False)
    assert await cards.cards_to_close("slack", 10) == []
    decided, _ = await store.decide(barrage.id, Status.APPROVED, "Alice", NOW)
    assert await cards.cards_to_close("slack", 10) == [(card, decided)]
    await cards.close_card(card.id)
    assert await cards.cards_to_close("slack", 10) == [] and await cards.cards_to_reopen("slack", 10) == []
    undone, _ = await store.undo(barrage.id, NOW - timedelta(seconds=1), NOW)
    assert await cards.cards_to_reopen("slack", 10) == [(card, undone)]
    await cards.reopen_card(card.id)
    assert await cards.cards_to_reopen("slack", 10) == []


async def test_undo_drops_a_placeholder_so_the_card_is_posted_again(
    store: SqlStore, cards: SqlCards
) -> None:
    barrage, _ = await store.add(draft(), Status.PENDING, NOW)
    await cards.add_card(barrage.id, "telegram", "-100", "", True)  # could not be posted
    await store.decide(barrage.id, Status.REJECTED, "Alice", NOW)
    assert await cards.pending_without_card("telegram", 10) == ([], 0)
    undone, _ = await store.undo(barrage.id, NOW - timedelta(seconds=1), NOW)
    assert await cards.pending_without_card("telegram", 10) == ([undone], 1)
    assert await cards.cards_of(barrage.id, "telegram") == []


async def test_senders_to_tell_are_decided_unnotified_barrages_of_their_source(
    store: SqlStore, cards: SqlCards
) -> None:
    waiting, _ = await store.add(draft(source=Source.TELEGRAM), Status.PENDING, NOW)
    early, _ = await store.add(draft(source=Source.TELEGRAM), Status.PENDING, NOW)
    await store.add(draft(source=Source.TELEGRAM), Status.APPROVED, NOW)  # told at submission
    await store.add(draft(source=Source.SLACK), Status.PENDING, NOW)
    first, _ = await store.decide(early.id, Status.APPROVED, "Alice", NOW)
    second, _ = await store.decide(waiting.id, Status.REJECTED, "Bob", NOW + timedelta(minutes=1))
    assert await cards.unnotified(Source.TELEGRAM, 10) == [second, first]  # in id order
    assert await cards.unnotified(Source.TELEGRAM, 10, NOW) == [first]
    assert await cards.unnotified(Source.SLACK, 10) == []
    await cards.mark_notified(early.id)
    assert await cards.unnotified(Source.TELEGRAM, 10) == [second]


# -- claims: several nodes' card loops may run at once while a lease changes hands --

async def test_of_many_claims_on_one_card_at_once_exactly_one_wins(store: SqlStore, cards: SqlCards) -> None:
    barrage, _ = await store.add(draft("claimed"), Status.PENDING, NOW)
    others = [SqlCards(SqlStore.from_url(str(store._engine.url.render_as_string(False)))._engine)
              for _ in range(3)]  # each its own engine: its own connections, as another node's
    try:
        won = await asyncio.gather(*(c.claim_post(barrage.id, "telegram") for c in [cards, *others]))
    finally:
        for other in others:
            await other._engine.dispose()
    [claim] = [card for card in won if card is not None]
    assert (claim.chat_id, claim.message_id) == ("", "")
    assert await cards.pending_without_card("telegram", 10) == ([], 0)  # a claim counts as a card
    assert await cards.claim_post(barrage.id, "slack") is not None  # per platform


async def test_a_claim_is_recorded_given_back_or_dropped_by_the_next_holder(
    store: SqlStore, cards: SqlCards
) -> None:
    posted, failed, orphan = [(await store.add(draft(t), Status.PENDING, NOW))[0]
                              for t in ("posted", "failed", "orphan")]
    claim = await cards.claim_post(posted.id, "telegram")
    assert claim is not None
    await cards.record_post(claim, "-100", "7")
    assert [(c.chat_id, c.message_id) for c in await cards.cards_of(posted.id, "telegram")] == [("-100", "7")]
    failing = await cards.claim_post(failed.id, "telegram")
    assert failing is not None
    await cards.drop_claim(failing.id)  # the post failed: a later pass tries again
    assert await cards.cards_of(failed.id, "telegram") == []
    assert await cards.claim_post(orphan.id, "telegram") is not None  # its holder died mid-post
    await cards.drop_claims("telegram")
    assert (await cards.pending_without_card("telegram", 10))[0] == [failed, orphan]
    assert len(await cards.cards_of(posted.id, "telegram")) == 1  # a posted card is never dropped


async def test_a_decided_barrage_is_not_claimed_and_an_undo_keeps_a_card_posted_meanwhile(
    store: SqlStore, cards: SqlCards
) -> None:
    barrage, _ = await store.add(draft("quick"), Status.PENDING, NOW)
    claim = await cards.claim_post(barrage.id, "telegram")
    assert claim is not None
    await store.decide(barrage.id, Status.APPROVED, "Mod", NOW)
    assert await cards.claim_post(barrage.id, "slack") is None  # decided: no card to post
    await store.undo(barrage.id, NOW - timedelta(seconds=1), NOW)  # drops the card-less claim row
    await cards.record_post(claim, "-100", "9")  # the post was on its way: it is recorded all the same
    assert [c.message_id for c in await cards.cards_of(barrage.id, "telegram")] == ["9"]


async def test_closing_reopening_and_telling_are_compare_and_set(store: SqlStore, cards: SqlCards) -> None:
    barrage, _ = await store.add(draft("cas"), Status.PENDING, NOW)
    card = await cards.add_card(barrage.id, "slack", "C1", "1.5")
    assert await cards.close_card(card.id) and not await cards.close_card(card.id)
    assert await cards.reopen_card(card.id) and not await cards.reopen_card(card.id)
    await store.decide(barrage.id, Status.APPROVED, "Mod", NOW)
    assert await cards.mark_notified(barrage.id) and not await cards.mark_notified(barrage.id)
    await cards.unmark_notified(barrage.id)  # telling failed: the claim goes back
    assert [b.id for b in await cards.unnotified(Source.WEB, 10)] == [barrage.id]
