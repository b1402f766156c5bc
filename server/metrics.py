"""Prometheus metrics for one app (prometheus-client), for GET /metrics (server/web/metrics.py).

Each app has a registry of its own, never the library's global one: a process may hold
several apps (the tests build many), and each shows its own numbers. Numbers the app already
keeps (the service's counters, the fan-out's drops, the bus's publishes, the outboxes, the
bus's health) are read where they are kept, by `Readings`, at each scrape: nothing is
counted twice. What nobody counted before (submissions by outcome, decisions and their wait)
is counted by `PrometheusMeter`, the core's Meter port. Labels take values from bounded
sets only: sources, outcomes, verdicts, audiences, platforms and room slugs (rooms come
from the configuration and admins), never from what a sender wrote.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from server.core.meter import Outcome
from server.core.model import Source, Verdict
from server.logs import limit_repeats
from server.web.fanout import Audience, FanOut

logger = limit_repeats(logging.getLogger(__name__))
T = TypeVar("T")

# A moderator answers in seconds on a quiet desk, minutes on a busy one; past
# moderation.pending_ttl_seconds (10 minutes by default) a barrage expires instead.
DECISION_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
ALL_ROOMS = "*"  # the room label of a moderators' stream of every room (no slug can be "*")
REFRESH_SECONDS = 1.0  # what scrapes read (the database, /healthz's checks), shared this long
READ_SECONDS = 2.0  # a scrape never waits longer on the database (or on any /healthz check)
# /healthz's checks (app[HEALTH]) that say whether a platform is connected
CONNECTED_CHECKS = {"telegram": "telegram_connected", "slack": "slack_socket_connected"}
# The service's counters (app[COUNTERS]) by prefix: family, help, label, the label's known values.
COUNTED = {
    "rate_limited": ("barrage_rate_limited", "Submissions refused over a rate limit, by limit "
                     "(sender, address, busy: too many waiting for a commit).", "limit",
                     ("sender", "address", "busy")),
    "admin_auth": ("barrage_admin_auth_refused", "Admin requests refused: a wrong token (failed), "
                   "or an address locked out after too many (locked_out).", "reason",
                   ("failed", "locked_out")),
}


class PrometheusMeter:
    """The core's Meter, counting into the app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._submissions = PromCounter(
            "barrage_submissions", "Submissions by source and outcome (accepted, rejected by a filter, "
            "refused with a 4xx, duplicate: a redelivery).", ["source", "outcome"], registry=registry)
        self._decisions = PromCounter(
            "barrage_decisions", "Moderators' decisions by verdict and the channel they decided on.",
            ["verdict", "via"], registry=registry)
        self._seconds = Histogram(
            "barrage_decision_seconds", "Seconds from a submission to a moderator's decision.",
            buckets=DECISION_BUCKETS, registry=registry)
        for source in Source:  # every series from the start, at 0: rate() needs the first point
            for outcome in Outcome:
                self._submissions.labels(source.value, outcome.value)
            for verdict in Verdict:
                self._decisions.labels(verdict.value, source.value)

    def submitted(self, source: Source, outcome: Outcome) -> None:
        self._submissions.labels(source.value, outcome.value).inc()

    def decided(self, verdict: Verdict, via: Source, seconds: float) -> None:
        self._decisions.labels(verdict.value, via.value).inc()
        self._seconds.observe(seconds)


class Bus(Protocol):
    published: int
    buffer_drops: int

    @property
    def connected(self) -> bool: ...


class Outbox(Protocol):
    dropped: int

    @property
    def waiting(self) -> int: ...


class Platform(Protocol):
    """A chat channel (bot/telegram, bot/slack), present when enabled."""

    platform: str
    outbox: Outbox

    @property
    def retries(self) -> int: ...


@dataclass(frozen=True)
class Sources:
    """Where the numbers are kept: handed in by the composition root once the app runs."""

    counters: Counter[str]
    fanout: FanOut
    bus: Bus
    shared_bus: bool  # not memory://: barrage_bus_connected says whether this node reaches it
    rooms: Callable[[], list[str]]
    pending: Callable[[list[str]], Awaitable[dict[str, int]]]
    platforms: Sequence[Platform] = ()
    health: Mapping[str, Callable[[], Awaitable[object]]] = field(default_factory=dict)  # /healthz's


