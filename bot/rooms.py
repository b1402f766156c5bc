"""Which room a chat belongs to, on one platform; and the room a sender picked for their private chat.

`ChatRooms` is plain data, built by the composition root from the config's `[[rooms]]`
(bot/ reads nothing of server/ but its core). Chat ids are strings on every platform.
A sender's pick lives in the database (the `setting` table), so every process, and the
next start, sends their private messages to the same room.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from server.core.model import MAIN, Barrage
from server.core.rooms import Rooms

# What operator commands in the global moderators' chat act on: reads cover every room
# (its cards come from every room without a chat of its own); writes act on main, or on
# the room named first (bot/actions.py Operator.aimed).
ALL_ROOMS = ""
SENDER_KEY = "room.sender:"


@dataclass(frozen=True)
class ChatRooms:
    chats: Mapping[str, str] = field(default_factory=dict)  # a group or channel → its room
    moderator_chats: Mapping[str, str] = field(default_factory=dict)  # a room's own moderators' chat → room
    default_moderator_chat: str = ""  # the global one; empty: none

    def room_of_chat(self, chat: str) -> str | None:
        return self.chats.get(chat)

    def moderator_chat(self, room: str) -> str:
        """Where the room's cards go: its own moderators' chat, else the global one ("" for none)."""
        own = {slug: chat for chat, slug in self.moderator_chats.items()}
        return own.get(room, self.default_moderator_chat)

    def operator_room(self, chat: str) -> str | None:
        """The room operator commands in `chat` act on: ALL_ROOMS in the global moderators' chat,
        None in a chat that is no moderators' chat."""
        if chat in self.moderator_chats:
            return self.moderator_chats[chat]
        return ALL_ROOMS if chat and chat == self.default_moderator_chat else None

    def posts_cards(self) -> bool:
        return bool(self.default_moderator_chat or self.moderator_chats)


def card_room(rooms: Rooms, barrage: Barrage) -> str | None:
    """The room a card names (its title), once there is more than one room."""
    if len(rooms.all()) < 2 or not rooms.exists(barrage.room):
        return None
    return rooms.get(barrage.room).title


class Settings(Protocol):
    """The store's key-value settings (server/store): where senders' picks are kept."""

    async def get_setting(self, key: str) -> str | None: ...

    async def put_setting(self, key: str, value: str, event: Any) -> Any: ...


class SenderRooms:
    """Each sender's pick for their private chat with the bot, by sender key; main unless picked."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def get(self, sender_key: str) -> str:
        return await self._settings.get_setting(SENDER_KEY + sender_key) or MAIN

    async def put(self, sender_key: str, room: str) -> None:
        # No event: a pick changes nothing anyone else sees; the next message reads it.
        await self._settings.put_setting(SENDER_KEY + sender_key, room, None)
