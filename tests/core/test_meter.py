"""The core's Meter port: what the service reports for each submission and decision."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.bus.memory import MemoryBus
from server.core.errors import InvalidInput, NotFound, RateLimited
from server.core.meter import Outcome
from server.core.model import Source, Verdict
from server.core.policy import InputPolicy, RatePolicy
from server.core.rooms import Rooms
from server.core.service import BarrageService, Submission
from server.ratelimit import MemoryWindows
from server.store import SqlStore
from server.store.batching import BatchingStore


class RecordingMeter:
    """A fake of the port: remembers what it was told."""

    def __init__(self) -> None:
        self.submissions: list[tuple[Source, Outcome]] = []
        self.decisions: list[tuple[Verdict, Source, float]] = []

    def submitted(self, source: Source, outcome: Outcome) -> None:
        self.submissions.append((source, outcome))

    def decided(self, verdict: Verdict, via: Source, seconds: float) -> None:
        self.decisions.append((verdict, via, seconds))


async def metered(store: SqlStore, per_minute: int = 0) -> tuple[BarrageService, RecordingMeter]:
    uow = BatchingStore(store, MemoryBus())
    meter = RecordingMeter()
    service = BarrageService(uow, InputPolicy(), MemoryWindows(), RatePolicy(per_minute, 0),
                             Rooms.main_only(uow), meter=meter)
    await service.start()
    return service, meter


async def test_each_submission_reports_its_outcome_once(store: SqlStore) -> None:
    service, meter = await metered(store, per_minute=2)
    once = Submission(text="hi", source=Source.TELEGRAM, sender_key="tg:1", dedupe_key="u1",
                      dedupe_for=timedelta(hours=1))
    await service.submit(once)
    await service.submit(once)  # a redelivery
    for bad in (Submission(text=" ", sender_key="tg:1"), Submission(text="x", room="nowhere")):
        with pytest.raises((InvalidInput, NotFound)):
            await service.submit(bad)
    await service.submit(Submission(text="two", sender_key="tg:1"))
    with pytest.raises(RateLimited):
        await service.submit(Submission(text="three", sender_key="tg:1"))
    assert meter.submissions == [(Source.TELEGRAM, Outcome.ACCEPTED), (Source.TELEGRAM, Outcome.DUPLICATE),
                                 (Source.WEB, Outcome.REFUSED), (Source.WEB, Outcome.REFUSED),
                                 (Source.WEB, Outcome.ACCEPTED), (Source.WEB, Outcome.REFUSED)]


async def test_a_decision_reports_its_channel_and_wait_and_a_repeat_nothing(store: SqlStore) -> None:
    service, meter = await metered(store)
    first = (await service.submit(Submission(text="a"))).barrage
    second = (await service.submit(Submission(text="b"))).barrage
    await service.decide(first.id, Verdict.APPROVE, "Mod", via=Source.SLACK)
    await service.decide(first.id, Verdict.APPROVE, "Mod", via=Source.SLACK)  # a double click
    await service.decide(second.id, Verdict.REJECT, "Mod")
    assert [(v, via) for v, via, _ in meter.decisions] == [(Verdict.APPROVE, Source.SLACK),
                                                           (Verdict.REJECT, Source.WEB)]
    assert all(seconds >= 0 for _, _, seconds in meter.decisions)
