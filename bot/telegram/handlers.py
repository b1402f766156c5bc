"""PTB handlers: parse → one action (bot/actions.py) → render. Their dependencies are handed in."""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import Message, Update, User
from telegram.constants import ChatType
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.actions import AIMED, WORD_COMMANDS, Actions, ChatMessage, ChatUser, Operator, known, named
from bot.messages import t
from bot.replyto import ReplyTo
from bot.rooms import ChatRooms
from bot.telegram.render import (
    full_name,
    help_text,
    parse_callback,
    parse_mute,
    parse_retract,
)
from server.core.policy import COLOR_PRESETS

logger = logging.getLogger(__name__)  # rate-limited by the composition root: strangers reach it

Context = ContextTypes.DEFAULT_TYPE
Reply = Callable[[int, int, str], None]  # (chat id, message id, text): answer that message
HOWS = {"mode": "telegram.mode_how", "lottery": "telegram.lottery_how", "block": "telegram.block_how",
        "unblock": "telegram.block_how"}  # the catalogue's usage line of each command


def register(app: Application, h: Handlers) -> None:
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler(["start", "help"], h.help))
    app.add_handler(CommandHandler(["barrage", "b"], h.barrage_command))
    app.add_handler(CommandHandler("whoami", h.whoami))
    app.add_handler(CommandHandler("stats", h.stats))
    app.add_handler(CommandHandler("pending", h.pending))
    app.add_handler(CommandHandler(list(AIMED), h.control))  # /mode, /pause, /announce …
    app.add_handler(CommandHandler(list(WORD_COMMANDS), h.words))  # /block, /unblock
    app.add_handler(CommandHandler("room", h.room))
    app.add_handler(CallbackQueryHandler(h.press))
    app.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, h.private_text))
    app.add_handler(MessageHandler(private & filters.COMMAND, h.help))
    app.add_handler(MessageHandler(private & ~filters.TEXT & ~filters.StatusUpdate.ALL, h.unsupported))
    app.add_error_handler(h.error)


