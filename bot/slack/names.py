"""Display names from users.info, cached (bounded, with a TTL) and never slow."""

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
        self._cache: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def get(self, user_id: str, fallback: str | None = None) -> str:
        hit = self._cache.get(user_id)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        try:
            reply = await asyncio.wait_for(self._client.users_info(user=user_id), LOOKUP_TIMEOUT)
        except Exception as exc:  # any failure: fall back, never fail the submission
            logger.warning("users.info(%s) failed: %r", user_id, exc)
            return hit[1] if hit else (fallback or user_id)
        name = display_name(reply.get("user") or {}) or fallback or user_id
        self._cache[user_id] = (time.monotonic() + self._ttl, name)
        self._cache.move_to_end(user_id)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return name


def display_name(user: dict) -> str:
    profile = user.get("profile") or {}
    return (profile.get("display_name") or profile.get("real_name") or user.get("real_name")
            or user.get("name") or "")
