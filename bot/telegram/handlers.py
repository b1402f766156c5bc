"""PTB handlers: parse → one core call → render. The channel holds the wiring."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telegram import Message, Update, User
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.messages import (
    BARRAGE_GONE,
    BUTTON_GONE,
    NOT_A_MODERATOR,
    REPLY_UNSUPPORTED,
    mode_text,
    receipt_text,
    refusal_text,
    sentence,
    split_color,
    stats_text,
)
from bot.replyto import ReplyTo
from bot.telegram.render import HELP, REPLY_EMPTY_COMMAND, full_name, parse_callback
from server.core.errors import AlreadyDecided, InvalidInput, NotFound, RateLimited, Unavailable
from server.core.model import Source, Verdict
from server.core.policy import COLOR_PRESETS
from server.core.service import Submission
from server.logs import limit_repeats

if TYPE_CHECKING:
    from bot.telegram.channel import TelegramChannel

logger = limit_repeats(logging.getLogger(__name__))

Context = ContextTypes.DEFAULT_TYPE
NOT_FOR_YOU = "This command is for moderators, in the moderators' chat."


def register(app: Application, channel: TelegramChannel) -> None:
    h = Handlers(channel)
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler(["start", "help"], h.help))
    app.add_handler(CommandHandler(["barrage", "b"], h.barrage_command))
    app.add_handler(CommandHandler("whoami", h.whoami))
    app.add_handler(CommandHandler("mode", h.mode))
    app.add_handler(CommandHandler("stats", h.stats))
    app.add_handler(CommandHandler("pending", h.pending))
    app.add_handler(CallbackQueryHandler(h.press))
    app.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, h.private_text))
    app.add_handler(MessageHandler(private & filters.COMMAND, h.help))
    app.add_handler(MessageHandler(private & ~filters.TEXT & ~filters.StatusUpdate.ALL, h.unsupported))
    app.add_error_handler(h.error)


class Handlers:
    def __init__(self, channel: TelegramChannel) -> None:
        self.channel = channel
        self.service = channel.service

    async def help(self, update: Update, _context: Context) -> None:
        join = f" ({self.channel.join_text})" if self.channel.join_text else ""
        text = HELP.format(join=join, colors=", ".join(COLOR_PRESETS))
        self._reply(update.effective_message, text)

    async def private_text(self, update: Update, _context: Context) -> None:
        await self._submit(update.effective_message, update.effective_message.text or "")

    async def barrage_command(self, update: Update, context: Context) -> None:
        message = update.effective_message
        text = " ".join(context.args or [])
        if not text.strip():
            self._reply(message, REPLY_EMPTY_COMMAND)
            return
        await self._submit(message, text)

    async def unsupported(self, update: Update, _context: Context) -> None:
        self._reply(update.effective_message, REPLY_UNSUPPORTED)

    async def _submit(self, message: Message, text: str) -> None:
        user = message.from_user
        if user is None:
            return  # channel posts and anonymous admins have no sender to answer
        color, body = split_color(text)
        try:
            receipt = await self.service.submit(_submission(message, user, body, color))
        except (InvalidInput, RateLimited, Unavailable) as exc:
            self._reply(message, refusal_text(exc))
            return
        if receipt.created:  # a redelivered update was answered the first time
            self._reply(message, receipt_text(receipt.barrage.status))

    async def press(self, update: Update, _context: Context) -> None:
        query = update.callback_query
        parsed = parse_callback(query.data)
        if parsed is None:
            await query.answer(BUTTON_GONE)
            return
        if not await self.channel.moderators.allows(query.from_user.id):
            await query.answer(NOT_A_MODERATOR, show_alert=True)
            return
        verdict, barrage_id = parsed
        name = full_name(query.from_user.first_name, query.from_user.last_name)
        try:
            await self.service.decide(barrage_id, verdict, name)
        except AlreadyDecided as exc:
            await query.answer(sentence(str(exc)), show_alert=True)
            self.channel.cards.wake("close")  # make sure this card shows the verdict too
            return
        except NotFound:
            await query.answer(BARRAGE_GONE, show_alert=True)
            return
        except Unavailable as exc:
            await query.answer(sentence(str(exc)), show_alert=True)
            return
        await query.answer("✅ Approved" if verdict is Verdict.APPROVE else "❌ Rejected")

    async def whoami(self, update: Update, _context: Context) -> None:
        message, user = update.effective_message, update.effective_user
        user_line = f"\nYour user id: {user.id}" if user else ""
        self._reply(message, f"Chat id: {message.chat_id}{user_line}")

    async def mode(self, update: Update, context: Context) -> None:
        if not await self._operator(update):
            return
        message = update.effective_message
        if not context.args:
            self._reply(message, mode_text(self.service.mode.value, False, "/mode off or /mode manual"))
            return
        name = full_name(update.effective_user.first_name, update.effective_user.last_name)
        try:
            mode = await self.service.set_mode(context.args[0].lower(), by=name)
        except InvalidInput as exc:
            self._reply(message, refusal_text(exc))
            return
        self._reply(message, mode_text(mode.value, True, ""))

    async def stats(self, update: Update, _context: Context) -> None:
        if not await self._operator(update):
            return
        stats = await self.service.stats(self.channel.screens())
        self._reply(update.effective_message, stats_text(stats))

    async def pending(self, update: Update, _context: Context) -> None:
        if await self._operator(update):
            self._reply(update.effective_message, await self.channel.cards.repost_pending())

    async def error(self, update: object, context: Context) -> None:
        # By id and kind only: an Update's repr holds the sender's text and name.
        logger.error("telegram handler failed on %s", describe(update), exc_info=context.error)

    async def _operator(self, update: Update) -> bool:
        message, user = update.effective_message, update.effective_user
        in_chat = message.chat_id == self.channel.config.moderator_chat_id
        if in_chat and user and await self.channel.moderators.allows(user.id):
            return True
        self._reply(message, NOT_FOR_YOU)
        return False

    def _reply(self, message: Message | None, text: str) -> None:
        if message is not None:
            self.channel.reply(message.chat_id, message.message_id, text)


def describe(update: object) -> str:
    """"update 17 (callback_query)": enough to find it, nothing a participant wrote."""
    if not isinstance(update, Update):
        return type(update).__name__
    kinds = [name for name in Update.ALL_TYPES if getattr(update, name, None) is not None]
    return f"update {update.update_id} ({', '.join(kinds) or 'unknown'})"


def _submission(message: Message, user: User, text: str, color: str | None) -> Submission:
    return Submission(
        text=text,
        author=full_name(user.first_name, user.last_name),
        color=color,
        source=Source.TELEGRAM,
        author_ref=str(user.id),
        reply_to=ReplyTo(message.chat_id, message.message_id, user.username).dump(),
        sender_key=f"telegram:{user.id}",
        # The same message delivered twice (webhook retry, polling replay) is one barrage.
        dedupe_key=f"telegram:{message.chat_id}:{message.message_id}",
    )
