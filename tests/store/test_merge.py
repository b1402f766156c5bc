"""×N merging in the store (server/store/merge.py), on SQLite and PostgreSQL: repeats join
their first in the submission's transaction, decisions carry them, cards re-render."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from server.core.model import Draft, EventKind, Status
from server.store import SqlStore
from server.store.cards import SqlCards
from tests.store.conftest import draft

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def said(text: str, sender: str, room: str = "main", norm: str | None = None) -> Draft:
    return draft(text, sender=sender, room=room, norm=text.lower() if norm is None else norm)


async def test_a_pending_repeat_joins_the_first_and_leaves_the_pending_list(store: SqlStore) -> None:
    first, _ = await store.add(said("Happy", "web:a"), Status.PENDING, NOW)
    repeat, event = await store.add(said("HAPPY", "web:b"), Status.PENDING, NOW)
    assert (repeat.status, repeat.merged_into, repeat.count) == (Status.PENDING, first.id, 1)
    assert event is not None and event.kind is EventKind.PENDING
    assert (event.payload["id"], event.payload["count"]) == (first.id, 2)
    assert [b.id for b in await store.list(Status.PENDING, 0, 10)] == [first.id]
    assert await store.count(Status.PENDING) == 1
    stored = await store.get(first.id)
    assert stored is not None and stored.count == 2 and stored.to_dict()["count"] == 2


async def test_what_never_merges(store: SqlStore) -> None:
    await store.add(said("x", "web:a"), Status.PENDING, NOW)
    other_room, _ = await store.add(said("x", "web:b", room="side"), Status.PENDING, NOW)
    empty, _ = await store.add(said("!!", "web:c", norm=""), Status.PENDING, NOW)
    empty2, _ = await store.add(said("??", "web:d", norm=""), Status.PENDING, NOW)
    rejected, _ = await store.add(said("x", "web:e"), Status.REJECTED, NOW)
    flying, _ = await store.add(said("x", "web:f"), Status.APPROVED, NOW)  # approved ≠ pending
    assert [b.merged_into for b in (other_room, empty, empty2, rejected, flying)] == [None] * 5


async def test_repeats_inside_one_group_commit_merge_too(store: SqlStore) -> None:
    items = [(said("hey", f"web:{i}"), Status.PENDING) for i in range(5)]
    items.insert(2, (said("other", "web:o"), Status.PENDING))
    results = await store.add_many(items, NOW)
    first = results[0][0]
    repeats = [b for b, _ in results if b.text == "hey"][1:]
    assert first.merged_into is None and {b.merged_into for b in repeats} == {first.id}
    counts = [e.payload["count"] for b, e in results if e is not None and b in repeats]
    assert counts == [2, 3, 4, 5]  # the count each made, in order: a replay shows the same
    assert [b.text for b in await store.list(Status.PENDING, 0, 10)] == ["hey", "other"]
    stored = await store.get(first.id)
    assert stored is not None and stored.count == 5


async def test_deciding_the_first_decides_every_repeat(store: SqlStore) -> None:
    first, _ = await store.add(said("go", "web:a"), Status.PENDING, NOW)
    repeats = [(await store.add(said("go", f"web:{i}"), Status.PENDING, NOW))[0] for i in range(3)]
    later = NOW + timedelta(seconds=3)
    decided, event = await store.decide(first.id, Status.APPROVED, "Alice", later)
    assert decided.count == 4 and event.kind is EventKind.BARRAGE
    for repeat in repeats:
        stored = await store.get(repeat.id)
        assert stored is not None
        assert (stored.status, stored.decided_at, stored.decided_by) == (Status.APPROVED, later, "Alice")
    barrage_events = await store.events_after(0, (EventKind.BARRAGE,), 10)
    assert [e.payload["id"] for e in barrage_events] == [first.id]  # flies once


async def test_deciding_a_repeat_decides_its_first(store: SqlStore) -> None:
    first, _ = await store.add(said("go", "web:a"), Status.PENDING, NOW)
    repeat, _ = await store.add(said("go", "web:b"), Status.PENDING, NOW)
    decided, _ = await store.decide(repeat.id, Status.REJECTED, "Bob", NOW)
    assert decided.id == first.id and decided.status is Status.REJECTED
    stored = await store.get(repeat.id)
    assert stored is not None and stored.status is Status.REJECTED


async def test_undo_brings_the_repeats_back_with_their_first(store: SqlStore) -> None:
    first, _ = await store.add(said("go", "web:a"), Status.PENDING, NOW)
    repeat, _ = await store.add(said("go", "web:b"), Status.PENDING, NOW)
    await store.decide(first.id, Status.APPROVED, "Alice", NOW + timedelta(seconds=1))
    back, event = await store.undo(first.id, NOW, NOW + timedelta(seconds=2))
    assert event is not None and back.status is Status.PENDING
    stored = await store.get(repeat.id)
    assert stored is not None and (stored.status, stored.decided_by) == (Status.PENDING, None)
    assert [b.id for b in await store.list(Status.PENDING, 0, 10)] == [first.id]


async def test_an_approved_repeat_within_the_window_is_a_merge_event(store: SqlStore) -> None:
    first, _ = await store.add(said("wow", "web:a"), Status.APPROVED, NOW)
    repeat, event = await store.add(said("WOW", "web:b"), Status.APPROVED, NOW + timedelta(seconds=9))
    assert (repeat.status, repeat.merged_into) == (Status.APPROVED, first.id)
    assert event is not None and (event.kind, event.payload) == (
        EventKind.MERGE, {"id": first.id, "count": 2, "room": "main"})
    assert event.public_payload() == {"id": first.id, "count": 2}
    late, again = await store.add(said("wow", "web:c"), Status.APPROVED, NOW + timedelta(seconds=20))
    assert late.merged_into is None and again is not None and again.kind is EventKind.BARRAGE


async def test_a_replay_leaves_out_merges_into_a_retracted_barrage(store: SqlStore) -> None:
    first, _ = await store.add(said("wow", "web:a"), Status.APPROVED, NOW)
    repeat, _ = await store.add(said("wow", "web:b"), Status.APPROVED, NOW)
    await store.retract(first.id, "Alice", NOW)
    kinds = (EventKind.BARRAGE, EventKind.MERGE, EventKind.RETRACT)
    replayed = await store.events_after(0, kinds, 10, skip_retracted=True)
    assert [e.kind for e in replayed] == [EventKind.RETRACT]
    stored = await store.get(repeat.id)
    assert stored is not None and stored.status is Status.RETRACTED


async def test_a_grown_first_has_its_posted_card_edited_again(store: SqlStore) -> None:
    cards = SqlCards(store._engine)
    first, _ = await store.add(said("go", "web:a"), Status.PENDING, NOW)
    claim = await cards.claim_post(first.id, "telegram")
    assert claim is not None
    await cards.record_post(claim, "-100", "7")
    assert await cards.cards_to_reopen("telegram", 10) == []
    await store.add(said("go", "web:b"), Status.PENDING, NOW)
    [(card, barrage)] = await cards.cards_to_reopen("telegram", 10)
    assert card.id == claim.id and barrage.count == 2
    assert (await cards.pending_without_card("telegram", 10)) == ([], 0)  # no card for the repeat


@pytest.mark.parametrize("end", ["decide", "expire"])
async def test_a_grown_first_decided_before_its_card_was_edited_still_shows_the_verdict(
    store: SqlStore, end: str
) -> None:
    """A repeat closes the first's posted card for the reopen pass; a decision or an expiry that
    comes before that pass must open it again, or no loop ever edits it (buttons left forever)."""
    cards = SqlCards(store._engine)
    first, _ = await store.add(said("go", "web:a"), Status.PENDING, NOW)
    claim = await cards.claim_post(first.id, "telegram")
    assert claim is not None
    await cards.record_post(claim, "-100", "7")
    await store.add(said("go", "web:b"), Status.PENDING, NOW)  # closes the card: count 2 to show
    if end == "decide":
        await store.decide(first.id, Status.APPROVED, "Mo", NOW)
    else:
        assert len(await store.expire(NOW + timedelta(hours=1), 1000, NOW, 10)) == 2
    [(card, barrage)] = await cards.cards_to_close("telegram", 10)
    assert card.id == claim.id and barrage.id == first.id and barrage.status is not Status.PENDING


async def test_concurrent_writers_make_one_first(store: SqlStore) -> None:
    """Separate transactions at once (what two processes do): one first, every other joins it."""
    results = await asyncio.gather(*(store.add(said("same", f"web:{i}"), Status.PENDING, NOW)
                                     for i in range(20)))
    firsts = [b for b, _ in results if b.merged_into is None]
    assert len(firsts) == 1
    stored = await store.get(firsts[0].id)
    assert stored is not None and stored.count == 20


async def test_a_first_rejected_with_its_own_reason_gives_its_repeats_the_moderators(store: SqlStore) -> None:
    """A card's Mute 1h mutes the first's sender only: the repeats' senders read who rejected."""
    first, _ = await store.add(said("spam", "web:a"), Status.PENDING, NOW)
    repeat, _ = await store.add(said("spam", "web:b"), Status.PENDING, NOW)
    await store.decide(first.id, Status.REJECTED, "Mo", NOW, reason="muted")
    got = {b.id: b.reason for b in await store.list(Status.REJECTED, 0, 10)}
    assert got == {first.id: "muted", repeat.id: "rejected by Mo"}


