"""The gate with the real store (SQLite and PostgreSQL) and a clock the test moves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.core.errors import AlreadySent, InvalidInput, Muted, NotFound, SlowMode
from server.core.gate import Gate, GateRules
from server.core.model import REASON_BLOCKED, Event, EventKind, Mute, Status
from server.marks import MemoryMarks
from server.store import SqlStore
from tests.store.conftest import draft


class Clock:
    """Both clocks the gate reads: wall time for mutes, monotonic seconds for marks."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 31, 22, 0, tzinfo=UTC)
        self.seconds = 1000.0

    def wall(self) -> datetime:
        return self.now

    def mono(self) -> float:
        return self.seconds

    def move(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.seconds += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def gate(store: SqlStore | None, clock: Clock, **rules: object) -> Gate:
    return Gate(store, MemoryMarks(clock=clock.mono), GateRules(**rules), clock=clock.wall)  # type: ignore[arg-type]


async def test_a_refused_attempt_does_not_restart_slow_mode(clock: Clock) -> None:
    g = gate(None, clock, slow_mode_seconds=10, repeat_seconds=0)
    await g.check(draft("one", sender="web:a"))
    clock.move(6)
    with pytest.raises(SlowMode) as refused:
        await g.check(draft("two", sender="web:a"))
    assert refused.value.retry_after == 4 and "wait 4 s" in str(refused.value)
    clock.move(4.5)  # 10.5 s after the first: the refusal at 6 s started nothing
    await g.check(draft("three", sender="web:a"))
    await g.check(draft("other sender", sender="web:b"))
    await g.check(draft("no sender key"))
    await g.check(draft("no sender key"))


async def test_a_released_ticket_frees_slow_mode_and_the_repeat(clock: Clock) -> None:
    g = gate(None, clock, slow_mode_seconds=10, repeat_seconds=60)
    ticket = await g.check(draft("Hello!!", sender="web:a", norm="hello"))
    await g.release(ticket)  # the submission failed later (the rate limit, the store)
    await g.check(draft("hello", sender="web:a", norm="hello"))
    clock.move(30)
    with pytest.raises(AlreadySent):
        await g.check(draft("HELLO", sender="web:a", norm="hello"))
    clock.move(31)
    await g.check(draft("hello", sender="web:a", norm="hello"))


async def test_a_refusal_by_slow_mode_releases_the_repeat_it_reserved(clock: Clock) -> None:
    g = gate(None, clock, slow_mode_seconds=10, repeat_seconds=60)
    await g.check(draft("one", sender="web:a", norm="one"))
    with pytest.raises(SlowMode):
        await g.check(draft("two", sender="web:a", norm="two"))
    clock.move(11)
    await g.check(draft("two", sender="web:a", norm="two"))  # not "already sent"


async def test_a_mute_runs_out(store: SqlStore, clock: Clock) -> None:
    g = gate(store, clock)
    await g.start()
    await g.mute("telegram:1", 1, "flood", "Ann")
    with pytest.raises(Muted) as refused:
        await g.check(draft(sender="telegram:1"))
    assert refused.value.until == clock.now + timedelta(minutes=1)
    assert "until 2026-12-31 22:01 UTC" in str(refused.value)
    assert [m.sender for m in await g.mutes()] == ["telegram:1"]
    clock.move(61)
    await g.check(draft(sender="telegram:1"))
    assert await g.mutes() == []
    with pytest.raises(NotFound):
        await g.unmute("telegram:1")


async def test_another_process_follows_the_mutes_events(store: SqlStore, clock: Clock) -> None:
    here, there = gate(store, clock), gate(store, clock)
    await here.start()
    await there.start()
    await here.mute("slack:T1:U1", 0)
    [event] = await store.events_after(0, [EventKind.MUTES], 10)
    there.on_event(event)
    with pytest.raises(Muted) as refused:
        await there.check(draft(sender="slack:T1:U1"))
    assert refused.value.until is None
    await here.unmute("slack:T1:U1")
    [_, lifted] = await store.events_after(0, [EventKind.MUTES], 10)
    there.on_event(lifted)
    await there.check(draft(sender="slack:T1:U1"))


class Interleaved:
    """The store, with a `mutes` event delivered while the gate reads the table."""

    def __init__(self, store: SqlStore, during: Callable[[], None]) -> None:
        self._store, self._during = store, during

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def mutes(self, *args: Any) -> list[Mute]:
        found = await self._store.mutes(*args)
        self._during()
        return found


async def test_an_event_during_the_start_is_applied_after_it(store: SqlStore, clock: Clock) -> None:
    event = Event(1, EventKind.MUTES, {"sender": "web:x", "muted": True, "until": None})
    g = Gate(Interleaved(store, lambda: g.on_event(event)), None, clock=clock.wall)  # type: ignore[arg-type]
    await g.start()
    with pytest.raises(Muted):
        await g.check(draft(sender="web:x"))


async def test_the_copy_is_bounded_and_the_database_answers_past_it(store: SqlStore, clock: Clock) -> None:
    small = Gate(store, None, GateRules(), clock=clock.wall, max_mutes=2)
    await small.start()
    for n in range(3):
        await small.mute(f"web:{n}", 5)
    assert len(small._mutes) == 2
    for n in range(3):
        with pytest.raises(Muted):
            await small.check(draft(sender=f"web:{n}"))
    restarted = Gate(store, None, GateRules(), clock=clock.wall, max_mutes=2)
    await restarted.start()
    assert len(restarted._mutes) == 2 and not restarted._complete
    for n in range(3):
        with pytest.raises(Muted):
            await restarted.check(draft(sender=f"web:{n}"))
    await restarted.check(draft(sender="web:free"))


async def test_autoban_counts_blocked_barrages_in_the_window(store: SqlStore, clock: Clock) -> None:
    g = gate(store, clock, autoban_after=3, autoban_window_minutes=10, autoban_minutes=60)
    await g.start()

    async def blocked(sender: str) -> None:
        barrage, _ = await store.add(draft("bad", sender=sender, reason=REASON_BLOCKED), Status.REJECTED,
                                     clock.now)
        await g.passed(barrage)

    await blocked("web:a")
    clock.move(11 * 60)  # the first falls out of the window
    await blocked("web:a")
    await blocked("web:a")
    await g.check(draft(sender="web:a"))
    await blocked("web:a")
    with pytest.raises(Muted) as refused:
        await g.check(draft(sender="web:a"))
    assert refused.value.until == clock.now + timedelta(minutes=60)
    [mute] = await g.mutes()
    assert (mute.muted_by, mute.reason) == ("autoban", "3 blocked messages in 10 min")
    approved, _ = await store.add(draft("fine", sender="web:b"), Status.APPROVED, clock.now)
    await g.passed(approved)
    assert await g.muted("web:b") is None


@pytest.mark.parametrize("minutes", [-1, 525_601, 1.5, "5", True, None])
async def test_bad_minutes_are_refused(store: SqlStore, clock: Clock, minutes: object) -> None:
    g = gate(store, clock)
    with pytest.raises(InvalidInput):
        await g.mute("web:a", minutes)
    assert await store.mutes(clock.now, 10) == []


async def test_memory_marks_are_bounded_and_evict_the_oldest(clock: Clock) -> None:
    marks = MemoryMarks(max_keys=2, clock=clock.mono)
    assert await marks.reserve("a", "t", 10) == 0.0
    assert await marks.reserve("b", "t", 60) == 0.0
    assert await marks.reserve("c", "t", 10) == 0.0  # full: "a" (the first to end) goes
    assert len(marks) == 2
    assert await marks.reserve("b", "x", 60) == 60.0
    clock.move(10)
    assert await marks.reserve("d", "t", 10) == 0.0  # "c" ran out: room without evicting "b"
    assert await marks.reserve("b", "x", 60) == 50.0
    await marks.release("b", "wrong token")
    assert await marks.reserve("b", "x", 60) == 50.0
    await marks.release("b", "t")
    assert await marks.reserve("b", "x", 60) == 0.0
