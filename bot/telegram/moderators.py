"""Who may decide: the configured user ids, else the moderator chat's administrators."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from telegram import Bot
from telegram.error import TelegramError

logger = logging.getLogger(__name__)


class Moderators:
    def __init__(self, bot: Bot, chat_id: int, allowlist: Iterable[int], ttl_seconds: float) -> None:
        self._bot = bot
        self._chat_id = chat_id
        self._allowlist = frozenset(allowlist)
        self._ttl = ttl_seconds
        self._admins: frozenset[int] = frozenset()
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def allows(self, user_id: int) -> bool:
        """Checked on every press and command: a card in the wrong hands stays inert."""
        if self._allowlist:
            return user_id in self._allowlist
        if not self._chat_id:
            return False
        return user_id in await self._chat_admins()

    async def _chat_admins(self) -> frozenset[int]:
        async with self._lock:  # one getChatAdministrators at a time, whatever the press rate
            if time.monotonic() < self._expires:
                return self._admins
            try:
                members = await self._bot.get_chat_administrators(self._chat_id)
            except TelegramError as exc:
                logger.warning("getChatAdministrators(%s) failed: %s", self._chat_id, exc)
                return self._admins  # the last known list, possibly empty: fail closed
            self._admins = frozenset(m.user.id for m in members if not m.user.is_bot)
            self._expires = time.monotonic() + self._ttl
            return self._admins
