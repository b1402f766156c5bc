"""The Redis backend against the shared Redis, on a channel of this test's own: what it
makes of messages this version did not write, and when a published event leaves."""

from __future__ import annotations

import json
import logging

import pytest
import redis
from redis.asyncio import Redis

from server.bus import create_bus
from server.bus.base import Message
from tests.bus.conftest import SHARED_REDIS, event, eventually


async def test_an_event_of_a_kind_it_does_not_know_is_passed_on_as_its_id(
    channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A newer node's event in a rolling upgrade: the id lets the sequencer step over it now,
    rather than meet the gap later."""
    bus = create_bus(SHARED_REDIS, channel)
    got: list[Message] = []
    bus.subscribe(got.append)
    await bus.connect()
    client = Redis.from_url(SHARED_REDIS)
    try:
        with caplog.at_level(logging.WARNING, logger="server.bus.redis"):
            newer = {"id": 7, "kind": "poll", "payload": {"question": "?"}}
            await client.publish(f"{channel}:events", json.dumps(newer))
            await bus.publish(event(8))
            await eventually(lambda: event(8) in got)  # after the newer one, on one connection
    finally:
        await client.aclose()
        await bus.disconnect()
    assert got == [7, event(8)]
    assert caplog.records == []


def watch(topic: str) -> redis.client.PubSub:
    """A blocking subscriber: it reads while this test's event loop stands still."""
    pubsub = redis.Redis.from_url(SHARED_REDIS).pubsub()
    pubsub.subscribe(topic)
    assert pubsub.get_message(timeout=15)["type"] == "subscribe"  # Redis has the subscription
    return pubsub


async def test_an_event_is_on_its_way_to_redis_when_publish_returns(channel: str) -> None:
    """The publisher is usually the request that committed the event: the other nodes do
    not wait for it to write its response. The watcher blocks the event loop, so only
    bytes written before `publish` returned can reach it."""
    watcher = watch(f"{channel}:events")
    bus = create_bus(SHARED_REDIS, channel)
    await bus.connect()
    try:
        await bus.publish(event(1))
        message = watcher.get_message(timeout=15)  # a bound on a hang: it comes at once or never
        assert message is not None and message["type"] == "message"
        assert b'"id":1' in message["data"]
    finally:
        watcher.close()
        await bus.disconnect()
