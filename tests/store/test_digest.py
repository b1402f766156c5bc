"""The digest's and the lottery's SQL, on SQLite and PostgreSQL, with chosen timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import update

from server.core.model import EventKind, Source, Status
from server.store import SqlStore
from server.store.sql import BARRAGE
from tests.store.conftest import draft

T0 = datetime(2025, 1, 31, 10, 0, 30, tzinfo=UTC)


async def add(store: SqlStore, text: str, sender: str, at: datetime, status: Status = Status.APPROVED,
              **fields: object) -> int:
    barrage, _ = await store.add(draft(text, sender=sender, **fields), status, at)
    return barrage.id


async def test_the_busiest_minute_and_the_most_repeated_text(store: SqlStore) -> None:
    await add(store, "hello", "web:a", T0)
    for second in (31, 45, 59):  # 10:01:31 … 10:01:59: the busiest minute, in UTC
        await add(store, "again", "web:b", T0 + timedelta(minutes=1, seconds=second - 30), author="Bo")
    await add(store, "again", "web:c", T0 + timedelta(minutes=2), Status.PENDING, source=Source.SLACK)
    await add(store, "elsewhere", "web:a", T0, room="side")
    digest = (await store.digest("main")).to_dict()
    assert digest["busiest_minute"] == {"minute": "2025-01-31T10:01:00Z", "count": 3}
    assert digest["most_repeated"] == {"text": "again", "count": 4}
    assert digest["by_status"]["approved"] == 4 and digest["by_status"]["pending"] == 1
    assert digest["by_source"] == {"web": 4, "telegram": 0, "slack": 1}
    assert digest["top_senders"][0] == {"author": "Bo", "count": 3}


async def test_the_lottery_pool_counts_approved_senders_since_a_moment(store: SqlStore) -> None:
    await add(store, "1", "telegram:early", T0, author="Early")
    await add(store, "2", "telegram:late", T0 + timedelta(hours=1), author="Late")
    await add(store, "3", "telegram:late", T0 + timedelta(hours=2), author="Later name",
              source=Source.TELEGRAM)
    await add(store, "4", "telegram:waiting", T0 + timedelta(hours=2), Status.PENDING)
    retracted = await add(store, "5", "telegram:pulled", T0 + timedelta(hours=2))
    async with store._engine.begin() as conn:  # what a retraction leaves (its writer is elsewhere)
        await conn.execute(update(BARRAGE).where(BARRAGE.c.id == retracted).values(status="retracted"))
    assert sorted(await store.lottery_pool("main", None)) == ["telegram:early", "telegram:late"]
    beijing = timezone(timedelta(hours=8))
    since = (T0 + timedelta(hours=1)).astimezone(beijing)  # the same moment, another offset
    assert await store.lottery_pool("main", since) == ["telegram:late"]
    assert await store.latest_authors("main", ["telegram:late"], since) == {
        "telegram:late": ("Later name", Source.TELEGRAM)}


async def test_append_writes_an_event_that_changes_no_row(store: SqlStore) -> None:
    event = await store.append(EventKind.LOTTERY, {"room": "main", "draw_id": "d", "senders": ["web:x"]})
    [read] = await store.events_after(event.id - 1, [EventKind.LOTTERY], 10, "main")
    assert read == event
