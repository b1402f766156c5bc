"""Typed application state keys, set once by the composition root."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

from server.config import Config
from server.core.epoch import Epoch
from server.core.lottery import Lottery
from server.core.ports import RateWindows
from server.core.service import BarrageService
from server.core.views import Views
from server.web.device import DeviceCookies
from server.web.fanout import FanOut
from server.web.presence import Presence
from server.web.slots import StreamSlots

CONFIG = web.AppKey("config", Config)
SERVICE = web.AppKey("service", BarrageService)
VIEWS = web.AppKey("views", Views)  # reads only: lists, replays, stats
FANOUT = web.AppKey("fanout", FanOut)
LOTTERY = web.AppKey("lottery", Lottery)
PRESENCE = web.AppKey("presence", Presence)  # live screens per room, over every node
# name → async check, shown by /healthz (chat channels register theirs)
HEALTH: web.AppKey[dict[str, Callable[[], Awaitable[bool]]]] = web.AppKey("health")
# Refusals and other events by name, for a metrics endpoint (the service counts into it too).
COUNTERS: web.AppKey[Counter[str]] = web.AppKey("counters")
WINDOWS: web.AppKey[RateWindows] = web.AppKey("windows")
DEVICES = web.AppKey("devices", DeviceCookies)
SLOTS = web.AppKey("slots", StreamSlots)
EPOCH = web.AppKey("epoch", Epoch)  # the database's (server/core/epoch.py), read at start
