"""Every chat action, once. A platform adapter parses an update, calls one of these, and renders.

The results are neutral: texts from bot/messages.py, plus what a platform
needs to choose how to say them (a Telegram alert or a toast, a Slack
ephemeral or nothing). Participants submit; moderators press buttons and run
the operator commands, each behind `Actions.operator`, which checks them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

from bot.cards import CardSync
from bot.cardstore import CardStore
from bot.lease import Leases, LocalLeases
from bot.messages import (
    BARRAGE_GONE,
    NOT_A_MODERATOR,
    mode_text,
    receipt_text,
    refusal_text,
    sentence,
    split_color,
    stats_text,
)
from bot.moderators import Moderators
from bot.replyto import ReplyTo
from server.core.errors import AlreadyDecided, InvalidInput, NotFound, RateLimited, Unavailable
from server.core.model import Source, Status, Verdict
from server.core.service import BarrageService, Submission
from server.core.views import Views

REPOST_LIMIT = 10
DECIDED = {Verdict.APPROVE: "✅ Approved", Verdict.REJECT: "❌ Rejected"}
STILL_REPOSTING = "Still re-posting the last batch of cards."
NOTHING_WAITING = "Nothing waiting."


@dataclass(frozen=True)
class ChatUser:
    """Who acts. `name` is asked only when needed: on Slack it is a users.info call."""

    ref: Hashable  # the platform's user id, as moderators are listed
    name: Callable[[], Awaitable[str]]


def named(name: str) -> Callable[[], Awaitable[str]]:
    """A name the update already carries (Telegram's first and last name)."""

    async def known() -> str:
        return name

    return known


@dataclass(frozen=True)
class ChatMessage:
    """A participant's message, parsed: the text still carries its colour word, if any."""

    text: str
    author: str
    author_ref: str
    sender_key: str  # stable per person, across chats: the rate limit counts it
    reply_to: ReplyTo
    dedupe_key: str | None  # the same delivery twice (webhook retry) is one barrage


@dataclass(frozen=True)
class Reply:
    text: str
    send: bool  # False: a redelivery, answered the first time


@dataclass(frozen=True)
class Outcome:
    """What a button press did; `decided` False is a refusal or a lost race (worth an alert)."""

    text: str
    decided: bool


@dataclass(frozen=True)
class Core:
    """What the composition root hands each chat channel."""

    service: BarrageService
    views: Views
    cards: CardStore
    # Screens showing a room now (every room: None), over every node: /stats, "no screen"
    screens: Callable[[str | None], int]
    # Work one node does for all (polling, cards); the default knows this process only.
    leases: Leases = field(default_factory=LocalLeases)


class Actions:
    def __init__(self, core: Core, source: Source, moderators: Moderators, cards: CardSync) -> None:
        self._core = core
        self._source = source
        self._moderators = moderators
        self._cards = cards

    async def submit_from_chat(self, message: ChatMessage) -> Reply:
        color, text = split_color(message.text)
        submission = Submission(
            text=text, author=message.author, color=color, source=self._source,
            author_ref=message.author_ref, reply_to=message.reply_to.dump(),
            sender_key=message.sender_key, dedupe_key=message.dedupe_key,
        )
        try:
            receipt = await self._core.service.submit(submission)
        except (InvalidInput, RateLimited, Unavailable) as exc:
            return Reply(refusal_text(exc), True)
        barrage = receipt.barrage
        return Reply(receipt_text(barrage.status, self._core.screens(barrage.room)), receipt.created)

    async def press(self, user: ChatUser, verdict: Verdict, barrage_id: int) -> Outcome:
        if not await self._moderators.allows(user.ref):
            return Outcome(NOT_A_MODERATOR, False)
        try:
            await self._core.service.decide(barrage_id, verdict, await user.name())
        except AlreadyDecided as exc:
            self._cards.wake("close")  # make sure this card shows the verdict too
            return Outcome(sentence(str(exc)), False)
        except NotFound:
            return Outcome(BARRAGE_GONE, False)
        except Unavailable as exc:
            return Outcome(sentence(str(exc)), False)
        return Outcome(DECIDED[verdict], True)

    async def operator(self, user: ChatUser) -> Operator | None:
        """The operator commands for `user`; None when they are not a moderator."""
        if not await self._moderators.allows(user.ref):
            return None
        return Operator(self._core, self._cards, user)


class Operator:
    """/mode, /stats and /pending, for a moderator already checked."""

    def __init__(self, core: Core, cards: CardSync, user: ChatUser) -> None:
        self._core = core
        self._cards = cards
        self._user = user

    async def mode(self, wanted: str | None, how: str) -> str:
        """Switch to `wanted`; with none, say the mode and `how` to switch."""
        service = self._core.service
        if wanted is None:
            return mode_text(service.mode.value, False, how)
        try:
            mode = await service.set_mode(wanted.lower(), by=await self._user.name())
        except InvalidInput as exc:
            return refusal_text(exc)
        return mode_text(mode.value, True, "")

    async def stats(self) -> str:
        stats = await self._core.views.stats(self._core.service.mode, self._core.screens(None))
        rooms = [room.slug for room in self._core.service.rooms.all()]
        return stats_text(stats, {room: self._core.screens(room) for room in rooms})

    async def pending(self, limit: int = REPOST_LIMIT) -> str:
        """Fresh cards for the oldest waiting barrages, posted in the background; one batch at a time."""
        if self._cards.reposting():
            return STILL_REPOSTING
        waiting = await self._core.views.barrages(Status.PENDING, 0, limit + 1)
        if not waiting:
            return NOTHING_WAITING
        batch = waiting[:limit]
        self._cards.repost(batch)
        more = " (more waiting — use /moderate)" if len(waiting) > limit else ""
        return f"Re-posting {len(batch)} waiting{more}."
