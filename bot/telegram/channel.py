"""The Telegram channel: builds the PTB Application inside our loop and runs it.

Never `run_polling`/`run_webhook` (they own the loop): `start()` and `stop()`
drive initialize/start and stop/shutdown from an aiohttp cleanup context.
Connecting happens in the background with backoff, so a Telegram outage never
delays the web channel or the screen. Polling runs on the one node holding the
bot's lease (bot/telegram/poller.py); a webhook update may reach any node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, Application
from telegram.request import HTTPXRequest, RequestData

from bot.actions import Actions, Core
from bot.cards import CardSync
from bot.cardstore import Card
from bot.lease import secret_key, while_held
from bot.messages import card_language, now, outcome_text, t, winner_text
from bot.moderators import Moderators
from bot.outbox import Outbox, retry_rule
from bot.replyto import ReplyTo
from bot.rooms import ChatRooms, card_room
from bot.telegram import handlers
from bot.telegram.moderators import telegram_moderators
from bot.telegram.poller import ALLOWED_UPDATES, Handoff, Poller
from bot.telegram.render import (
    callback_data,
    card_text,
    mute_data,
    retract_data,
    verdict_text,
)
from bot.telegram.settings import TelegramConfig
from server.core.i18n import DEFAULT
from server.core.model import Barrage, Source, Status, Verdict

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
NOT_MODIFIED = "message is not modified"


def _rate_limited(exc: Exception) -> float | None:
    return exc.retry_after.total_seconds() if isinstance(exc, RetryAfter) else None  # type: ignore[union-attr]


# BadRequest is a NetworkError in PTB: it is listed as a refusal first.
retry_after = retry_rule(_rate_limited, (BadRequest, Forbidden, InvalidToken), (NetworkError,))


class WatchedRequest(HTTPXRequest):
    """PTB's own HTTP transport, reporting whether each Bot API call reached a working Telegram.

    PTB says nothing when polling fails and later recovers (it logs and retries),
    so the health flag is fed from here: a network error, a timeout or a 5xx is
    "not connected"; any other answer (a 400 or 429 too) is Telegram working.
    401 and 404 are what PTB reads as a rejected token.
    """

    def __init__(self, report: Callable[[bool], None], connection_pool_size: int) -> None:
        super().__init__(connection_pool_size=connection_pool_size)
        self._report = report

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        try:
            status, body = await super().do_request(url, method, request_data, *args, **kwargs)
        except TelegramError:
            self._report(False)
            raise
        self._report(status < 500 and status not in (401, 404))
        return status, body


class CountedRateLimiter(AIORateLimiter):
    """PTB's rate limiter, counting each call it makes again after a RetryAfter (metrics)."""

    def __init__(self, on_retry: Callable[[], None], max_retries: int) -> None:
        super().__init__(max_retries=max_retries)
        self._on_retry = on_retry

    async def process_request(self, callback: Callable[..., Any], args: Any, kwargs: dict[str, Any],
                              endpoint: str, data: dict[str, Any], rate_limit_args: int | None) -> Any:
        calls = 0

        async def counted(*a: Any, **kw: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls > 1:  # the limiter calls again only after a RetryAfter
                self._on_retry()
            return await callback(*a, **kw)

        return await super().process_request(counted, args, kwargs, endpoint, data, rate_limit_args)


class TelegramChannel:
    platform = "telegram"
    source = Source.TELEGRAM

    def __init__(self, config: TelegramConfig, core: Core, *, join_text: str, public_url: str,
                 rooms: ChatRooms | None = None, join_url: str = "") -> None:
        self.config = config
        self.core = core
        self.join_text = join_text  # the organiser's own words, as written; else the URL, in the catalogue's
        self.join_url = join_url
        self.public_url = public_url.rstrip("/")
        self.rooms = rooms or ChatRooms(default_moderator_chat=str(config.moderator_chat_id or ""))
        self.posts_cards = self.rooms.posts_cards()
        self.card_language = card_language(core.language)
        self.ready = asyncio.Event()
        self._reachable: bool | None = None  # unknown until the first Bot API call answers
        self.outbox = Outbox("telegram", retry_after)
        self._limited_retries = 0  # calls PTB's rate limiter made again (metrics: `retries`)
        self.cards = CardSync(core.cards, self, config.card_sweep_seconds,
                              lease=core.leases(f"cards:{self.platform}"))
        self.app: Application | None = None
        self.moderators: Moderators | None = None
        self.poller: Poller | None = None
        self._connector: asyncio.Task[None] | None = None
        self._polling: asyncio.Task[None] | None = None
        self._initialized = False

    async def start(self) -> None:
        # Opt in to PTB's timedelta periods now, rather than its deprecation warning later.
        os.environ.setdefault("PTB_TIMEDELTA", "1")
        builder = (
            Application.builder()
            .token(self.config.token.reveal())
            .base_url(self.config.api_base_url)
            .rate_limiter(CountedRateLimiter(self._retried, max_retries=3))
            # PTB's default pool sizes: 256 for calls, 1 for getUpdates.
            .request(WatchedRequest(self._reached, connection_pool_size=256))
            .get_updates_request(WatchedRequest(self._reached, connection_pool_size=1))
            .updater(None)  # our own Poller, under the lease
        )
        self.app = builder.build()
        self.moderators = telegram_moderators(self.app.bot, self.config)
        actions = Actions(self.core, self.source, self.moderators, self.cards, self.rooms)
        handlers.register(self.app, handlers.Handlers(actions, self.reply, self.rooms, self.join))
        self.outbox.start()
        self._connector = asyncio.create_task(self._connect(), name="telegram-connect")

    def join(self, language: str) -> str:
        """How to join the wall, for /help: the configured text, else the join URL in `language`."""
        return self.join_text or (t(language, "join", url=self.join_url) if self.join_url else "")

    @property
    def retries(self) -> int:
        """Bot API calls made again: after a RetryAfter (429), or by the outbox after a failure."""
        return self._limited_retries + self.outbox.retries

    def _retried(self) -> None:
        self._limited_retries += 1

    def connected(self) -> bool:
        """For /healthz: up, and the latest Bot API call got an answer from a working Telegram."""
        return self.ready.is_set() and bool(self._reachable)

    def _reached(self, ok: bool) -> None:
        if ok is False and self._reachable is not False:
            logger.warning("Telegram Bot API not reachable")
        elif ok and self._reachable is False:
            logger.info("Telegram Bot API reachable again")
        self._reachable = ok

    async def stop(self) -> None:
        for task in (self._connector, self._polling):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.cards.close()
        await self.outbox.close()
        await self._stop_app()

    async def _stop_app(self) -> None:
        app = self.app
        if app is None or not self._initialized:
            return
        with contextlib.suppress(TelegramError, RuntimeError):
            if app.running:
                await app.stop()
        await app.shutdown()

    async def _connect(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._bring_up()
                return
            except InvalidToken:
                logger.error("Telegram rejected the bot token; the Telegram channel stays off")
                return
            except TelegramError as exc:
                logger.warning("Telegram not reachable (%s); retrying in %.0f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)

    async def _bring_up(self) -> None:
        assert self.app is not None
        if not self._initialized:
            await self.app.initialize()  # getMe
            self._initialized = True
        if self.config.mode == "webhook":
            await self._set_webhook()
        else:  # getUpdates answers 409 while a webhook is set; every node may ask, it is idempotent
            await self.app.bot.delete_webhook()
        if not self.app.running:
            await self.app.start()
        if self.config.mode == "polling" and self._polling is None:
            self._start_polling()
        self.cards.start()
        self.ready.set()
        logger.info("Telegram connected as @%s (%s mode)", self.app.bot.username, self.config.mode)

    def _start_polling(self) -> None:
        assert self.app is not None
        lease = self.core.leases(secret_key("telegram-poll", self.config.token.reveal()))
        handoff = Handoff(self.app, self.config.max_updates_in_flight)
        self.poller = Poller(self.app.bot, lease, handoff.put, self.config.poll_timeout_seconds)
        self._polling = asyncio.create_task(while_held(lease, self.poller.run), name="telegram-polling")

    async def _set_webhook(self) -> None:
        assert self.app is not None and self.public_url  # the config requires it in webhook mode
        await self.app.bot.set_webhook(
            f"{self.public_url}{WEBHOOK_PATH}", allowed_updates=ALLOWED_UPDATES,
            secret_token=self.config.webhook_secret.reveal(),
        )

    async def webhook(self, request: web.Request) -> web.Response:
        """POST /telegram/webhook: secret checked in constant time before anything is read."""
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        if given is None:
            raise web.HTTPUnauthorized(reason="missing secret token")
        if not self.config.webhook_secret.matches(given):
            raise web.HTTPForbidden(reason="wrong secret token")
        if not self.ready.is_set() or self.app is None:
            raise web.HTTPServiceUnavailable(reason="telegram channel is starting")
        try:
            data = await request.json()
            update = Update.de_json(data, self.app.bot) if isinstance(data, dict) else None
        except Exception:
            update = None
        if update is None:
            raise web.HTTPBadRequest(reason="not a Telegram update")
        await self.app.process_update(update)
        return web.json_response({"ok": True})

    # -- CardPlatform: the database drives these (bot/cards.py) --

    async def post_card(self, barrage: Barrage, waiting_behind: int) -> tuple[str, str] | None:
        assert self.app is not None
        if not (chat := self.rooms.moderator_chat(barrage.room)):
            return None  # neither the room nor the wall has a moderators' chat
        text = card_text(barrage, now(), waiting_behind, self._room_name(barrage), self.card_language)
        try:
            message = await self.app.bot.send_message(
                int(chat), text, reply_markup=keyboard(barrage.id, self.card_language))
        except (BadRequest, Forbidden) as exc:
            logger.error("cannot post cards to chat %s: %s", chat, exc)
            return None
        return str(message.chat_id), str(message.message_id)

    async def close_card(self, card: Card, barrage: Barrage) -> None:
        # No reply_markup: editing the text this way also removes the buttons; an approved
        # card keeps one, to take it off the screens again.
        language = self.card_language
        buttons = remove_keyboard(barrage.id, language) if barrage.status is Status.APPROVED else None
        text = verdict_text(barrage, now(), self._room_name(barrage), language)
        await self._edit_card(card, barrage, text, buttons)

    async def reopen_card(self, card: Card, barrage: Barrage) -> None:
        text = card_text(barrage, now(), room=self._room_name(barrage), language=self.card_language)
        await self._edit_card(card, barrage, text, keyboard(barrage.id, self.card_language))

    def _room_name(self, barrage: Barrage) -> str | None:
        return card_room(self.core.service.rooms, barrage)

    async def _edit_card(self, card: Card, barrage: Barrage, text: str,
                         buttons: InlineKeyboardMarkup | None) -> None:
        assert self.app is not None
        if not card.message_id:
            return
        try:
            await self.app.bot.edit_message_text(
                text, chat_id=int(card.chat_id), message_id=int(card.message_id), reply_markup=buttons
            )
        except BadRequest as exc:
            if NOT_MODIFIED not in str(exc).lower():
                logger.warning("card %s for barrage %s not edited: %s", card.id, barrage.id, exc)
        except Forbidden as exc:
            logger.warning("card %s for barrage %s not edited: %s", card.id, barrage.id, exc)

    async def notify_sender(self, barrage: Barrage) -> None:
        assert self.app is not None
        reply = ReplyTo.load(barrage.reply_to)
        if reply is None or reply.message is None:
            return
        try:
            await self.app.bot.send_message(
                reply.chat, outcome_text(barrage, self._language(reply)),
                reply_parameters=ReplyParameters(reply.message, allow_sending_without_reply=True),
            )
        except (BadRequest, Forbidden) as exc:
            logger.info("sender of barrage %s not told: %s", barrage.id, exc)

    async def notify_winner(self, barrage: Barrage) -> None:
        """In the chat they sent from, as an answer to their message (a group sees who won)."""
        assert self.app is not None
        reply = ReplyTo.load(barrage.reply_to)
        if reply is None:
            return
        params = ReplyParameters(reply.message, allow_sending_without_reply=True) if reply.message else None
        try:
            text = winner_text(self._room_title(barrage), self._language(reply))
            await self.app.bot.send_message(reply.chat, text, reply_parameters=params)
        except (BadRequest, Forbidden) as exc:
            logger.info("winner (barrage %s) not told: %s", barrage.id, exc)

    def _language(self, reply: ReplyTo) -> str:
        """The sender's language, as they were answered (a row from before it was kept: the config's)."""
        return reply.language or self.card_language

    def _room_title(self, barrage: Barrage) -> str:
        rooms = self.core.service.rooms
        return rooms.get(barrage.room).title if rooms.exists(barrage.room) else barrage.room

    def reply(self, chat_id: int, message_id: int, text: str) -> None:
        """Answer a participant through the bounded outbox: never blocks the handler."""
        assert self.app is not None
        bot = self.app.bot
        params = ReplyParameters(message_id, allow_sending_without_reply=True)
        self.outbox.send(f"reply to {chat_id}",
                         lambda: bot.send_message(chat_id, text, reply_parameters=params))


# Labels follow the card's language; the data never does: a press is known by its data alone.
def remove_keyboard(barrage_id: int, language: str = DEFAULT) -> InlineKeyboardMarkup:
    remove = InlineKeyboardButton(t(language, "button.remove"), callback_data=retract_data(barrage_id))
    return InlineKeyboardMarkup([[remove]])


def keyboard(barrage_id: int, language: str = DEFAULT) -> InlineKeyboardMarkup:
    approve = callback_data(Verdict.APPROVE, barrage_id)
    reject = callback_data(Verdict.REJECT, barrage_id)
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(t(language, "telegram.approve"), callback_data=approve),
        InlineKeyboardButton(t(language, "telegram.reject"), callback_data=reject),
    ], [InlineKeyboardButton(t(language, "button.mute"), callback_data=mute_data(barrage_id))]])

