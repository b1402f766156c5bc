"""Redis backend: pub/sub on the channel `<bus.channel>:events`.

Pub/sub, not Streams: the event log in the database is already the durable, ordered
history, and every node fills its gaps from it (sequence.py). A Stream would keep a
second copy of that history in Redis, to be trimmed, with a read position per node to
look after; pub/sub stores nothing and costs one hop, which is all the bus is for:
telling the other nodes at once. A message a node misses (it was disconnected, or a
backed-up outbox dropped it) is read from the log.

A message is the whole event as JSON, so the nodes that receive it read nothing from
the database for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from server.bus.link import CHECK_SECONDS, DEAD_SECONDS, Link
from server.core.model import Event, EventKind

logger = logging.getLogger(__name__)

KINDS = frozenset(kind.value for kind in EventKind)


class RedisBus(Link):
    def __init__(self, url: str, channel: str) -> None:
        parts = urlsplit(url)
        super().__init__(f"redis {parts.hostname or 'localhost'}:{parts.port or 6379}")
        self._url = url
        self.topic = f"{channel}:events"
        self._client: Redis | None = None
        self._pubsub: PubSub | None = None

    async def _open(self) -> None:
        # No retries inside redis-py: a lost link must surface here, to be reported and
        # followed by a catch-up from the log, not be papered over. No socket_timeout
        # either: redis-py then writes every command from a task of its own
        # (asyncio.wait_for), a loop turn before the bytes leave; each wait is bounded
        # here instead.
        self._client = Redis.from_url(self._url, retry=Retry(NoBackoff(), 0),
                                      socket_connect_timeout=DEAD_SECONDS)
        async with asyncio.timeout(DEAD_SECONDS):
            self._pubsub = self._client.pubsub()
            await self._pubsub.subscribe(self.topic)
            # The publishing connection, made now rather than on the first event; after the
            # subscription, which would otherwise take this one from the pool.
            await self._client.ping()
            # Connected only once Redis confirms: a catch-up read after this misses nothing.
            while not _is(await self._pubsub.get_message(timeout=CHECK_SECONDS), "subscribe"):
                pass

    async def _listen(self) -> None:
        assert self._pubsub is not None
        clock = asyncio.get_running_loop().time
        heard = pinged = clock()
        while True:
            message = await self._pubsub.get_message(timeout=CHECK_SECONDS)
            now = clock()
            if message is not None:
                heard = now
                if message["type"] == "message":
                    self._received(message["data"])
            if now - heard > DEAD_SECONDS:  # a link that went silent (no reset, no close)
                raise ConnectionError(f"no answer for {DEAD_SECONDS} s")
            if now - pinged >= CHECK_SECONDS:  # answered by a "pong" message
                await self._pubsub.ping()
                pinged = now

    def _received(self, data: bytes) -> None:
        try:
            raw = json.loads(data)
            event_id, kind, payload = int(raw["id"]), str(raw["kind"]), dict(raw["payload"])
        except (ValueError, KeyError, TypeError):
            logger.warning("bus: ignoring a message on %s that is not an event", self.topic)
            return
        if kind in KINDS:
            self.deliver(Event(event_id, EventKind(kind), payload))
        else:  # a newer node's kind (a rolling upgrade): its id alone, for the log to settle
            self.deliver(event_id)

    async def _send(self, events: Sequence[Event]) -> None:
        if self._client is None:
            raise ConnectionError("not connected")
        async with asyncio.timeout(DEAD_SECONDS):  # a Redis that stopped answering
            if len(events) == 1:  # the usual case: one command costs less than a pipeline of one
                await self._client.publish(self.topic, encode(events[0]))
                return
            async with self._client.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.publish(self.topic, encode(event))
                await pipe.execute()

    async def _close(self) -> None:
        pubsub, client, self._pubsub, self._client = self._pubsub, self._client, None, None
        for each in (pubsub, client):
            if each is not None:
                with contextlib.suppress(Exception):
                    await each.aclose()


def encode(event: Event) -> str:
    return json.dumps({"id": event.id, "kind": event.kind.value, "payload": event.payload},
                      ensure_ascii=False, separators=(",", ":"))


def _is(message: dict[str, object] | None, kind: str) -> bool:
    return message is not None and message.get("type") == kind
