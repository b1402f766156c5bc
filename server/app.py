"""create_app(config): the one composition root.

Cleanup contexts acquire in order (in use → store → epoch → devices → bus → readiness → service →
expiry → fan-out → presence, then the chat channels and metrics, when enabled) and release in
reverse; a release runs only if its acquire succeeded.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import web

from server.bus import Sequencer, create_bus
from server.classifier import create_classifier
from server.config import Config, seed_rules
from server.core.epoch import EPOCH_KEY, Epoch
from server.core.expiry import Expiry
from server.core.filters import Filters
from server.core.gate import Gate, GateRules
from server.core.lottery import Lottery
from server.core.model import MAIN, Mode, Room
from server.core.policy import InputPolicy, RatePolicy
from server.core.ports import Marks
from server.core.rooms import Rooms
from server.core.service import BarrageService
from server.core.views import Views
from server.logs import limit_repeats
from server.marks import MemoryMarks
from server.metrics import Metrics, Sources
from server.ratelimit import MemoryWindows
from server.store import SqlStore, backup
from server.store.batching import BatchingStore
from server.store.cards import SqlCards
from server.store.lease import ChatLeases, create_leases
from server.store.marks import SqlMarks
from server.store.sql import create_engine
from server.web import api, device, filters, lottery, mine, mutes, openapi, pages, qr, readiness, reports
from server.web import metrics as metrics_route
from server.web import rooms as room_routes
from server.web.errors import error_middleware, identity_bodies_only
from server.web.fanout import FanOut
from server.web.keys import (
    CONFIG,
    COUNTERS,
    DEVICES,
    EPOCH,
    FANOUT,
    HEALTH,
    LOTTERY,
    PRESENCE,
    SERVICE,
    SLOTS,
    VIEWS,
    WINDOWS,
)
from server.web.presence import Presence
from server.web.request_id import echo_request_id, request_id_middleware
from server.web.slots import StreamSlots
from server.web.stream import screen_stream

if TYPE_CHECKING:  # imported when their channel is enabled: a wall without chat loads neither
    from bot.actions import Core
    from bot.rooms import ChatRooms
    from bot.slack.channel import SlackChannel
    from bot.telegram.channel import TelegramChannel

logger = logging.getLogger(__name__)

STORE = web.AppKey("store", SqlStore)
CARDS = web.AppKey("cards", SqlCards)
LEASES: web.AppKey[ChatLeases] = web.AppKey("leases")
BUS = web.AppKey("bus", Sequencer)
EXPIRY = web.AppKey("expiry", Expiry)
TELEGRAM: web.AppKey[TelegramChannel] = web.AppKey("telegram")
SLACK: web.AppKey[SlackChannel] = web.AppKey("slack")
MARKS: web.AppKey[Marks] = web.AppKey("marks")  # slow mode and "already sent" (server/core/gate.py)
# The chat adapters' catch-alls log what strangers can trigger: rate-limited here,
# since bot/ imports nothing of server/ but its core.
CHAT_CATCH_ALLS = ("bot.telegram.handlers", "bot.slack.handlers")
# Background loops that log a failed pass and go on: a database away for a minute is
# a few lines, not one a second.
LOOP_LOGGERS = ("server.core.expiry", "bot.cards",
                # a stream's replay while the database is away: one line per reconnect, any stranger's
                "server.web.stream")
# aiohttp logs every message its parser refuses (not HTTP, a control character in a
# header) at ERROR with a traceback: a stranger's flood of them is a few lines a minute.
AIOHTTP_SERVER = "aiohttp.server"
MAX_BODY_BYTES = 64 * 1024
# aiohttp closes a connection that has no complete request this long after it opened
# (or after its last response): a client that never finishes its headers holds a
# descriptor for 10 s, not forever. Idle keep-alive connections go the same way.
HEADER_TIMEOUT_SECONDS = 10.0


def create_app(config: Config) -> web.Application:
    app = web.Application(
        # The request id first: every line the others write carries it.
        middlewares=[request_id_middleware, error_middleware, identity_bodies_only],
        client_max_size=MAX_BODY_BYTES,
        # Bodies reach us as sent; identity_bodies_only refuses encoded ones (see errors.py).
        handler_args={"auto_decompress": False, "keepalive_timeout": HEADER_TIMEOUT_SECONDS},
    )
    app[CONFIG] = config
    app[HEALTH] = {}
    app[COUNTERS] = Counter()
    # In memory: one process's windows; with a Redis bus, _windows shares them on Redis.
    app[WINDOWS] = MemoryWindows()
    app[MARKS] = MemoryMarks()
    app[SLOTS] = StreamSlots(config.stream.max_streams, config.stream.max_per_address)
    app.cleanup_ctx.extend([_in_use, _store, _epoch, _devices, _windows, _bus, _readiness, _core, _expiry,
                            _fanout, _presence])
    for name in (*CHAT_CATCH_ALLS, *LOOP_LOGGERS, AIOHTTP_SERVER):
        limit_repeats(logging.getLogger(name))
    if config.telegram.enabled or config.slack.enabled:
        app.cleanup_ctx.append(_leases)  # before the channels, so released after them
    if config.telegram.enabled:
        app.cleanup_ctx.append(_telegram)
        if config.telegram.mode == "webhook":
            from bot.telegram.channel import WEBHOOK_PATH

            app.router.add_post(WEBHOOK_PATH, _telegram_webhook)
    if config.slack.enabled:
        app.cleanup_ctx.append(_slack)
        if config.slack.mode == "http":
            from bot.slack.channel import EVENTS_PATH

            app.router.add_post(EVENTS_PATH, _slack_events)
    if config.metrics.enabled:  # off: no route, so /metrics is a 404
        if not config.metrics.token:
            logger.warning("metrics.enabled without metrics.token: /metrics answers anyone who reaches "
                           "this port (set BARRAGE_METRICS_TOKEN, or keep the port private)")
        app[metrics_route.METRICS] = Metrics()
        app.cleanup_ctx.append(_metrics)  # last: it reads what the others made
        metrics_route.add_route(app)
    app.on_shutdown.append(_close_streams)
    app.on_response_prepare.append(echo_request_id)  # every response, streams and errors too
    api.add_routes(app)
    room_routes.add_routes(app)
    lottery.add_routes(app)
    filters.add_routes(app)
    reports.add_routes(app)
    mine.add_routes(app)
    mutes.add_routes(app)
    openapi.add_route(app)
    pages.add_routes(app)
    qr.add_routes(app)
    readiness.add_route(app)
    app.router.add_get("/stream", screen_stream)
    return app


async def _store(app: web.Application) -> AsyncIterator[None]:
    database = app[CONFIG].database
    engine = create_engine(database.url, database.sqlite_synchronous)
    # First: its error handler on the engine covers the cards' statements too.
    store = SqlStore(engine, app[CONFIG].screen.merge_seconds)
    try:
        if database.auto_migrate:
            await store.create_schema()
        else:
            await store.check_schema()
    except BaseException:
        await store.close()
        raise
    app[STORE] = store
    app[CARDS] = SqlCards(engine)
    marks = None
    if urlsplit(app[CONFIG].bus.url).scheme in ("postgresql", "postgres"):
        # Nodes on a PostgreSQL bus share no Redis: their slow mode and repeats live in the
        # database (with a Redis bus, _windows puts them there).
        app[MARKS] = marks = SqlMarks.for_database(database.url, engine)
    app[HEALTH]["database"] = store.health
    try:
        yield
    finally:
        try:
            if marks is not None:
                await marks.close()
        finally:
            await store.close()


async def _in_use(app: web.Application) -> AsyncIterator[None]:
    """A SQLite database is locked as in use while this process runs, so `barrage db
    restore` refuses to replace it under us (server/store/backup.py)."""
    lock = backup.InUse(app[CONFIG].database.url)
    await lock.acquire()
    try:
        yield
    finally:  # also when a later start-up step failed
        lock.release()


async def _epoch(app: web.Application) -> AsyncIterator[None]:
    """The database's epoch (server/core/epoch.py): made with the database, renewed by a
    restore. Read once: the database is only restored with every server stopped."""
    store = app[STORE]
    made = Epoch.new(await store.last_event_id())
    stored = await store.setting_or_default(EPOCH_KEY, made.encode())
    try:
        app[EPOCH] = Epoch.decode(stored)
    except ValueError:  # edited by hand: replaced, as a restore would
        logger.warning("the stored epoch (setting %s) is not one: made a new one", EPOCH_KEY)
        await store.put_setting(EPOCH_KEY, made.encode(), None)
        app[EPOCH] = made
    yield


async def _devices(app: web.Application) -> AsyncIterator[None]:
    # The cookie-signing key is made once and kept in the database, so every
    # process on it (and every restart) signs alike, with nothing to configure.
    key = await app[STORE].setting_or_default(device.SETTING_KEY, device.new_key())
    https = app[CONFIG].server.public_url.startswith("https://")
    app[DEVICES] = device.DeviceCookies(key, always_secure=https)
    yield


async def _bus(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    app[VIEWS] = Views(app[STORE])
    # Subscribers get every event once, in id order: the sequencer fills gaps from the log.
    bus = Sequencer(create_bus(config.bus.url, config.bus.channel), app[VIEWS])
    await bus.connect()
    app[BUS] = bus
    app[HEALTH]["bus_connected"] = _async(lambda: bus.connected)
    yield
    await bus.disconnect()


async def _readiness(app: web.Application) -> AsyncIterator[None]:
    """/readyz: the database answers and the bus is connected (chat channels are /healthz's:
    a channel down is not the wall down)."""
    store, bus = app[STORE], app[BUS]

    async def bus_connected() -> str | None:
        return None if bus.connected else "disconnected"

    checks = readiness.Readiness({"database": store.ping, "bus": bus_connected})
    app[readiness.READINESS] = checks
    yield
    await checks.close()


async def _windows(app: web.Application) -> AsyncIterator[None]:
    """Rate limits, slow mode and repeats shared by every node on the same Redis (the bus's),
    so a sender's minute counts alike whichever node takes the submission."""
    bus = app[CONFIG].bus
    if not bus.url.startswith(("redis://", "rediss://")):
        yield
        return
    from server.marks_redis import RedisMarks
    from server.ratelimit_redis import RedisWindows  # loads limits and redis only when used

    windows = RedisWindows(bus.url, key_prefix=f"{bus.channel}:ratelimit")
    marks = RedisMarks(bus.url, key_prefix=f"{bus.channel}:gate")
    app[WINDOWS], app[MARKS] = windows, marks
    yield
    await marks.close()
    await windows.close()


async def _core(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    bus = app[BUS]
    policy = InputPolicy(config.moderation.max_text_length, config.moderation.max_author_length)
    rates = RatePolicy(config.moderation.max_per_minute, config.moderation.max_per_minute_per_address)
    # Group commit: the service's writes take turns, submissions share transactions,
    # and each commit's events are published in id order.
    store = BatchingStore(app[STORE], bus)
    rooms = _rooms(config, store)
    gate = Gate(store, app[MARKS], _gate_rules(config))
    rules = Filters(store, config.filter.links, create_classifier(config.filter.classifier),
                    config.filter.classifier_threshold)
    meter = app[metrics_route.METRICS].meter if metrics_route.METRICS in app else None
    service = BarrageService(store, policy, app[WINDOWS], rates, rooms, counters=app[COUNTERS],
                             filters=rules, gate=gate, meter=meter)
    # Before the load, so no change is missed; before the streams' handler (_fanout), so
    # a client that sees a `mode` event and submits meets the new mode.
    unsubscribe = bus.subscribe(service.on_event)
    await service.start()
    # A new database takes the seed file's rules (one process wins); every process loads them all.
    await rules.seed(seed_rules(config.filter.seed_file) if config.filter.seed_file else [])
    app[SERVICE] = service
    app[LOTTERY] = Lottery(store, rooms)
    # Through the group commit like every write: its events are published in id order.
    moderation = config.moderation
    app[EXPIRY] = Expiry(store, moderation.pending_ttl_seconds, moderation.max_pending)
    yield
    unsubscribe()
    await rules.close()


def _gate_rules(config: Config) -> GateRules:
    m = config.moderation
    return GateRules(m.slow_mode_seconds, m.repeat_seconds, m.shadow_mute, m.autoban_after,
                     m.autoban_window_minutes, m.autoban_minutes)


async def _expiry(app: web.Application) -> AsyncIterator[None]:
    """Pending barrages past moderation.pending_ttl_seconds or max_pending expire: on every
    process (a compare-and-set: each expires once; see server/core/expiry.py)."""
    task = asyncio.create_task(app[EXPIRY].run(), name="expiry")
    yield
    task.cancel()
    await asyncio.wait([task])


def _rooms(config: Config, store: BatchingStore) -> Rooms:
    """Main and the `[[rooms]]`, with [moderation] and [screen]'s values for what they leave out."""
    defaults = Room(MAIN, MAIN, join_text=config.screen.join_text, mode=Mode(config.moderation.mode),
                    crossing_seconds=config.screen.crossing_seconds)
    seeds = [Room(room.slug, room.title or room.slug, join_text=room.join_text,
                  mode=Mode(room.mode or config.moderation.mode),
                  crossing_seconds=room.crossing_seconds or config.screen.crossing_seconds)
             for room in config.rooms]
    return Rooms(store, defaults, seeds)


async def _fanout(app: web.Application) -> AsyncIterator[None]:
    stream = app[CONFIG].stream
    fanout = FanOut(stream.max_buffer_bytes, stream.heartbeat_seconds)
    # Subscribed and started at the bus's position with no await between: the fan-out
    # gets exactly the events after the id its history starts from.
    unsubscribe = app[BUS].subscribe(fanout.on_event)
    fanout.start(app[BUS].position)
    app[FANOUT] = fanout
    yield
    unsubscribe()
    await fanout.close()


async def _presence(app: web.Application) -> AsyncIterator[None]:
    # One process (memory://) counts its own screens; several share theirs on the database.
    shared = not _memory_bus(app[CONFIG])
    presence = Presence(app[FANOUT], app[STORE] if shared else None)
    presence.start()
    app[PRESENCE] = presence
    yield
    await presence.close()


def _memory_bus(config: Config) -> bool:
    """As create_bus decides (`memory:`, `MEMORY://` too): one process's own bus."""
    return urlsplit(config.bus.url).scheme == "memory"


async def _metrics(app: web.Application) -> AsyncIterator[None]:
    """Tell the metrics where the numbers are kept: they are read at each scrape."""
    rooms = app[SERVICE].rooms
    app[metrics_route.METRICS].watch(Sources(
        counters=app[COUNTERS], fanout=app[FANOUT], bus=app[BUS],
        shared_bus=not _memory_bus(app[CONFIG]),
        rooms=lambda: [room.slug for room in rooms.all()], pending=app[VIEWS].pending_by_room,
        platforms=[app[key] for key in (TELEGRAM, SLACK) if key in app], health=app[HEALTH],
    ))
    yield


async def _leases(app: web.Application) -> AsyncIterator[None]:
    # Polling and the card loops run on one node at a time, by a lease on the shared database.
    leases = create_leases(app[CONFIG].database.url)
    app[LEASES] = leases
    yield
    await leases.close()


def _chat_core(app: web.Application) -> Core:
    from bot.actions import Core

    return Core(app[SERVICE], app[VIEWS], app[CARDS], screens=app[PRESENCE].screens,
                settings=app[STORE], leases=app[LEASES], lottery=app[LOTTERY],
                language=app[CONFIG].ui.language)


def _chat_rooms(chats: dict[str, str], moderator_chats: dict[str, str], default: str) -> ChatRooms:
    """The `[[rooms]]` mapping of one platform, as plain data for bot/ ("0" and "" are no chat)."""
    from bot.rooms import ChatRooms

    own = {chat: room for chat, room in moderator_chats.items() if chat not in ("", "0")}
    return ChatRooms(chats, own, "" if default == "0" else default)


def _telegram_rooms(config: Config) -> ChatRooms:
    return _chat_rooms({str(chat): room.slug for room in config.rooms for chat in room.telegram_chats},
                       {str(room.telegram_moderator_chat_id): room.slug for room in config.rooms},
                       str(config.telegram.moderator_chat_id))


def _slack_rooms(config: Config) -> ChatRooms:
    return _chat_rooms({chat: room.slug for room in config.rooms for chat in room.slack_channels},
                       {room.slack_moderation_channel: room.slug for room in config.rooms},
                       config.slack.moderation_channel)


async def _telegram(app: web.Application) -> AsyncIterator[None]:
    from bot.telegram.channel import TelegramChannel

    config = app[CONFIG]
    channel = TelegramChannel(config.telegram, _chat_core(app), join_text=config.screen.join_text,
                              join_url=config.join_url(),
                              public_url=config.server.public_url, rooms=_telegram_rooms(config))
    unsubscribe = app[BUS].subscribe(channel.cards.on_event)
    await channel.start()
    app[TELEGRAM] = channel
    app[HEALTH]["telegram_connected"] = _async(channel.connected)
    yield
    unsubscribe()
    await channel.stop()


async def _slack(app: web.Application) -> AsyncIterator[None]:
    from bot.slack.channel import SlackChannel

    config = app[CONFIG]
    channel = SlackChannel(config.slack, _chat_core(app), join_text=config.screen.join_text,
                           join_url=config.join_url(),
                           rooms=_slack_rooms(config))
    unsubscribe = app[BUS].subscribe(channel.cards.on_event)
    await channel.start()
    app[SLACK] = channel
    if config.slack.mode == "socket":
        app[HEALTH]["slack_socket_connected"] = channel.socket_connected
    yield
    unsubscribe()
    await channel.stop()


async def _slack_events(request: web.Request) -> web.Response:
    return await request.app[SLACK].events(request)


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        return check()

    return run


async def _telegram_webhook(request: web.Request) -> web.Response:
    return await request.app[TELEGRAM].webhook(request)


async def _close_streams(app: web.Application) -> None:
    # on_shutdown runs before aiohttp waits for handlers: end the streams now,
    # or every restart would wait out the shutdown timeout.
    if FANOUT in app:
        await app[FANOUT].close()