class Handlers:
    def __init__(self, actions: Actions, reply: Reply, rooms: ChatRooms, join: Callable[[str], str]) -> None:
        self.actions = actions
        self._reply_to = reply
        self.rooms = rooms
        self.join = join  # a language → how to join the wall

    def _language(self, update: Update) -> str:
        """The language of whoever sent `update` (Telegram's language_code), else the config's."""
        user = update.effective_user
        return self.actions.language(user.language_code if user else None)

    async def help(self, update: Update, _context: Context) -> None:
        language = self._language(update)
        text = help_text(self.join(language), ", ".join(COLOR_PRESETS), language)
        self._reply(update.effective_message, text)

    async def private_text(self, update: Update, _context: Context) -> None:
        await self._submit(update.effective_message, update.effective_message.text or "")

    async def barrage_command(self, update: Update, context: Context) -> None:
        text = " ".join(context.args or [])
        if not text.strip():
            self._reply(update.effective_message, t(self._language(update), "telegram.empty_command"))
            return
        await self._submit(update.effective_message, text)

    async def unsupported(self, update: Update, _context: Context) -> None:
        self._reply(update.effective_message, t(self._language(update), "reply.unsupported"))

    async def _submit(self, message: Message, text: str) -> None:
        if message.from_user is None:
            return  # channel posts and anonymous admins have no sender to answer
        reply = await self.actions.submit_from_chat(_chat_message(message, message.from_user, text))
        if reply.send:
            self._reply(message, reply.text)

    async def press(self, update: Update, _context: Context) -> None:
        query = update.callback_query
        parsed, retract, mute = parse_callback(query.data), parse_retract(query.data), parse_mute(query.data)
        if parsed is not None:
            outcome = await self.actions.press(_user(query.from_user), *parsed)
        elif retract is not None:
            outcome = await self.actions.retract(_user(query.from_user), retract)
        elif mute is not None:
            outcome = await self.actions.mute(_user(query.from_user), mute)
        else:
            await query.answer(t(self._language(update), "button_gone"))
            return
        # A refusal or a lost race must be read: an alert, not a passing toast.
        await query.answer(outcome.text, show_alert=None if outcome.decided else True)

    async def room(self, update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None or message.from_user is None:
            return
        wanted = context.args[0] if context.args else None
        parsed = _chat_message(message, message.from_user, "")
        how = t(self._language(update), "telegram.room_how")
        self._reply(message, await self.actions.room(parsed, wanted, how))

    async def whoami(self, update: Update, _context: Context) -> None:
        message, user, language = update.effective_message, update.effective_user, self._language(update)
        if user:
            self._reply(message, t(language, "telegram.whoami_user", chat=message.chat_id, user=user.id))
        else:
            self._reply(message, t(language, "telegram.whoami", chat=message.chat_id))

    async def stats(self, update: Update, _context: Context) -> None:
        if operator := await self._operator(update):
            self._reply(update.effective_message, await operator.stats())

    async def pending(self, update: Update, _context: Context) -> None:
        if operator := await self._operator(update):
            self._reply(update.effective_message, await operator.pending())

    async def error(self, update: object, context: Context) -> None:
        # By id and kind only: an Update's repr holds the sender's text and name.
        logger.error("telegram handler failed on %s", describe(update), exc_info=context.error)

    async def control(self, update: Update, _context: Context) -> None:
        """/pause, /resume, /clear, /digest, /mode, /lottery, /announce: one operator call each,
        with the text as typed after the command (context.args would fold an announcement's spaces)."""
        if operator := await self._operator(update):
            message = update.effective_message
            command = _command(message)
            text = _after_command(message.text or "")
            how = t(operator.language, HOWS[command]) if command in HOWS else ""
            self._reply(message, await operator.command(command, text, how))

    async def words(self, update: Update, _context: Context) -> None:
        """/block <word>, /unblock <word>: the filter's words, the text after the command whole."""
        if operator := await self._operator(update):
            message = update.effective_message
            command = _command(message)
            text = _after_command(message.text or "")
            self._reply(message, await operator.words(command, text, t(operator.language, HOWS[command])))

    async def _operator(self, update: Update) -> Operator | None:
        """Operator commands count in a moderators' chat only: a room's own acts on that room."""
        message, user = update.effective_message, update.effective_user
        room = self.rooms.operator_room(str(message.chat_id))
        operator = await self.actions.operator(_user(user), room) if room is not None and user else None
        if operator is None:
            self._reply(message, t(self._language(update), "telegram.not_for_you"))
        return operator

    def _reply(self, message: Message | None, text: str) -> None:
        if message is not None:
            self._reply_to(message.chat_id, message.message_id, text)


def describe(update: object) -> str:
    """"update 17 (callback_query)": enough to find it, nothing a participant wrote."""
    if not isinstance(update, Update):
        return type(update).__name__
    kinds = [name for name in Update.ALL_TYPES if getattr(update, name, None) is not None]
    return f"update {update.update_id} ({', '.join(kinds) or 'unknown'})"


def _command(message: Message) -> str:
    """"/pause@wall_bot …" → "pause": the command CommandHandler matched."""
    return (message.text or "").split(maxsplit=1)[0][1:].split("@", 1)[0].lower()


def _after_command(text: str) -> str:
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def _user(user: User) -> ChatUser:
    return ChatUser(user.id, named(full_name(user.first_name, user.last_name)), known(user.language_code))


def _chat_message(message: Message, user: User, text: str) -> ChatMessage:
    return ChatMessage(
        text=text,
        author=full_name(user.first_name, user.last_name),
        author_ref=str(user.id),
        reply_to=ReplyTo(message.chat_id, message.message_id, user.username),
        sender_key=f"telegram:{user.id}",
        chat=str(message.chat_id), locale=user.language_code,
        private=message.chat.type == ChatType.PRIVATE,
        # The same message delivered twice (webhook retry, polling replay) is one barrage.
        dedupe_key=f"telegram:{message.chat_id}:{message.message_id}",
    )
