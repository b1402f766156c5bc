"""Every chat action, once. A platform adapter parses an update, calls one of these, and renders.

The results are neutral: texts from bot/messages.py, plus what a platform
needs to choose how to say them (a Telegram alert or a toast, a Slack
ephemeral or nothing). Participants submit; moderators press buttons and run
the operator commands, each behind `Actions.operator`, which checks them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from bot.cards import CardSync
from bot.cardstore import CardStore
from bot.lease import Leases, LocalLeases
from bot.messages import (
    MUTE_MINUTES,
    announced_text,
    blocked_word_text,
    cleared_text,
    digest_text,
    lottery_text,
    mode_text,
    muted_text,
    not_a_room_text,
    paused_text,
    receipt_text,
    refusal_text,
    resumed_text,
    room_here_text,
    room_name,
    room_switched_text,
    room_text,
    sentence,
    split_color,
    stats_text,
    t,
    unblocked_word_text,
    unknown_room_text,
    why,
    wrong_room_text,
)
from bot.moderators import Moderators
from bot.replyto import ReplyTo
from bot.rooms import ALL_ROOMS, ChatRooms, SenderRooms, Settings
from server.core.errors import (
    AlreadyDecided,
    AlreadySent,
    CannotRetract,
    InvalidInput,
    Muted,
    NotFound,
    PoolTooSmall,
    RateLimited,
    Unavailable,
)
from server.core.i18n import AUTO, DEFAULT, from_locale
from server.core.lottery import Lottery
from server.core.model import MAIN, Mode, Room, Source, Status, Verdict
from server.core.service import BarrageService, Submission
from server.core.views import Views

REPOST_LIMIT = 10
DECIDED = {Verdict.APPROVE: "decided.approve", Verdict.REJECT: "decided.reject"}
# The operator commands that may name their room first, in the global moderators' chat.
AIMED = ("pause", "resume", "clear", "digest", "mode", "lottery", "announce")
# The filter's word commands: rules hold in every room, so they name none.
WORD_COMMANDS = ("block", "unblock")
T = TypeVar("T")


@dataclass(frozen=True)
class ChatUser:
    """Who acts. `name` is asked only when needed: on Slack it is a users.info call."""

    ref: Hashable  # the platform's user id, as moderators are listed
    name: Callable[[], Awaitable[str]]
    # Their language tag (Telegram's language_code, Slack's locale), asked only for moderators,
    # like the name; None: the configured language.
    locale: Callable[[], Awaitable[str | None]] | None = None


def named(name: str) -> Callable[[], Awaitable[str]]:
    """A name the update already carries (Telegram's first and last name)."""

    async def known() -> str:
        return name

    return known


def known(locale: str | None) -> Callable[[], Awaitable[str | None]]:
    """A language tag the update already carries (Telegram's language_code)."""

    async def given() -> str | None:
        return locale

    return given


@dataclass(frozen=True)
class ChatMessage:
    """A participant's message, parsed: the text still carries its colour word, if any."""

    text: str
    author: str
    author_ref: str
    sender_key: str  # stable per person, across chats: the rate limit counts it
    reply_to: ReplyTo
    dedupe_key: str | None  # the same delivery twice (webhook retry) is one barrage
    chat: str = ""  # where it was written: a group or channel mapped to a room sends there
    private: bool = False  # a private chat with the bot: the sender's own pick of room
    locale: str | None = None  # the sender's language tag, if the platform said


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
    settings: Settings  # where senders' picks of room are kept
    # Work one node does for all (polling, cards); the default knows this process only.
    leases: Leases = field(default_factory=LocalLeases)
    lottery: Lottery | None = None  # None: /lottery says it is not available here
    language: str = AUTO  # ui.language: "auto" answers each reader in their platform's language


class Actions:
    def __init__(self, core: Core, source: Source, moderators: Moderators, cards: CardSync,
                 rooms: ChatRooms | None = None) -> None:
        self._core = core
        self._source = source
        self._moderators = moderators
        self._cards = cards
        self._rooms = rooms or ChatRooms()
        self._picks = SenderRooms(core.settings)

    def language(self, locale: str | None) -> str:
        """The language to answer someone whose platform says `locale` (None: unknown) in."""
        return from_locale(locale, self._core.language)

    async def _language_of(self, user: ChatUser) -> str:
        return self.language(await user.locale() if user.locale else None)

    async def submit_from_chat(self, message: ChatMessage) -> Reply:
        language = self.language(message.locale)
        try:  # the sender's room is read from the database too: it may be away already
            receipt = await self._core.service.submit(await self._submission(message, language))
        except (InvalidInput, RateLimited, Unavailable, Muted, AlreadySent) as exc:
            return Reply(refusal_text(exc, language), True)
        barrage = receipt.barrage
        # A shadow-muted sender hears what anyone would (no reason); a repeat is not answered
        # again; a first delivery is told its reason ("blocked word").
        told, reason = (receipt.told, None) if receipt.told else (barrage.status, barrage.reason)
        return Reply(receipt_text(told, self._core.screens(barrage.room), reason, language), receipt.created)

    async def _submission(self, message: ChatMessage, language: str) -> Submission:
        color, text = split_color(message.text)
        # The language goes with the reply target: the notice, sent later, is in it too.
        reply_to = replace(message.reply_to, language=language)
        return Submission(
            text=text, author=message.author, color=color, source=self._source,
            author_ref=message.author_ref, reply_to=reply_to.dump(),
            sender_key=message.sender_key, dedupe_key=message.dedupe_key,
            room=await self._room_for(message),
        )

    async def _room_for(self, message: ChatMessage) -> str:
        """A mapped group's room; in a private chat the sender's pick; else main."""
        if room := self._rooms.room_of_chat(message.chat):
            return room
        if message.private:
            return (await self._picked(message.sender_key)).slug
        return MAIN

    async def _picked(self, sender_key: str) -> Room:
        rooms = self._core.service.rooms
        slug = await self._picks.get(sender_key)
        return rooms.get(slug if rooms.exists(slug) else MAIN)  # a room gone since: main

    async def room(self, message: ChatMessage, wanted: str | None, how: str) -> str:
        """/room: say the sender's room and list them all, or switch (in a private chat)."""
        rooms, language = self._core.service.rooms, self.language(message.locale)
        if not message.private:
            return room_here_text(rooms.get(self._rooms.room_of_chat(message.chat)), how, language)
        if wanted is None:
            return room_text(await self._picked(message.sender_key), rooms.all(), how, language)
        slug = wanted.strip().lower()
        if not rooms.exists(slug):
            return unknown_room_text(slug, rooms.all(), language)
        await self._picks.put(message.sender_key, slug)
        return room_switched_text(rooms.get(slug), language)

    async def press(self, user: ChatUser, verdict: Verdict, barrage_id: int) -> Outcome:
        if not await self._moderators.allows(user.ref):
            return self._not_a_moderator()
        language = await self._language_of(user)
        try:
            await self._core.service.decide(barrage_id, verdict, await user.name(), via=self._source)
        except AlreadyDecided as exc:
            self._cards.wake("close")  # make sure this card shows the verdict too
            return Outcome(sentence(why(str(exc), language)), False)
        except NotFound:
            return Outcome(t(language, "barrage_gone"), False)
        except Unavailable as exc:
            return Outcome(sentence(why(str(exc), language)), False)
        return Outcome(t(language, DECIDED[verdict]), True)

    def _not_a_moderator(self) -> Outcome:
        # In the configured language: learning a stranger's (Slack's users.info) costs a call.
        return Outcome(t(self.language(None), "not_a_moderator"), False)

    async def retract(self, user: ChatUser, barrage_id: int) -> Outcome:
        """The card's "Remove from screen": moderators only, checked on every press."""
        if not await self._moderators.allows(user.ref):
            return self._not_a_moderator()
        language = await self._language_of(user)
        try:
            await self._core.service.retract(barrage_id, await user.name())
        except CannotRetract as exc:
            self._cards.wake("close")  # the card shows what it is now
            return Outcome(sentence(why(str(exc), language)), False)
        except NotFound:
            return Outcome(t(language, "barrage_gone"), False)
        except Unavailable as exc:
            return Outcome(sentence(why(str(exc), language)), False)
        return Outcome(t(language, "removed"), True)

    async def mute(self, user: ChatUser, barrage_id: int) -> Outcome:
        """The card's "Mute 1h": moderators only, checked on every press; the id is all the
        button carries, so the sender comes from the stored barrage."""
        if not await self._moderators.allows(user.ref):
            return self._not_a_moderator()
        language = await self._language_of(user)
        try:
            await self._core.service.mute_sender(barrage_id, await user.name(), MUTE_MINUTES,
                                                 via=self._source)
        except AlreadyDecided as exc:
            self._cards.wake("close")
            return Outcome(muted_text(str(exc), language), False)  # worth an alert: it was decided before
        except NotFound:
            return Outcome(t(language, "barrage_gone"), False)
        except (InvalidInput, Unavailable) as exc:
            return Outcome(sentence(why(str(exc), language)), False)
        return Outcome(muted_text(None, language), True)

    async def operator(self, user: ChatUser, room: str = ALL_ROOMS) -> Operator | None:
        """The operator commands for `user`, acting on `room` (the room whose moderators' chat
        they are typed in; ALL_ROOMS in the global one); None when they are not a moderator."""
        if not await self._moderators.allows(user.ref):
            return None
        return Operator(self._core, self._cards, user, room, await self._language_of(user))


class NotAimed(Exception):
    """A room named where this chat may not act on it; the message is the answer."""


class Operator:
    """/mode, /stats, /pending and the live controls, for a moderator already checked, in one
    room's moderators' chat (or the global one: reads cover every room; writes act on main, or
    on the room named first, see `aimed`)."""

    def __init__(self, core: Core, cards: CardSync, user: ChatUser, room: str = ALL_ROOMS,
                 language: str = DEFAULT) -> None:
        self._core = core
        self.language = language  # the moderator's: they typed the command
        self._cards = cards
        self._user = user
        self._scope = room or None  # what reads cover: None, every room
        self.room = room or MAIN  # what commands change

    def aimed(self, text: str) -> tuple[Operator, str]:
        """The operator for the room `text`'s first word names, and the rest of `text`. In the
        global chat it picks that room; a room's own chat acts on its room only (NotAimed for
        another). A first word that names no room stays in the rest (an announcement's text)."""
        first, rest = [*text.split(maxsplit=1), "", ""][:2]
        rooms = self._core.service.rooms
        slug = first.lower()
        if not rooms.exists(slug):
            return self, text.strip()
        if self._scope is not None and slug != self._scope:
            raise NotAimed(wrong_room_text(rooms.get(self._scope), self.language))
        return Operator(self._core, self._cards, self._user, slug, self.language), rest.strip()

    async def command(self, name: str, text: str, how: str = "") -> str:
        """One of AIMED, with the text typed after it: a room first (aimed), then what the
        command takes. `how`: its usage, for words it does not take."""
        if name not in AIMED:
            raise ValueError(name)
        if _takes(name, text.strip()):  # `/lottery 3`, `/mode off`: a value wins over a room so named
            return await self._run(name, text.strip(), how)
        if name == "announce" and self._scope is not None:
            # A room's own chat announces there only: its text is taken whole, so "main stage
            # opens at 3" is an announcement, not a refused room (its own slug first is allowed).
            first, rest = [*text.split(maxsplit=1), "", ""][:2]
            return await self.announce(rest.strip() if first.lower() == self._scope else text.strip())
        try:
            target, rest = self.aimed(text)
        except NotAimed as exc:
            return str(exc)
        if name == "announce":
            return await target.announce(rest)
        words = rest.split()
        if len(words) > 1 or (words and not _takes(name, words[0])):
            rooms = self._core.service.rooms
            own = rooms.get(self._scope) if self._scope is not None else None
            return not_a_room_text(words[0], rooms.all(), own, how, self.language)
        return await target._run(name, words[0] if words else None, how)

    async def _run(self, name: str, word: str | None, how: str) -> str:
        if name == "mode":
            return await self.mode(word, how)
        if name == "lottery":
            return await self.lottery(word, how)
        return await {"pause": self.pause, "resume": self.resume, "clear": self.clear,
                      "digest": self.digest}[name]()

    async def mode(self, wanted: str | None, how: str) -> str:
        """Switch to `wanted`; with none, say the mode and `how` to switch."""
        service = self._core.service
        if wanted is None:
            mode_now = service.rooms.get(self.room).mode.value
            return self._label(mode_text(mode_now, False, how, self.language), self.room)
        try:
            mode = await service.set_mode(wanted.lower(), by=await self._user.name(), room=self.room)
        except InvalidInput as exc:
            return refusal_text(exc, self.language)
        return self._label(mode_text(mode.value, True, "", self.language), self.room)

    async def stats(self) -> str:
        mode = self._core.service.rooms.get(self.room).mode
        stats = await self._core.views.stats(mode, self._core.screens(self._scope), room=self._scope)
        # Every room's screens, in the global chat; a room's own chat is about that room.
        rooms = [room.slug for room in self._core.service.rooms.all()] if self._scope is None else []
        by_room = {room: self._core.screens(room) for room in rooms}
        return self._label(stats_text(stats, by_room, self.language), self._scope)

    def _label(self, text: str, room: str | None) -> str:
        """Which room an answer is about (None: every room), once there is more than one."""
        rooms = self._core.service.rooms
        if len(rooms.all()) < 2:
            return text
        name = room_name(rooms.get(room)) if room else t(self.language, "room.all")
        return t(self.language, "room.label", room=name, text=text)

    async def pending(self, limit: int = REPOST_LIMIT) -> str:
        """Fresh cards for the oldest waiting barrages, posted in the background; one batch at a time."""
        if self._cards.reposting():
            return t(self.language, "pending.still")
        waiting = await self._core.views.barrages(Status.PENDING, 0, limit + 1, room=self._scope)
        if not waiting:
            return t(self.language, "pending.nothing")
        batch = waiting[:limit]
        self._cards.repost(batch)
        more = t(self.language, "pending.more") if len(waiting) > limit else ""
        return t(self.language, "pending.reposting", count=len(batch), more=more)

    # -- live controls: each one event of the room (server/core/rooms.py), named in the answer --

    # "Already": the database's word (set_paused), not this process's copy, which may not
    # have heard of another node's pause yet.
    async def pause(self) -> str:
        rooms = self._core.service.rooms
        return await self._control(lambda by: rooms.set_paused(self.room, True, by),
                                   lambda done: paused_text(done[0], not done[1], self.language))

    async def resume(self) -> str:
        rooms = self._core.service.rooms
        return await self._control(lambda by: rooms.set_paused(self.room, False, by),
                                   lambda done: resumed_text(done[0], not done[1], self.language))

    async def clear(self) -> str:
        rooms = self._core.service.rooms
        return await self._control(lambda by: rooms.clear(self.room, by),
                                   lambda room: cleared_text(room, self.language))

    async def announce(self, text: str | None) -> str:
        """Pin `text` on the room's screens; None (or nothing but spaces) removes the announcement."""
        wanted = text if text and text.strip() else None
        rooms = self._core.service.rooms
        return await self._control(lambda by: rooms.announce(self.room, wanted, by),
                                   lambda room: announced_text(room, self.language))

    async def lottery(self, winners: str | None, how: str) -> str:
        """Draw `winners` (a number, as typed) among the room's senders."""
        if self._core.lottery is None:
            return t(self.language, "lottery.unavailable")
        if winners is None or not winners.isdecimal():
            return t(self.language, "lottery.how_many", how=how)
        try:
            draw = await self._core.lottery.draw(self.room, int(winners), by=await self._user.name())
        except (InvalidInput, PoolTooSmall, Unavailable) as exc:
            return t(self.language, "lottery.no_draw", why=why(str(exc), self.language))
        pairs = [(w.author, str(w.source)) for w in draw.winners]
        return lottery_text(self._core.service.rooms.get(self.room), pairs, draw.pool, self.language)

    async def digest(self) -> str:
        digest = await self._core.views.digest(self.room)
        return digest_text(self._core.service.rooms.get(self.room), digest.to_dict(), self.language)

    # -- the filter's words (server/core/filters.py), for every room --

    async def words(self, name: str, text: str, how: str) -> str:
        """/block <word> or /unblock <word>: the text after the command is the word or phrase."""
        if name not in WORD_COMMANDS:
            raise ValueError(name)
        word = text.strip()
        if not word:
            return t(self.language, "words.which", how=how)
        filters = self._core.service.filters
        try:
            if name == "block":
                rule, created = await filters.block_word(word, await self._user.name())
                return blocked_word_text(rule.pattern, rule.id, created, self.language)
            removed = await filters.unblock_word(word, await self._user.name())
        except (InvalidInput, Unavailable) as exc:
            return t(self.language, "words.refused", why=sentence(why(str(exc), self.language)), how=how)
        return unblocked_word_text(word, [rule.id for rule in removed], self.language)

    async def _control(self, write: Callable[[str], Awaitable[T]], render: Callable[[T], str]) -> str:
        """Run one control as this moderator; a refusal (bad text, the database down) is the answer."""
        try:
            return render(await write(await self._user.name()))
        except (InvalidInput, Unavailable) as exc:
            return t(self.language, "control.refused", why=sentence(why(str(exc), self.language)))


def _takes(command: str, word: str) -> bool:
    """Whether `word` is the one value `command` takes (a mode, a number of winners)."""
    if command == "mode":
        return word.lower() in {mode.value for mode in Mode}
    return command == "lottery" and word.isdecimal()

