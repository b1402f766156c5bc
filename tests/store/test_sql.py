"""The SQL store: every method of the core's port on SQLite and PostgreSQL, and its own
settings and error mapping on a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from server.core.errors import AlreadyDecided, NotFound, Unavailable
from server.core.model import AUTO, MAX_ID, EventKind, Status
from server.store import SqlStore
from server.store.sql import unavailable_reason
from tests.store.conftest import commits, draft

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("setting", "pragma"), [("normal", 1), ("full", 2)])
async def test_sqlite_synchronous_is_applied(tmp_path: Path, setting: str, pragma: int) -> None:
    store = SqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", setting)
    try:
        async with store._engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == pragma
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    finally:
        await store.close()


async def test_a_read_only_database_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    store = SqlStore.from_url(f"sqlite+aiosqlite:///{path}")
    await store.create_schema()
    await store.close()
    readonly = SqlStore.from_url(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
    try:
        with pytest.raises(Unavailable):
            await readonly.put_setting("k", "v", None)
        assert await readonly.health() == "not writable"
        assert await readonly.get_setting("k") is None  # reads still work
    finally:
        await readonly.close()


def test_only_storage_errors_mean_unavailable() -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13  # type: ignore[attr-defined]
    assert unavailable_reason(full) == "disk full"
    syntax = sqlite3.OperationalError("near x: syntax error")
    syntax.sqlite_errorcode = 1  # type: ignore[attr-defined]
    assert unavailable_reason(syntax) is None
    assert unavailable_reason(ConnectionRefusedError(111, "Connection refused"))
    assert unavailable_reason(ValueError("x")) is None


async def test_add_stores_the_barrage_and_its_event(store: SqlStore) -> None:
    pending, first = await store.add(draft("wait", sender="web:a"), Status.PENDING, NOW)
    approved, second = await store.add(draft("fly"), Status.APPROVED, NOW)
    assert (pending.status, pending.decided_at, pending.sender) == (Status.PENDING, None, "web:a")
    assert (approved.decided_by, approved.decided_at) == (AUTO, NOW) and approved.auto_approved
    assert first is not None and second is not None and first.id < second.id
    assert (first.kind, first.payload) == (EventKind.PENDING, pending.to_dict())
    assert (second.kind, second.payload) == (EventKind.BARRAGE, approved.to_dict())
    assert await store.get(pending.id) == pending and await store.get(approved.id) == approved
    assert await store.events_after(0, tuple(EventKind), 10) == [first, second]
    assert await store.last_event_id() == second.id


async def test_a_known_dedupe_key_returns_the_stored_barrage_and_no_event(store: SqlStore) -> None:
    stored, _ = await store.add(draft("once", dedupe_key="tg:1"), Status.PENDING, NOW)
    again, event = await store.add(draft("twice", dedupe_key="tg:1"), Status.PENDING, NOW)
    assert again == stored and event is None
    assert await store.by_dedupe_key("tg:1") == stored and await store.by_dedupe_key("tg:2") is None
    assert len(await store.events_after(0, tuple(EventKind), 10)) == 1


async def test_forget_dedupe_key_frees_it_only_from_the_barrage_named(store: SqlStore) -> None:
    stored, _ = await store.add(draft(dedupe_key="k"), Status.PENDING, NOW)
    await store.forget_dedupe_key("k", stored.id + 1)  # a twin already moved it on: no change
    assert await store.by_dedupe_key("k") == stored
    await store.forget_dedupe_key("k", stored.id)
    assert await store.by_dedupe_key("k") is None
    fresh, event = await store.add(draft(dedupe_key="k"), Status.PENDING, NOW)
    assert fresh.id != stored.id and event is not None


async def test_add_many_is_one_transaction_in_item_order(store: SqlStore) -> None:
    committed = commits(store)
    statuses = [Status.PENDING, Status.APPROVED] * 5
    results = await store.add_many([(draft(f"m{i}"), s) for i, s in enumerate(statuses)], NOW)
    assert len(committed) == 1
    assert [b.text for b, _ in results] == [f"m{i}" for i in range(10)]
    assert [b.status for b, _ in results] == statuses
    ids = [b.id for b, _ in results]
    event_ids = [e.id for _, e in results if e is not None]
    assert ids == sorted(ids) and event_ids == sorted(event_ids) and len(event_ids) == 10
    log = await store.events_after(0, tuple(EventKind), 100)
    assert [(e.id, e.kind, e.payload["id"]) for e in log] == [
        (e.id, e.kind, b.id) for b, e in results if e is not None]
    assert [await store.get(i) for i in ids] == [b for b, _ in results]


async def test_add_many_resolves_a_repeated_key_inside_the_batch(store: SqlStore) -> None:
    items = [(draft("same", dedupe_key="k1"), Status.PENDING), (draft("other"), Status.PENDING),
             (draft("same", dedupe_key="k1"), Status.PENDING)]
    (first, e1), (other, e2), (again, e3) = await store.add_many(items, NOW)
    assert again == first and e1 is not None and e2 is not None and e3 is None
    assert [b.id for b in await store.list(None, 0, 10)] == [first.id, other.id]


async def test_decide_is_compare_and_set(store: SqlStore) -> None:
    barrage, _ = await store.add(draft(), Status.PENDING, NOW)
    later = NOW + timedelta(seconds=5)
    decided, event = await store.decide(barrage.id, Status.REJECTED, "Alice", later)
    assert (decided.status, decided.decided_by, decided.decided_at) == (Status.REJECTED, "Alice", later)
    assert (event.kind, event.payload) == (EventKind.REJECTED, decided.to_dict())
    with pytest.raises(AlreadyDecided) as lost:
        await store.decide(barrage.id, Status.APPROVED, "Bob", later)
    assert (lost.value.status, lost.value.decided_by, lost.value.barrage) == ("rejected", "Alice", decided)
    approved, _ = await store.add(draft(), Status.PENDING, NOW)
    assert (await store.decide(approved.id, Status.APPROVED, "Bob", later))[1].kind is EventKind.BARRAGE
    for missing in (approved.id + 1, 0, -1, MAX_ID + 1):
        with pytest.raises(NotFound):
            await store.decide(missing, Status.APPROVED, "Bob", later)


async def test_concurrent_decisions_let_one_win(store: SqlStore) -> None:
    barrage, _ = await store.add(draft(), Status.PENDING, NOW)
    results = await asyncio.gather(*(store.decide(barrage.id, Status.APPROVED, f"m{i}", NOW)
                                     for i in range(8)), return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, AlreadyDecided) for r in results if isinstance(r, BaseException))
    assert len(await store.events_after(0, (EventKind.BARRAGE,), 10)) == 1


async def test_undo_returns_a_recent_decision_to_pending(store: SqlStore) -> None:
    barrage, _ = await store.add(draft(), Status.PENDING, NOW)
    decided, _ = await store.decide(barrage.id, Status.APPROVED, "Alice", NOW)
    too_late, none = await store.undo(barrage.id, NOW, NOW)  # decided at, not after, the limit
    assert too_late == decided and none is None
    undone, event = await store.undo(barrage.id, NOW - timedelta(seconds=1), NOW)
    assert (undone.status, undone.decided_by, undone.decided_at) == (Status.PENDING, None, None)
    assert event is not None and (event.kind, event.payload) == (EventKind.PENDING, undone.to_dict())
    assert (await store.undo(barrage.id, NOW - timedelta(seconds=1), NOW))[1] is None  # pending
    auto, _ = await store.add(draft(), Status.APPROVED, NOW)
    assert (await store.undo(auto.id, NOW - timedelta(seconds=1), NOW))[1] is None  # no decision
    with pytest.raises(NotFound):
        await store.undo(auto.id + 1, NOW, NOW)


async def test_list_filters_by_status_and_pages_in_id_order(store: SqlStore) -> None:
    made = [(await store.add(draft(f"m{i}"), s, NOW))[0]
            for i, s in enumerate([Status.PENDING, Status.APPROVED, Status.PENDING, Status.PENDING])]
    assert await store.list(None, 0, 10) == made
    assert await store.list(Status.PENDING, 0, 10) == [made[0], made[2], made[3]]
    assert await store.list(Status.PENDING, made[0].id, 1) == [made[2]]
    assert await store.list(Status.REJECTED, 0, 10) == []
    assert await store.list(None, MAX_ID + 1, 10) == []


async def test_events_after_filters_by_kind_and_pages(store: SqlStore) -> None:
    assert await store.last_event_id() == 0 and await store.events_after(0, tuple(EventKind), 10) == []
    _, pending = await store.add(draft(), Status.PENDING, NOW)
    _, flying = await store.add(draft(), Status.APPROVED, NOW)
    mode = await store.put_setting("moderation.mode", "off", (EventKind.MODE, {"mode": "off"}))
    assert await store.events_after(0, (EventKind.BARRAGE, EventKind.MODE), 10) == [flying, mode]
    assert await store.events_after(pending.id, tuple(EventKind), 1) == [flying]  # type: ignore[union-attr]
    assert await store.events_after(MAX_ID + 1, tuple(EventKind), 10) == []
    assert await store.last_event_id() == mode.id  # type: ignore[union-attr]


async def test_latest_events_are_the_newest_of_those_kinds_newest_first(store: SqlStore) -> None:
    draws = [await store.append(EventKind.LOTTERY, {"room": "main", "n": n}) for n in range(3)]
    await store.add(draft(), Status.APPROVED, NOW)  # another kind, later: not among them
    assert await store.latest_events([EventKind.LOTTERY], 2) == draws[:0:-1]
    assert await store.latest_events([EventKind.MODE], 5) == []


async def test_settings_upsert_with_an_optional_event(store: SqlStore) -> None:
    assert await store.get_setting("k") is None
    assert await store.put_setting("k", "one", None) is None
    event = await store.put_setting("k", "two", (EventKind.MODE, {"mode": "two", "by": "Alice"}))
    assert await store.get_setting("k") == "two"
    assert event is not None and event.kind is EventKind.MODE
    assert event.payload == {"mode": "two", "by": "Alice"}
    assert await store.events_after(0, tuple(EventKind), 10) == [event]


async def test_setting_or_default_keeps_the_first_writers_value(store: SqlStore) -> None:
    values = await asyncio.gather(*(store.setting_or_default("key", f"v{i}") for i in range(5)))
    assert len(set(values)) == 1 and await store.get_setting("key") == values[0]
    assert await store.setting_or_default("key", "later") == values[0]


async def test_a_new_setting_written_by_many_at_once_is_one_row(store: SqlStore) -> None:
    """Two nodes starting on a new database both store the moderation mode: neither fails."""
    await asyncio.gather(*(store.put_setting("fresh", f"v{i}", None) for i in range(5)))
    assert await store.get_setting("fresh") in {f"v{i}" for i in range(5)}


async def test_count_by_status_and_decision_time(store: SqlStore) -> None:
    for status in (Status.PENDING, Status.PENDING, Status.APPROVED):
        await store.add(draft(), status, NOW)
    pending, _ = await store.add(draft(), Status.PENDING, NOW)
    await store.decide(pending.id, Status.APPROVED, "Alice", NOW + timedelta(hours=1))
    assert await store.count(Status.PENDING) == 2
    assert await store.count(Status.APPROVED) == 2
    assert await store.count(Status.APPROVED, NOW + timedelta(minutes=1)) == 1
    assert await store.count(Status.REJECTED) == 0
