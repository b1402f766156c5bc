"""Gap fill: every subscriber sees every event once, in id order, with no id skipped.

Event ids are contiguous and commit in id order (issue 10), so where a node stands is
one number, `position`: the last id it delivered. An event with id `position + 1` is
delivered at once; that is the hot path, one comparison. An id at or below the
position is a duplicate (the broker's echo of this node's own event, a redelivery)
and is dropped. An id further ahead means something was missed: the event waits in a
bounded buffer while a task of its own reads the missing run from the event log and
delivers it, then the buffer. The log is the truth: what it holds after the position
is delivered, in its order, and the position never passes the log's end. An id the bus
announces beyond it, still absent once the log had time to show it, is not this wall's
(a broker shared by mistake, a bogus message): it is dropped with a warning. A row of
a kind this version does not know (a newer node's, in a rolling upgrade) is stepped over:
the position moves past it, and it is logged once.

A node's own events are delivered here as soon as they are published, then sent on:
the node that made them never waits for a round trip through the broker, so a
single node is as fast as with memory://. The echo comes back at or below the
position and is dropped.

After every (re)connection to the broker the node catches up from the log, since what
was published while it was away reached it through nobody. While the broker is away
the log is read every POLL_SECONDS, so the node still shows every event, only later.
While it is connected and quiet, the log's end is read every IDLE_CHECK_SECONDS: a node
killed between its commit and its publish leaves an event that no message will ever
announce, and in a quiet room no later event would reveal the gap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from server.bus.backoff import Backoff
from server.bus.base import Broker, Handler, Handlers, Message
from server.bus.link import STOP_SECONDS
from server.bus.memory import MemoryBus
from server.core.errors import Unavailable
from server.core.model import Event, EventKind

logger = logging.getLogger(__name__)

ALL_KINDS = tuple(EventKind)
FILL_PAGE = 1000        # events per read of the log
# Events held ahead of a gap. Past this the buffer is dropped: the log holds every one
# of them, so the fill reads them from there instead (slower, never lost).
MAX_BUFFERED = 10_000
POLL_SECONDS = 1.0      # how often the log is read while the broker is away
IDLE_CHECK_SECONDS = 2.0  # and how often its end is read after a quiet spell while connected
# Reads that find nothing of a run the bus announced before the run is given up (the
# event is not in this node's log: a broker shared with another database). They wait
# 0.05 s, 0.1 s, ... in between: about 2 s in all, ample for a commit to become visible.
MAX_EMPTY_READS = 10


class EventLog(Protocol):
    async def events_after(self, event_id: int, kinds: Sequence[EventKind], limit: int) -> list[Event]: ...

    async def last_event_id(self) -> int: ...


class Sequencer:
    """The Bus the app's subscribers see, around a broker backend (base.Broker)."""

    def __init__(self, broker: Broker, log: EventLog, max_buffered: int = MAX_BUFFERED,
                 idle_check: float | None = None) -> None:
        self.broker = broker
        self._log = log
        self._max_buffered = max_buffered
        self._handlers: Handlers[Event] = Handlers(logger)
        self.position = 0       # the last id delivered
        self._target = 0        # the highest id known to exist
        self._buffer: dict[int, Event] = {}
        self._behind = False    # the log may hold events the bus never brought: read to its end
        self._wake = asyncio.Event()
        self._filler: asyncio.Task[None] | None = None
        self._stopping = False
        self.buffer_drops = 0   # times the buffer overflowed (for tests and metrics)
        self.stepped_over = 0   # ids in the log of kinds this version does not know
        self.published = 0      # events this node published (metrics)
        # memory:// carries nothing between processes: sending to it would only bring the
        # event back to be dropped, a cost on every event of a single-process wall.
        self._sends = not isinstance(broker, MemoryBus)
        # Nor can a memory:// process miss another's message: no idle reads of the log there.
        self._idle_check = idle_check or (IDLE_CHECK_SECONDS if self._sends else None)

    @property
    def connected(self) -> bool:
        return self.broker.connected

    async def connect(self) -> None:
        """Start at the log's end: what is already in it, subscribers replay themselves."""
        self.position = self._target = await self._log.last_event_id()
        self.broker.subscribe(self._receive)
        self.broker.on_connect(self._catch_up)
        self._filler = asyncio.create_task(self._fill_forever(), name="bus-gap-fill")
        await self.broker.connect()

    async def disconnect(self) -> None:
        """Stop the gap fill, then the broker. Not by cancelling alone: Python 3.11's wait_for
        loses a cancellation that lands as its wait ends, and the fill went back to waiting
        (a node hung on SIGINT, 1 CI run in 3); the loop also ends at the flag, and the wait
        for it is bounded, as Link.disconnect's is."""
        self._stopping = True
        self._wake.set()
        if self._filler is not None:
            self._filler.cancel()
            _, pending = await asyncio.wait([self._filler], timeout=STOP_SECONDS)
            if pending:
                logger.warning("bus: the gap fill did not stop within %.0f s; left behind", STOP_SECONDS)
        await self.broker.disconnect()
        self._handlers.clear()

    async def publish(self, event: Event) -> None:
        self.published += 1
        self._receive(event)
        if self._sends:
            await self.broker.publish(event)

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        return self._handlers.add(handler)

    def _receive(self, message: Message) -> None:
        if isinstance(message, Event):
            if message.id == self.position + 1:
                self._deliver(message)
                if self._buffer:
                    self._drain()
                return
            event_id = message.id
        else:
            event_id = message  # an id only (PostgreSQL): the event is read from the log
        if event_id <= self.position:
            return  # delivered already
        self._target = max(self._target, event_id)
        if isinstance(message, Event):
            self._hold(message)
        self._wake.set()

    def _deliver(self, event: Event) -> None:
        self.position = event.id
        self._handlers.call(event)

    def _hold(self, event: Event) -> None:
        if len(self._buffer) >= self._max_buffered:
            self.buffer_drops += 1
            logger.warning("bus: %d events held ahead of a gap; reading them from the log instead",
                           len(self._buffer))
            self._buffer.clear()
        self._buffer[event.id] = event

    def _drain(self) -> None:
        """Deliver what the buffer holds right after the position; forget what is behind it."""
        for stale in [event_id for event_id in self._buffer if event_id <= self.position]:
            del self._buffer[stale]
        while (event := self._buffer.pop(self.position + 1, None)) is not None:
            self._deliver(event)

    def _catch_up(self) -> None:
        self._behind = True
        self._wake.set()

    async def _fill_forever(self) -> None:
        backoff, failing = Backoff(first=0.05, cap=2.0), False
        while not self._stopping:
            await self._due()
            if self._stopping:
                return
            try:
                if self._behind:
                    self._behind = False
                    last = await self._log.last_event_id()  # read first: the target may rise meanwhile
                    self._target = max(self._target, last)
                await self._fill()
                backoff.reset()
                failing = False
            except Exception as exc:
                if not failing:  # one line per outage of the log, not one per attempt
                    _log_failed_read(exc)
                failing, self._behind = True, True
                await asyncio.sleep(backoff.next())
                self._wake.set()

    async def _due(self) -> None:
        # The broker away: the log is the only news. Connected but quiet: an event whose
        # node died before publishing it is announced by nobody; a look at the log finds it.
        wait = self._idle_check if self.broker.connected else POLL_SECONDS
        try:
            await asyncio.wait_for(self._wake.wait(), wait)
        except TimeoutError:
            self._behind = True
        self._wake.clear()

    async def _fill(self) -> None:
        empty_reads = 0
        while True:
            self._drain()
            if self._target <= self.position:
                return
            # Read the missing run only: up to the first held event, or to the target.
            upto = min(self._buffer) - 1 if self._buffer else self._target
            # After a read that found nothing, the log's end first: every id up to it has
            # committed (ids commit in id order), so the read after it sees them all.
            end = await self._log.last_event_id() if empty_reads else None
            if await self._read(upto, end):
                empty_reads = 0
            elif end is None:
                empty_reads = 1  # again at once, knowing the end
            elif (empty_reads := empty_reads + 1) < MAX_EMPTY_READS:
                await asyncio.sleep(0.05 * empty_reads)  # announced, but not visible to this read yet?
            else:
                self._drop_beyond(end, upto)

    async def _read(self, upto: int, end: int | None) -> bool:
        """Deliver what the log holds after the position, up to `upto`; whether it moved.

        The log is read for the kinds this version knows. An id the read passes over is a
        row of another kind (a newer node's, in a rolling upgrade): it has committed, since
        a later one did, or it is at most `end`. It is stepped over, never waited for.
        """
        start, limit = self.position, min(upto - self.position, FILL_PAGE)
        events = await self._log.events_after(self.position, ALL_KINDS, limit)
        for event in events:
            if event.id > self.position + 1:
                self._step_over(event.id - 1)
            if event.id > self.position:
                self._deliver(event)
        # A short read returned every known row after the position: the rest up to the end is unknown.
        if end is not None and len(events) < limit and min(end, upto) > self.position:
            self._step_over(min(end, upto))
        return self.position > start

    def _step_over(self, last: int) -> None:
        if not self.stepped_over:
            logger.warning("bus: event ids %d to %d are of a kind this version does not know (a newer "
                           "node's?); stepping over them and any later ones (logged once)",
                           self.position + 1, last)
        self.stepped_over += last - self.position
        self.position = last

    def _drop_beyond(self, end: int, upto: int) -> None:
        """The bus announced ids up to `upto` that the log, ending at `end`, still lacks.

        The position never passes the log's end: beyond it lie ids this wall never wrote (a
        broker shared with another wall's database by mistake, a bogus message). Moving
        there would make this wall's own events look like duplicates when they come, and
        hand its screens a stranger's events. What is held above the end is not this log's.
        """
        logger.warning("bus: events %d to %d were announced but are not in the log (it ends at %d); "
                       "dropping them", self.position + 1, upto, end)
        self._buffer.clear()  # all above `upto`, so above the end
        self._target = self.position


def _log_failed_read(exc: Exception) -> None:
    if isinstance(exc, Unavailable):  # the database away is expected: one line, no traceback
        logger.warning("bus: the event log is unavailable; trying again")
    else:
        logger.error("bus: reading the event log failed; trying again", exc_info=exc)