class Readings:
    """A custom collector: reads the app's own numbers at each scrape. `refresh` first reads
    what needs awaiting (barrage_pending from the database, /healthz's checks); what it cannot
    read, the scrape goes without."""

    def __init__(self, sources: Sources, clock: Callable[[], float] = time.monotonic) -> None:
        self._sources = sources
        self._clock = clock
        self._pending: dict[str, int] | None = None
        self._health: dict[str, object] = {}
        self._reading: asyncio.Future[None] | None = None
        self._read_at = -REFRESH_SECONDS

    async def refresh(self) -> None:
        """At most once every REFRESH_SECONDS, one read at a time, shared by every scrape that
        arrives meanwhile: /metrics may be open to anyone (no metrics.token), and must not be a
        database query per request. A scrape that gives up does not cancel the others' read."""
        now = self._clock()
        if self._reading is None or (self._reading.done() and now - self._read_at >= REFRESH_SECONDS):
            self._read_at = now
            self._reading = asyncio.ensure_future(self._read_all())
        await asyncio.shield(self._reading)

    async def _read_all(self) -> None:
        s = self._sources
        names = list(s.health)
        # At once, each bounded by READ_SECONDS: a slow database costs a scrape 2 s, not 2 s a read.
        pending, *health = await asyncio.gather(
            _read(s.pending(s.rooms()), "the pending counts"),
            *(_read(check(), name) for name, check in s.health.items()))
        self._pending, self._health = pending, dict(zip(names, health, strict=True))

    def collect(self) -> Iterator[Metric]:
        s = self._sources
        yield self._streams()
        yield CounterMetricFamily("barrage_events_published", "Events this process published.",
                                  value=s.bus.published)
        yield CounterMetricFamily("barrage_bus_buffer_drops", "Times events held ahead of a gap "
                                  "overflowed their buffer (read from the log instead).",
                                  value=s.bus.buffer_drops)
        yield CounterMetricFamily("barrage_fanout_dropped_streams", "Streams dropped because their "
                                  "client fell behind (it reconnects and replays).", value=s.fanout.dropped)
        yield from self._counted()
        if self._pending is not None:
            yield self._labelled(GaugeMetricFamily, "barrage_pending", "Barrages waiting for a "
                                 "moderator, by room (the database's: alike on every process).",
                                 "room", self._pending)
        if (database := self._health.get("database")) is not None:
            yield GaugeMetricFamily("barrage_database_writable", "1 while the database takes writes "
                                    "(/healthz's check), else 0.", value=int(database == "ok"))
        if s.shared_bus:
            yield GaugeMetricFamily("barrage_bus_connected", "1 while this process reaches its bus "
                                    "(Redis or PostgreSQL), else 0.", value=int(s.bus.connected))
        if s.platforms:
            yield from self._platforms()

    def _streams(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily("barrage_streams", "Open event streams on this process, by room and "
                                   "audience (screen: /stream; admin: /api/stream, the moderation "
                                   "desk; room \"*\": a desk's stream of every room).",
                                   labels=["room", "audience"])
        counts = self._sources.fanout.streams()
        for room in self._sources.rooms():  # every room's series, at 0 when nobody watches
            for audience in Audience:
                counts.setdefault((audience, room), 0)
        rows = sorted(([ALL_ROOMS if room is None else room, audience.value], n)
                      for (audience, room), n in counts.items())
        for labels, n in rows:
            family.add_metric(labels, n)
        return family

    def _counted(self) -> Iterator[Metric]:
        counters = self._sources.counters
        for prefix, (name, doc, label, known) in COUNTED.items():
            values = dict.fromkeys(known, 0)
            values.update({key.removeprefix(f"{prefix}."): n for key, n in counters.items()
                           if key.startswith(f"{prefix}.")})
            yield self._labelled(CounterMetricFamily, name, doc, label, values)

    def _platforms(self) -> Iterator[Metric]:
        platforms = self._sources.platforms
        connected = {name: int(bool(self._health[check])) for name, check in CONNECTED_CHECKS.items()
                     if self._health.get(check) is not None}
        if connected:  # Telegram always; Slack in Socket Mode (over HTTP Slack calls us)
            yield self._labelled(GaugeMetricFamily, "barrage_platform_connected", "1 while the "
                                 "platform's API answers this process (/healthz's check), else 0.",
                                 "platform", connected)
        yield self._labelled(GaugeMetricFamily, "barrage_outbound_queue", "Replies waiting in the "
                             "platform's outbound queue.", "platform",
                             {p.platform: p.outbox.waiting for p in platforms})
        yield self._labelled(CounterMetricFamily, "barrage_platform_retries", "Platform API calls made "
                             "again: after a rate limit (429), or by the outbound queue after a failure.",
                             "platform", {p.platform: p.retries for p in platforms})
        yield self._labelled(CounterMetricFamily, "barrage_outbound_dropped", "Replies dropped: the "
                             "outbound queue was full.", "platform",
                             {p.platform: p.outbox.dropped for p in platforms})

    @staticmethod
    def _labelled(kind: type[CounterMetricFamily] | type[GaugeMetricFamily], name: str, doc: str,
                  label: str, values: dict[str, int]) -> Metric:
        family = kind(name, doc, labels=[label])
        for value, n in sorted(values.items()):
            family.add_metric([value], n)
        return family


async def _read(value: Awaitable[T], what: str) -> T | None:
    """`value`, or None when it fails or takes too long: every other series still answers."""
    try:
        async with asyncio.timeout(READ_SECONDS):
            return await value
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        logger.warning("metrics: could not read %s: %s", what, type(exc).__name__)
        return None


class Metrics:
    """One app's registry: the default process, platform and gc collectors, the meter, and
    (once `watch` is told where they are) the app's own numbers."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.meter = PrometheusMeter(self.registry)
        self._readings: Readings | None = None

    def watch(self, sources: Sources) -> None:
        self._readings = Readings(sources)
        self.registry.register(self._readings)

    async def refresh(self) -> None:
        if self._readings is not None:
            await self._readings.refresh()