async def test_a_long_normalised_text_is_stored_and_still_merges(store: SqlStore) -> None:
    """A PostgreSQL btree entry holds at most 2,704 bytes: 1,000 CJK characters (3 bytes each)
    would not fit the (room, status, norm) index (ProgramLimitExceeded); the stored norm is cut."""
    rng = random.Random(5)  # not a repeating run: PostgreSQL compresses those below the limit
    jamo = "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(1000))
    first, _ = await store.add(said(jamo, "web:a", norm=jamo), Status.PENDING, NOW)
    repeat, _ = await store.add(said(jamo, "web:b", norm=jamo), Status.PENDING, NOW)
    assert repeat.merged_into == first.id


async def test_a_card_posted_while_a_repeat_joined_is_edited_again(store: SqlStore) -> None:
    """The card was drawn with ×1; a repeat joined before it was recorded (no message to
    reopen yet): it is recorded closed, so the reopen pass draws ×2."""
    cards = SqlCards(store._engine)
    first, _ = await store.add(said("go", "web:a"), Status.PENDING, NOW)
    claim = await cards.claim_post(first.id, "telegram")
    assert claim is not None
    await store.add(said("go", "web:b"), Status.PENDING, NOW)  # while the post is on its way
    await cards.record_post(claim, "-100", "7", shown_count=first.count)
    [(card, barrage)] = await cards.cards_to_reopen("telegram", 10)
    assert card.id == claim.id and barrage.count == 2
