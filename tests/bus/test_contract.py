"""One contract for every backend, against the real brokers: memory://, the shared Redis
and this run's PostgreSQL database, each test on a channel of its own.

A "node" is one backend instance. memory:// is one process's bus, so there every node is
the same instance. PostgreSQL carries ids only, and may announce a burst with its newest
id alone (the receiver reads the rest from the log): for it the contract is that the ids
it delivers rise and end with the newest.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from server.bus import Broker, create_bus
from server.bus.base import Message
from tests.bus.conftest import SHARED_REDIS, event, eventually, libpq_url

BACKENDS = ["memory", "redis", "postgres"]
Nodes = Callable[..., Awaitable[Broker]]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def url(backend: str, request: pytest.FixtureRequest) -> str:
    if backend == "postgres":
        return libpq_url(request.getfixturevalue("postgres_url"))
    return {"memory": "memory://", "redis": SHARED_REDIS}[backend]


@pytest.fixture
async def node(backend: str, url: str, channel: str) -> AsyncIterator[Nodes]:
    """`await node()` → a connected node on this test's channel (`on=` another one)."""
    made: dict[str, Broker] = {}
    started: list[Broker] = []

    async def factory(on: str = channel) -> Broker:
        if backend == "memory" and on in made:
            return made[on]
        broker = made[on] = create_bus(url, on)
        await broker.connect()
        started.append(broker)
        return broker

    yield factory
    for broker in started:
        await broker.disconnect()


def ids(messages: list[Message]) -> list[int]:
    return [m if isinstance(m, int) else m.id for m in messages]


def carries_events(backend: str) -> bool:
    return backend != "postgres"


async def test_a_published_event_reaches_another_node(node: Nodes, backend: str) -> None:
    sender, receiver = await node(), await node()
    got: list[Message] = []
    receiver.subscribe(got.append)
    await sender.publish(event(1))
    await eventually(lambda: 1 in ids(got))
    assert got == ([event(1)] if carries_events(backend) else [1])


async def test_events_arrive_in_publish_order(node: Nodes, backend: str) -> None:
    sender, receiver = await node(), await node()
    got: list[Message] = []
    receiver.subscribe(got.append)
    for i in range(1, 201):
        await sender.publish(event(i))
    await eventually(lambda: 200 in ids(got))
    if carries_events(backend):
        assert got == [event(i) for i in range(1, 201)]
    else:
        assert ids(got) == sorted(set(ids(got))) and ids(got)[-1] == 200


async def test_unsubscribe_stops_delivery_and_may_be_called_twice(node: Nodes) -> None:
    sender, receiver = await node(), await node()
    kept: list[Message] = []
    dropped: list[Message] = []
    receiver.subscribe(kept.append)
    unsubscribe = receiver.subscribe(dropped.append)
    await sender.publish(event(1))
    await eventually(lambda: ids(kept) == [1])
    unsubscribe()
    unsubscribe()
    await sender.publish(event(2))
    await eventually(lambda: ids(kept) == [1, 2])  # the later positive signal
    assert ids(dropped) == [1]


async def test_a_handler_that_raises_is_logged_and_the_others_still_run(
    node: Nodes, caplog: pytest.LogCaptureFixture
) -> None:
    sender, receiver = await node(), await node()
    before: list[Message] = []
    after: list[Message] = []

    def broken(_: Message) -> None:
        raise RuntimeError("handler bug")

    receiver.subscribe(before.append)
    receiver.subscribe(broken)
    receiver.subscribe(after.append)
    with caplog.at_level(logging.ERROR):
        await sender.publish(event(7))
        await eventually(lambda: ids(after) == [7])
        await sender.publish(event(8))
        await eventually(lambda: ids(after) == [7, 8])
    assert ids(before) == [7, 8]
    failures = [r for r in caplog.records if "handler" in r.getMessage() and r.exc_info]
    assert len(failures) == 2 and "on event 7" in failures[0].getMessage()


async def test_two_channels_on_one_broker_never_cross(node: Nodes, channel: str) -> None:
    here, there = await node(), await node(on=channel + "_b")
    heard_here: list[Message] = []
    heard_there: list[Message] = []
    (await node()).subscribe(heard_here.append)
    (await node(on=channel + "_b")).subscribe(heard_there.append)
    for i, (sender, heard) in enumerate([(here, heard_here), (there, heard_there)] * 2, start=1):
        await sender.publish(event(i))
        await eventually(lambda i=i, heard=heard: i in ids(heard))  # type: ignore[misc]
    assert ids(heard_here) == [1, 3] and ids(heard_there) == [2, 4]


async def test_connected_once_connected_and_told_so(backend: str, url: str, channel: str) -> None:
    fresh = create_bus(url, channel)
    told: list[bool] = []
    fresh.on_connect(lambda: told.append(fresh.connected))
    await fresh.connect()
    try:
        await eventually(lambda: told == [True])
        assert fresh.connected
    finally:
        await fresh.disconnect()
    assert fresh.connected is (backend == "memory")  # memory:// has nothing to lose
