"""The service against the real store (SQLite file and PostgreSQL) and the real memory bus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.bus import MemoryBus
from server.core.errors import AlreadyDecided, CannotUndo, InvalidInput, NotFound, RateLimited
from server.core.model import Event, EventKind, Mode, Source, Status, Verdict
from server.core.policy import InputPolicy, RatePolicy
from server.core.rooms import Rooms
from server.core.service import BarrageService, Submission
from server.core.views import Views
from server.ratelimit import MemoryWindows
from server.store import SqlStore
from server.store.batching import BatchingStore
from server.store.cards import SqlCards
from tests.conftest import drop_tables


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    if request.param == "sqlite":
        store = SqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'core.db'}")
    else:
        store = SqlStore.from_url(request.getfixturevalue("postgres_url"))
        async with store._engine.begin() as conn:
            await conn.run_sync(drop_tables)
    await store.create_schema()
    yield store
    await store.close()


# What a barrage's life writes (a service's start also writes main's `room` event).
BARRAGE_KINDS = (EventKind.PENDING, EventKind.BARRAGE, EventKind.REJECTED)


class Recorder:
    def __init__(self, bus: MemoryBus) -> None:
        self.events: list[Event] = []
        bus.subscribe(self.events.append)


async def make_service(store: SqlStore, mode: Mode = Mode.MANUAL, per_minute: int = 0):
    bus = MemoryBus()
    recorder = Recorder(bus)
    # Composed as in server/app.py: group commit in front of the store.
    uow = BatchingStore(store, bus)
    service = BarrageService(uow, InputPolicy(), MemoryWindows(), RatePolicy(per_minute, 0),
                             Rooms.main_only(uow, mode))
    await service.start()
    recorder.events.clear()  # main's `room` event, written at start: what follows is the test's
    return service, recorder


async def test_manual_mode_keeps_submissions_pending(store: SqlStore) -> None:
    service, rec = await make_service(store)
    barrage = (await service.submit(Submission(text="  hello  ", author="Ann", color="#F00"))).barrage
    assert (barrage.status, barrage.text, barrage.color) == (Status.PENDING, "hello", "#ff0000")
    assert [e.kind for e in rec.events] == [EventKind.PENDING]


async def test_mode_off_approves_at_once(store: SqlStore) -> None:
    service, rec = await make_service(store, Mode.OFF)
    barrage = (await service.submit(Submission(text="hi", source=Source.TELEGRAM, author_ref="42"))).barrage
    assert barrage.status is Status.APPROVED and barrage.decided_by == "auto"
    assert [e.kind for e in rec.events] == [EventKind.BARRAGE]
    assert rec.events[0].public_payload() == {
        "id": barrage.id, "text": "hi", "author": "Anonymous", "color": "#ffffff",
        "size": "medium", "source": "telegram", "created_at": rec.events[0].payload["created_at"],
        "room": "main", "count": 1,
    }


async def test_first_decision_wins(store: SqlStore) -> None:
    service, rec = await make_service(store)
    barrage = (await service.submit(Submission(text="hi"))).barrage
    decided = await service.decide(barrage.id, Verdict.APPROVE, "Alice")
    assert (decided.status, decided.decided_by) == (Status.APPROVED, "Alice")
    with pytest.raises(AlreadyDecided, match="already approved by Alice"):
        await service.decide(barrage.id, Verdict.REJECT, "Bob")
    assert [e.kind for e in rec.events] == [EventKind.PENDING, EventKind.BARRAGE]


async def test_concurrent_approvals_make_exactly_one_event(store: SqlStore) -> None:
    service, rec = await make_service(store)
    barrage = (await service.submit(Submission(text="race"))).barrage
    verdicts = [Verdict.APPROVE if i % 2 else Verdict.REJECT for i in range(12)]
    results = await asyncio.gather(
        *(service.decide(barrage.id, v, f"mod{i}") for i, v in enumerate(verdicts)),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1
    assert all(isinstance(r, AlreadyDecided) for r in results if r not in winners)
    assert len([e for e in rec.events if e.kind is not EventKind.PENDING]) == 1
    log = await store.events_after(0, BARRAGE_KINDS, 100)
    assert len([e for e in log if e.kind in (EventKind.BARRAGE, EventKind.REJECTED)]) == 1


async def test_concurrent_approvals_from_separate_services(store: SqlStore) -> None:
    """Two processes' worth of services share one database: the CAS is in SQL, not a lock."""
    first, _ = await make_service(store)
    second, _ = await make_service(store)
    barrage = (await first.submit(Submission(text="race"))).barrage
    results = await asyncio.gather(
        first.decide(barrage.id, Verdict.APPROVE, "A"),
        second.decide(barrage.id, Verdict.APPROVE, "B"),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1


async def test_a_moderators_own_second_press_is_not_a_conflict(store: SqlStore) -> None:
    """`a` pressed twice, a double click, a card pressed again: the second press gets
    the barrage back (no "already approved by Alice" to Alice) and writes no event."""
    service, rec = await make_service(store)
    barrage = (await service.submit(Submission(text="twice"))).barrage
    first = await service.decide(barrage.id, Verdict.APPROVE, "Alice")
    again = await service.decide(barrage.id, Verdict.APPROVE, "Alice")
    assert again == first and again.status is Status.APPROVED
    with pytest.raises(AlreadyDecided, match="already approved by Alice"):
        await service.decide(barrage.id, Verdict.REJECT, "Alice")  # a different verdict: a conflict
    with pytest.raises(AlreadyDecided, match="already approved by Alice"):
        await service.decide(barrage.id, Verdict.APPROVE, "Bob")  # someone else: told who won
    assert [e.kind for e in rec.events] == [EventKind.PENDING, EventKind.BARRAGE]
    assert len(await store.events_after(0, BARRAGE_KINDS, 100)) == 2


async def test_own_presses_at_once_make_one_event(store: SqlStore) -> None:
    service, rec = await make_service(store)
    barrage = (await service.submit(Submission(text="mash"))).barrage
    results = await asyncio.gather(*(service.decide(barrage.id, Verdict.REJECT, "Alice") for _ in range(5)))
    assert {(r.status, r.decided_by) for r in results} == {(Status.REJECTED, "Alice")}
    assert [e.kind for e in rec.events] == [EventKind.PENDING, EventKind.REJECTED]


async def test_undo_returns_a_fresh_decision_to_pending(store: SqlStore) -> None:
    service, rec = await make_service(store)
    barrage = (await service.submit(Submission(text="oops"))).barrage
    await service.decide(barrage.id, Verdict.REJECT, "Alice")
    undone = await service.undo(barrage.id, "Alice")
    assert (undone.status, undone.decided_by, undone.decided_at) == (Status.PENDING, None, None)
    assert [e.kind for e in rec.events] == [EventKind.PENDING, EventKind.REJECTED, EventKind.PENDING]
    assert rec.events[-1].payload == undone.to_dict()  # every desk lists it again
    assert [b.id for b in await Views(store).barrages(Status.PENDING)] == [barrage.id]
    decided = await service.decide(barrage.id, Verdict.APPROVE, "Bob")  # decidable again
    assert (decided.status, decided.decided_by) == (Status.APPROVED, "Bob")
    with pytest.raises(CannotUndo, match="not decided"):
        await service.undo((await service.submit(Submission(text="waiting"))).barrage.id, "Alice")
    with pytest.raises(NotFound):
        await service.undo(999, "Alice")


async def test_undo_is_refused_after_the_window_and_for_auto_approval(store: SqlStore) -> None:
    service, _ = await make_service(store)
    barrage = (await service.submit(Submission(text="old news"))).barrage
    decided_at = datetime.now(UTC) - timedelta(seconds=11)
    await store.decide(barrage.id, Status.APPROVED, "Alice", decided_at)  # decided 11 s ago
    with pytest.raises(CannotUndo, match="too late"):
        await service.undo(barrage.id, "Alice")
    # The store's CAS itself holds the window, whichever clock asks.
    _, event = await store.undo(barrage.id, decided_at, datetime.now(UTC))
    assert event is None
    _, event = await store.undo(barrage.id, decided_at - timedelta(seconds=1), datetime.now(UTC))
    assert event is not None and event.kind is EventKind.PENDING
    await service.set_mode("off")
    auto = (await service.submit(Submission(text="straight through"))).barrage
    with pytest.raises(CannotUndo, match="automatically"):
        await service.undo(auto.id, "Alice")
    assert (await store.get(auto.id)).status is Status.APPROVED  # type: ignore[union-attr]


async def test_undo_and_a_decision_race_as_compare_and_set(store: SqlStore) -> None:
    first, _ = await make_service(store)
    second, _ = await make_service(store)  # another process: only the SQL CAS keeps them apart
    barrage = (await first.submit(Submission(text="race"))).barrage
    await first.decide(barrage.id, Verdict.APPROVE, "Alice")
    results = await asyncio.gather(first.undo(barrage.id, "Alice"), second.undo(barrage.id, "Bob"),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["Barrage", "CannotUndo"]
    log = await store.events_after(0, BARRAGE_KINDS, 100)
    assert [e.kind for e in log] == [EventKind.PENDING, EventKind.BARRAGE, EventKind.PENDING]


async def test_undo_resets_the_sender_notice_and_holds_notices_while_undoable(store: SqlStore) -> None:
    service, _ = await make_service(store)
    barrage = (await service.submit(Submission(text="tg", source=Source.TELEGRAM))).barrage
    cards = SqlCards(store._engine)
    await service.decide(barrage.id, Verdict.APPROVE, "Alice")
    a_minute_ago = datetime.now(UTC) - timedelta(seconds=60)
    assert await cards.unnotified(Source.TELEGRAM, 10, a_minute_ago) == []  # still undoable
    assert [b.id for b in await cards.unnotified(Source.TELEGRAM, 10)] == [barrage.id]
    await cards.mark_notified(barrage.id)
    await service.undo(barrage.id, "Alice")
    await service.decide(barrage.id, Verdict.REJECT, "Alice")
    assert [b.status for b in await cards.unnotified(Source.TELEGRAM, 10)] == [Status.REJECTED]


async def test_unknown_barrage(store: SqlStore) -> None:
    service, _ = await make_service(store)
    with pytest.raises(NotFound):
        await service.decide(999, Verdict.APPROVE, "Alice")


async def test_invalid_input_stores_nothing(store: SqlStore) -> None:
    service, rec = await make_service(store)
    for bad in (Submission(text="  "), Submission(text="x", color="nope"), Submission(text="x", size="xl")):
        with pytest.raises(InvalidInput):
            await service.submit(bad)
    assert rec.events == [] and await Views(store).barrages(None) == []


async def test_mode_is_stored_and_survives_restart(store: SqlStore) -> None:
    service, rec = await make_service(store, Mode.MANUAL)
    await service.set_mode("off", by="Alice")
    assert rec.events[-1].kind is EventKind.MODE and rec.events[-1].payload["mode"] == "off"
    again, _ = await make_service(store, Mode.MANUAL)  # the config says manual; the database wins
    assert again.mode is Mode.OFF
    with pytest.raises(InvalidInput):
        await service.set_mode("automatic")


async def test_duplicate_delivery_is_one_barrage(store: SqlStore) -> None:
    service, rec = await make_service(store)
    first = await service.submit(Submission(text="hi", dedupe_key="telegram:update:7"))
    second = await service.submit(Submission(text="hi", dedupe_key="telegram:update:7"))
    assert first.barrage.id == second.barrage.id and first.created and not second.created
    assert len(rec.events) == 1 and len(await Views(store).barrages(None)) == 1


async def test_rate_limit_per_sender(store: SqlStore) -> None:
    service, _ = await make_service(store, per_minute=2)
    for _ in range(2):
        await service.submit(Submission(text="hi", sender_key="telegram:42"))
    with pytest.raises(RateLimited) as refused:
        await service.submit(Submission(text="hi", sender_key="telegram:42"))
    assert 55 <= refused.value.retry_after <= 60 and "slow down" in str(refused.value)
    await service.submit(Submission(text="hi", sender_key="telegram:43"))
    assert service.counters["rate_limited.sender"] == 1


async def test_the_sender_is_stored_and_shown(store: SqlStore) -> None:
    service, rec = await make_service(store)
    barrage = (await service.submit(Submission(text="hi", sender_key="telegram:42"))).barrage
    assert barrage.sender == "telegram:42" and barrage.to_dict()["sender"] == "telegram:42"
    assert (await store.get(barrage.id)).sender == "telegram:42"  # type: ignore[union-attr]
    assert rec.events[0].payload["sender"] == "telegram:42"
    assert "sender" not in rec.events[0].public_payload()


async def test_first_status_is_what_the_sender_was_told(store: SqlStore) -> None:
    auto, _ = await make_service(store, Mode.OFF)
    flown = (await auto.submit(Submission(text="at once"))).barrage
    assert (await store.get(flown.id)).first_status is Status.APPROVED  # type: ignore[union-attr]
    manual, _ = await make_service(store, Mode.MANUAL)
    await manual.set_mode("manual")
    waited = (await manual.submit(Submission(text="later"))).barrage
    decided = await manual.decide(waited.id, Verdict.APPROVE, "auto")
    assert decided.first_status is Status.PENDING  # approved since, by a moderator named "auto"


async def test_an_expired_dedupe_key_names_a_new_barrage(store: SqlStore) -> None:
    service, _ = await make_service(store)
    day = timedelta(hours=24)
    first = await service.submit(Submission(text="hi", dedupe_key="k", dedupe_for=day))
    again = await service.submit(Submission(text="hi", dedupe_key="k", dedupe_for=day))
    assert again.barrage.id == first.barrage.id and not again.created
    later = await service.submit(Submission(text="hi", dedupe_key="k", dedupe_for=timedelta(0)))
    assert later.created and later.barrage.id != first.barrage.id
    assert (await store.by_dedupe_key("k")).id == later.barrage.id  # type: ignore[union-attr]


async def test_event_ids_increase_across_restarts(store: SqlStore) -> None:
    service, rec = await make_service(store, Mode.OFF)
    await service.submit(Submission(text="one"))
    again, rec2 = await make_service(store, Mode.OFF)
    await again.submit(Submission(text="two"))
    assert rec2.events[0].id > rec.events[0].id


async def test_a_failing_publisher_never_fails_a_submission(store: SqlStore) -> None:
    class Broken:
        async def publish(self, event: Event) -> None:
            raise ConnectionError("bus down")

    uow = BatchingStore(store, Broken())
    service = BarrageService(uow, InputPolicy(), MemoryWindows(), RatePolicy(0, 0),
                             Rooms.main_only(uow, Mode.OFF))
    await service.start()
    barrage = (await service.submit(Submission(text="still here"))).barrage
    assert (await store.events_after(0, (EventKind.BARRAGE,), 10))[0].payload["id"] == barrage.id


async def test_concurrent_submissions_are_group_committed_correctly(store: SqlStore) -> None:
    """Many at once share transactions; every receipt still names its own row and event."""
    service, rec = await make_service(store, Mode.OFF)
    receipts = await asyncio.gather(*(service.submit(Submission(text=f"msg {i}")) for i in range(60)))
    for i, receipt in enumerate(receipts):
        stored = await store.get(receipt.barrage.id)
        assert stored is not None and stored.text == f"msg {i}" == receipt.barrage.text
    assert [e.payload["id"] for e in rec.events] == sorted(r.barrage.id for r in receipts)
    assert [e.id for e in rec.events] == sorted(e.id for e in rec.events)
    log = await store.events_after(0, (EventKind.BARRAGE,), 100)
    assert {e.payload["id"]: e.payload["text"] for e in log} == {
        r.barrage.id: r.barrage.text for r in receipts}


async def test_a_repeated_delivery_inside_a_batch(store: SqlStore) -> None:
    service, rec = await make_service(store)
    subs = [Submission(text="same", dedupe_key="k1"), Submission(text="other"),
            Submission(text="same", dedupe_key="k1")]
    receipts = await asyncio.gather(*(service.submit(s) for s in subs))
    assert receipts[0].barrage.id == receipts[2].barrage.id
    assert [r.created for r in receipts].count(True) == 2 and len(rec.events) == 2


async def test_a_failed_commit_fails_every_submission_in_it_and_the_next_one_works(store: SqlStore) -> None:
    service, _ = await make_service(store)

    original = store.add_many
    calls = 0

    async def flaky(items, now):  # a fault injected in front of the real store
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database went away")
        return await original(items, now)

    store.add_many = flaky  # type: ignore[method-assign]
    results = await asyncio.gather(*(service.submit(Submission(text=f"m{i}")) for i in range(5)),
                                   return_exceptions=True)
    assert any(isinstance(r, ConnectionError) for r in results)
    receipt = await service.submit(Submission(text="after"))
    assert receipt.created


async def test_ids_past_the_integer_range_name_nothing(store: SqlStore) -> None:
    """On PostgreSQL a larger id cannot even be bound: the store answers before asking."""
    service, _ = await make_service(store)
    await service.submit(Submission(text="one"))
    for big in (2**31, 2**40, 10**18):
        with pytest.raises(NotFound):
            await service.decide(big, Verdict.APPROVE, "mod")
        assert await Views(store).barrages(None, after_id=big) == []
        assert await Views(store).events_after(big, tuple(EventKind), 10) == []
        assert await store.get(big) is None and await SqlCards(store._engine).cards_of(big, "telegram") == []
    assert len(await Views(store).barrages(None, after_id=0)) == 1


async def test_events_publish_in_id_order_through_a_publisher_that_awaits(store: SqlStore) -> None:
    """A network bus awaits inside publish; the stream's ids must still never go backwards."""

    class Awaiting:
        def __init__(self) -> None:
            self.ids: list[int] = []

        async def publish(self, event: Event) -> None:
            for _ in range(event.id % 3):  # some events take longer to hand over than others
                await asyncio.sleep(0)
            self.ids.append(event.id)

    bus = Awaiting()
    service = BarrageService(BatchingStore(store, bus), InputPolicy(), MemoryWindows(), RatePolicy(0, 0))
    await service.start()
    first = (await service.submit(Submission(text="first"))).barrage
    await asyncio.gather(
        *(service.submit(Submission(text=f"m{i}")) for i in range(20)),
        service.decide(first.id, Verdict.APPROVE, "Alice"),
        *(service.submit(Submission(text=f"n{i}")) for i in range(20)),
        service.set_mode("off"),
        *(service.submit(Submission(text=f"o{i}")) for i in range(20)),
    )
    assert len(bus.ids) == 1 + 63 and bus.ids == sorted(bus.ids)  # main's `room` event at start


async def test_too_many_waiting_for_a_commit_are_refused_and_counted(store: SqlStore) -> None:
    bus = MemoryBus()
    service = BarrageService(BatchingStore(store, bus, max_queued=2), InputPolicy(), MemoryWindows(),
                             RatePolicy(0, 0))
    await service.start()
    # The first commits at once, alone; two wait for the next commit; the rest are refused.
    results = await asyncio.gather(*(service.submit(Submission(text=f"m{i}")) for i in range(5)),
                                   return_exceptions=True)
    refused = results[3:]
    assert all(isinstance(r, RateLimited) for r in refused) and service.counters["rate_limited.busy"] == 2
    assert [r.barrage.text for r in results[:3]] == ["m0", "m1", "m2"]  # type: ignore[union-attr]
    assert refused[0].retry_after == 1 and str(refused[0]) == "the wall is very busy; try again in a moment"
