"""GET /readyz: whether this process can do its work now, for a load balancer or Kubernetes.

`/healthz` is liveness (the process serves; restart it if not). `/readyz` is readiness:
200 only when every check passes (the database answers, the bus is connected), else 503,
and the body says which failed and why:

    {"ready": true, "checks": {"database": "ok", "bus": "ok"}}
    {"ready": false, "reason": "database unreachable", "checks": {"database": "unreachable", "bus": "ok"}}

It is public, so it must stay cheap whatever the number of callers: the checks run at most
once per CACHE_SECONDS, one run shared by every probe that arrives meanwhile, each check
bounded by CHECK_SECONDS. A flood of probes is a flood of cached answers, never of queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from server.logs import limit_repeats

logger = limit_repeats(logging.getLogger(__name__))

PATH = "/readyz"
CACHE_SECONDS = 1.0   # how old an answer may be
CHECK_SECONDS = 2.0   # how long a check may take before it counts as failed
OK = "ok"
# A check answers None when ready, else what is wrong ("disconnected"); one that raises
# is "unreachable", one that takes too long "not answering".
Check = Callable[[], Awaitable[str | None]]


class Readiness:
    def __init__(self, checks: Mapping[str, Check], cache_seconds: float = CACHE_SECONDS,
                 check_seconds: float = CHECK_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._checks = dict(checks)
        self._cache_seconds = cache_seconds
        self._check_seconds = check_seconds
        self._clock = clock
        self._answer: dict[str, str] | None = None
        self._expires = 0.0
        self._running: asyncio.Task[dict[str, str]] | None = None

    async def states(self) -> dict[str, str]:
        """Each check's state: "ok", or what is wrong."""
        if self._answer is not None and self._clock() < self._expires:
            return self._answer
        if self._running is None:
            self._running = asyncio.create_task(self._run(), name="readiness")
        # Shielded: a probe that hangs up does not cancel the run the others wait for.
        return await asyncio.shield(self._running)

    async def close(self) -> None:
        if self._running is not None:
            self._running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._running

    async def _run(self) -> dict[str, str]:
        try:
            names = list(self._checks)
            found = await asyncio.gather(*(self._state(name) for name in names))
            self._answer = dict(zip(names, found, strict=True))
            self._expires = self._clock() + self._cache_seconds
            return self._answer
        finally:
            self._running = None

    async def _state(self, name: str) -> str:
        try:
            async with asyncio.timeout(self._check_seconds):
                problem = await self._checks[name]()
        except TimeoutError:
            problem = "not answering"
        except Exception as exc:
            problem = "unreachable"
            logger.warning("readiness: %s unreachable (%s)", name, type(exc).__name__)
        return OK if problem is None else problem


def body(states: Mapping[str, str]) -> dict[str, Any]:
    failed = [f"{name} {state}" for name, state in states.items() if state != OK]
    if not failed:
        return {"ready": True, "checks": dict(states)}
    return {"ready": False, "reason": "; ".join(failed), "checks": dict(states)}


READINESS = web.AppKey("readiness", Readiness)


async def readyz(request: web.Request) -> web.Response:
    answer = body(await request.app[READINESS].states())
    if answer["ready"]:
        return web.json_response(answer, headers={"Cache-Control": "no-store"})
    # Retry-After: the next answer may differ in CACHE_SECONDS.
    return web.json_response(answer, status=503, headers={"Cache-Control": "no-store", "Retry-After": "1"})


def add_route(app: web.Application) -> None:
    app.router.add_get(PATH, readyz)
