"""The Telegram group that may decide when no ids are configured: the moderator chat's admins."""

from __future__ import annotations

from telegram import Bot

from bot.moderators import Moderators
from bot.telegram.settings import TelegramConfig


def telegram_moderators(bot: Bot, config: TelegramConfig) -> Moderators:
    chat_id = config.moderator_chat_id

    async def chat_admins() -> frozenset[int]:
        members = await bot.get_chat_administrators(chat_id)
        return frozenset(m.user.id for m in members if not m.user.is_bot)

    return Moderators(config.moderators, chat_admins if chat_id else None, config.admin_cache_seconds,
                      f"getChatAdministrators({chat_id})")
