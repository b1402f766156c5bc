"""The Slack group that may decide when no ids are configured: the moderation channel's members."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.moderators import Moderators
from bot.slack.settings import SlackConfig

MAX_PAGES = 50  # 50 x 1,000 members: bounded, whatever the channel


def slack_moderators(client: AsyncWebClient, config: SlackConfig) -> Moderators:
    channel = config.moderation_channel

    async def channel_members() -> frozenset[str]:
        members: set[str] = set()
        cursor = None
        for _ in range(MAX_PAGES):
            page = await client.conversations_members(channel=channel, cursor=cursor, limit=1000)
            members.update(page.get("members", []))
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return frozenset(members)

    return Moderators(config.moderators, channel_members if channel else None, config.member_cache_seconds,
                      f"conversations.members({channel})")
