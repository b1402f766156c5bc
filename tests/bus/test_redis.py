"""What the Redis backend makes of messages on its channel that this version did not write."""

from __future__ import annotations

import json
import logging

import pytest
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
