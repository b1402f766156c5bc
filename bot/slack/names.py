"""Display names and locales from users.info, cached (bounded, with a TTL) and never slow.

Slack sends no locale with its events or slash commands: users.info with
`include_locale=true` tells it, in the same call that tells the name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from slack_sdk.web.async_client import AsyncWebClient

logger = logging.getLogger(__name__)

LOOKUP_TIMEOUT = 1.5  # a slash command must be acked within 3 s


class Names:
    def __init__(self, client: AsyncWebClient, ttl_seconds: float = 3600, max_entries: int = 5000) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._max = max_entries
        self._cache: OrderedDict[str, tuple[float, str, str | None]] = OrderedDict()

    async def get(self, user_id: str, fallback: str | None = None) -> str:
        return (await self._lookup(user_id, fallback))[0]

    async def locale(self, user_id: str, fallback_name: str | None = None) -> str | None:
        """The user's Slack locale ("zh-CN", "en-US"), None when unknown."""
        return (await self._lookup(user_id, fallback_name))[1]

    def cached_locale(self, user_id: str) -> str | None:
        """The locale already known, without a call (for an answer that cannot wait)."""
        hit = self._cache.get(user_id)
        return hit[2] if hit else None

    async def _lookup(self, user_id: str, fallback: str | None) -> tuple[str, str | None]:
        hit = self._cache.get(user_id)
        if hit and hit[0] > time.monotonic():
            return hit[1], hit[2]
        try:
            call = self._client.users_info(user=user_id, include_locale=True)
            reply = await asyncio.wait_for(call, LOOKUP_TIMEOUT)
        except Exception as exc:  # any failure: fall back, never fail the submission
            logger.warning("users.info(%s) failed: %r", user_id, exc)
            return (hit[1], hit[2]) if hit else (fallback or user_id, None)
        user = reply.get("user") or {}
        name = display_name(user) or fallback or user_id
        locale = user.get("locale") if isinstance(user.get("locale"), str) else None
        self._cache[user_id] = (time.monotonic() + self._ttl, name, locale)
        self._cache.move_to_end(user_id)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return name, locale


def display_name(user: dict) -> str:
    profile = user.get("profile") or {}
    return (profile.get("display_name") or profile.get("real_name") or user.get("real_name")
            or user.get("name") or "")
