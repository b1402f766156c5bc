"""Who may decide on Slack: the configured user ids, else members of the moderation channel."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

logger = logging.getLogger(__name__)

MAX_PAGES = 50  # 50 x 1,000 members: bounded, whatever the channel


class Moderators:
    def __init__(self, client: AsyncWebClient, channel: str, allowlist: Iterable[str],
                 ttl_seconds: float) -> None:
        self._client = client
        self._channel = channel
        self._allowlist = frozenset(allowlist)
        self._ttl = ttl_seconds
        self._members: frozenset[str] = frozenset()
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def allows(self, user_id: str) -> bool:
        """Checked on every press and command."""
        if self._allowlist:
            return user_id in self._allowlist
        if not self._channel:
            return False
        return user_id in await self._channel_members()

    async def _channel_members(self) -> frozenset[str]:
        async with self._lock:
            if time.monotonic() < self._expires:
                return self._members
            try:
                self._members = await self._fetch()
            except (SlackApiError, OSError, TimeoutError) as exc:
                logger.warning("conversations.members(%s) failed: %s", self._channel, exc)
                return self._members  # last known list, possibly empty: fail closed
            self._expires = time.monotonic() + self._ttl
            return self._members

    async def _fetch(self) -> frozenset[str]:
        members: set[str] = set()
        cursor = None
        for _ in range(MAX_PAGES):
            page = await self._client.conversations_members(channel=self._channel, cursor=cursor, limit=1000)
            members.update(page.get("members", []))
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return frozenset(members)
