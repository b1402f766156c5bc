"""What the Redis and PostgreSQL backends share: a link to the broker that connects,
listens, notices a loss, and reconnects with a backoff that resets after success; and
an outbox that sends from a task of its own, so a publisher never waits on the network."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence

from server.bus.backoff import Backoff
from server.bus.base import Handlers, Message, Receiver
from server.core.model import Event

logger = logging.getLogger(__name__)

FIRST_ATTEMPT_SECONDS = 5.0  # connect() waits this long for the first attempt, then returns anyway
CHECK_SECONDS = 1.0          # an idle link is checked this often...
DEAD_SECONDS = 3.5           # ...and lost after this long without an answer: /healthz knows within 5 s
# disconnect() waits this long for the link's tasks; one a driver keeps from ending (below)
# is left behind rather than keep the node from stopping.
STOP_SECONDS = 2.0
# Events waiting to be sent. Past this the oldest go: the receivers read them from the log
# once a later one reaches them (a gap), so a lost message is never a lost event.
MAX_OUTBOX = 10_000


class Link(ABC):
    """A broker backend (see base.Broker). Subclasses open, listen on, close and send over
    one link; this class runs them, and knows whether the link is up."""

    def __init__(self, name: str) -> None:
        self.name = name  # host and port only: a URL may carry a password
        self._receivers: Handlers[Message] = Handlers(logger)
        self._on_connect: list[Callable[[], None]] = []
        self._connected = False
        self._outbox: deque[Event] = deque(maxlen=MAX_OUTBOX)
        self._outgoing = asyncio.Event()
        self._sender_idle = False  # the sender waits for events, not for the broker
        self._tasks: list[asyncio.Task[None]] = []
        self._first_attempt: asyncio.Future[None] | None = None
        self._stopping = False
        self.losses = 0  # times an established link was lost (for tests and metrics)

    @property
    def connected(self) -> bool:
        return self._connected

    async def connect(self) -> None:
        """Start the link; return once the first attempt is over, connected or not: a node
        whose broker is down starts anyway and connects when the broker is back."""
        self._first_attempt = asyncio.get_running_loop().create_future()
        self._tasks = [asyncio.create_task(self._run(), name=f"bus-link {self.name}"),
                       asyncio.create_task(self._send_forever(), name=f"bus-send {self.name}")]
        await asyncio.wait([self._first_attempt], timeout=FIRST_ATTEMPT_SECONDS)

    async def disconnect(self) -> None:
        """Stop the link's tasks. Not by cancelling alone: a driver may swallow the
        cancellation mid-command (redis-py did, so a node hung on SIGINT, its sender back
        waiting for work); the loops also end at the flag, and the wait is bounded."""
        self._stopping = True
        self._outgoing.set()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=STOP_SECONDS)
            for task in pending:
                logger.warning("bus: %s did not stop within %.0f s; left behind", task.get_name(),
                               STOP_SECONDS)
        self._tasks = []
        self._receivers.clear()

    async def publish(self, event: Event) -> None:
        self._outbox.append(event)
        self._outgoing.set()
        if self._sender_idle:
            # The sender's turn first: the publisher is usually the request that committed
            # the event, and would otherwise write its whole response (about 0.25 ms of CPU,
            # bench/SCALEOUT.md) before the event leaves for the other nodes. A busy sender
            # takes this event with its next batch anyway: only the first of a commit's
            # events yields, and nobody waits for the broker's reply.
            self._sender_idle = False
            await asyncio.sleep(0)

    def subscribe(self, receiver: Receiver) -> Callable[[], None]:
        return self._receivers.add(receiver)

    def on_connect(self, callback: Callable[[], None]) -> None:
        self._on_connect.append(callback)

    def deliver(self, message: Message) -> None:
        self._receivers.call(message)

    @abstractmethod
    async def _open(self) -> None:
        """Connect and subscribe; return once messages flow."""

    @abstractmethod
    async def _listen(self) -> None:
        """Deliver messages until the link is lost (then raise), checking it when idle."""

    @abstractmethod
    async def _close(self) -> None:
        """Let go of the link; never raises."""

    @abstractmethod
    async def _send(self, events: Sequence[Event]) -> None:
        """Send these events, in order, over the link."""

    async def _run(self) -> None:
        backoff, failing = Backoff(), False
        while not self._stopping:
            try:
                await self._open()
                self._up(failing)
                backoff.reset()
                failing = False
                await self._listen()
            except Exception as exc:
                if not failing:  # one line per outage, not one per attempt
                    logger.warning("bus: %s unreachable (%s: %s); reconnecting", self.name,
                                   type(exc).__name__, exc)
                failing = True
            finally:
                self.losses += self._connected
                self._connected = False
                self._first_attempt_over()
                await self._close()
            await asyncio.sleep(backoff.next())

    def _up(self, after_failure: bool) -> None:
        self._connected = True
        self._first_attempt_over()
        if after_failure:
            logger.warning("bus: %s connected again", self.name)
        if len(self._outbox) > 1:  # the receivers read the rest from the log: send the newest
            newest = self._outbox[-1]
            self._outbox.clear()
            self._outbox.append(newest)
        if self._outbox:
            self._outgoing.set()
        for callback in self._on_connect:
            try:
                callback()
            except Exception:
                logger.exception("bus: on_connect callback %r failed", callback)

    def _first_attempt_over(self) -> None:
        if self._first_attempt is not None and not self._first_attempt.done():
            self._first_attempt.set_result(None)

    async def _send_forever(self) -> None:
        while True:
            self._sender_idle = True
            await self._outgoing.wait()
            self._sender_idle = False
            self._outgoing.clear()
            if self._stopping:
                return
            if not self._connected or not self._outbox:
                continue  # kept (bounded) until the link is up again
            events = list(self._outbox)
            self._outbox.clear()
            try:
                await self._send(events)
            except Exception as exc:
                logger.debug("bus: sending to %s failed: %s", self.name, exc)
                if not self._outbox:  # keep the newest; the receivers read the rest from the log
                    self._outbox.append(events[-1])
