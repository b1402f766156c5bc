"""Who may decide: a configured allowlist, else a group fetched from the platform (cached)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable

logger = logging.getLogger(__name__)


class Moderators:
    """`allows(user)` is checked on every press and command: a card in the wrong hands stays inert.

    With no allowlist, `fetch` names the group (a chat's admins, a channel's
    members). Its answer is trusted for `ttl_seconds`. When a fetch fails the
    last known group stands, which is empty at first, so a failure never
    lets anyone in.
    """

    def __init__(self, allowlist: Iterable[Hashable], fetch: Callable[[], Awaitable[frozenset]] | None,
                 ttl_seconds: float, what: str) -> None:
        self._allowlist = frozenset(allowlist)
        self._fetch = fetch
        self._ttl = ttl_seconds
        self._what = what
        self._group: frozenset = frozenset()
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def allows(self, user: Hashable) -> bool:
        if self._allowlist:
            return user in self._allowlist
        if self._fetch is None:
            return False
        return user in await self._current_group()

    async def _current_group(self) -> frozenset:
        async with self._lock:  # one fetch at a time, whatever the press rate
            if time.monotonic() < self._expires:
                return self._group
            try:
                self._group = await self._fetch()
            except Exception as exc:  # the platform's own errors, network or API
                logger.warning("%s failed: %r", self._what, exc)
                return self._group
            self._expires = time.monotonic() + self._ttl
            return self._group
