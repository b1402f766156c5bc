"""The Slack channel: a Bolt AsyncApp in our process, over HTTP or Socket Mode.

HTTP mode: `POST /slack/events` on our own aiohttp app, through Bolt's
aiohttp adapter; Bolt checks every signature (bad or stale: 401) and answers
url_verification. Socket Mode: `AsyncSocketModeHandler` connects in the
background and reconnects by itself; `/healthz` says whether it is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions import Actions, Core
from bot.cards import CardSync
from bot.cardstore import Card
from bot.messages import card_language, now, outcome_text, t, winner_text
from bot.outbox import Outbox, retry_rule
from bot.pacing import Pacer
from bot.replyto import ReplyTo
from bot.rooms import ChatRooms, card_room
from bot.slack import handlers
from bot.slack.moderators import slack_moderators
from bot.slack.names import Names
from bot.slack.render import card_blocks, card_fallback, escape, verdict_blocks, verdict_fallback
from bot.slack.settings import SlackConfig
from server.core.model import Barrage, Source
from server.core.policy import is_ascii_number

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# ValueError: not JSON; RecursionError: nested past the parser's depth; LookupError: an
# unknown charset; the rest: JSON of the wrong shape.
MALFORMED = (ValueError, RecursionError, LookupError, AttributeError, TypeError, KeyError, IndexError)


def signed_by_slack(verifier: SignatureVerifier | None, headers: Mapping[str, str], body: bytes) -> bool:
    """Slack's v0 signature over the raw body, within its five-minute window.

    The headers are checked for shape first: slack_sdk's verifier raises on a
    timestamp that is not an integer (or too large for a float) and on a
    non-ASCII signature, and an unauthenticated request must never raise.
    """
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if verifier is None or not is_ascii_number(timestamp, 12) or not signature.isascii():
        return False
    try:
        return verifier.is_valid(body=body.decode("utf-8"), timestamp=timestamp, signature=signature)
    except UnicodeDecodeError:  # Slack signs UTF-8
        return False


def _rate_limited(exc: Exception) -> float | None:
    if isinstance(exc, SlackApiError) and exc.response.status_code == 429:
        return float(exc.response.headers.get("Retry-After", 1))
    return None


retry_after = retry_rule(_rate_limited, (SlackApiError,), (aiohttp.ClientError, TimeoutError, OSError))


class CountedRateLimitRetries(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's retry of a rate-limited (429) call, counting each retry (metrics)."""

    def __init__(self, on_retry: Callable[[], None], max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._on_retry = on_retry

    async def prepare_for_next_attempt_async(self, **kwargs: Any) -> None:
        self._on_retry()
        await super().prepare_for_next_attempt_async(**kwargs)


class SlackChannel:
    platform = "slack"
    source = Source.SLACK

    def __init__(self, config: SlackConfig, core: Core, *, join_text: str,
                 rooms: ChatRooms | None = None, join_url: str = "") -> None:
        self.config = config
        self.core = core
        self.join_text = join_text  # the organiser's own words, as written; else the URL, in the catalogue's
        self.join_url = join_url
        self.rooms = rooms or ChatRooms(default_moderator_chat=config.moderation_channel)
        self.posts_cards = self.rooms.posts_cards()
        self.card_language = card_language(core.language)
        self.pacer = Pacer(1.0)  # about one message a second per channel, as Slack asks
        self.outbox = Outbox("slack", retry_after)
        self._limited_retries = 0  # calls slack_sdk made again after a 429 (metrics: `retries`)
        # Cards on one node (the lease); Socket Mode connections on every node: Slack
        # hands each envelope to one of them, and a retry landing elsewhere is still one
        # barrage (the dedupe key is unique in the database).
        self.cards = CardSync(core.cards, self, config.card_sweep_seconds,
                              lease=core.leases(f"cards:{self.platform}"))
        self.client: AsyncWebClient | None = None
        self.app: AsyncApp | None = None
        self.socket: AsyncSocketModeHandler | None = None
        self._connector: asyncio.Task[None] | None = None
        secret = config.signing_secret.reveal()
        self._verifier = SignatureVerifier(secret) if secret else None

    @property
    def retries(self) -> int:
        """Web API calls made again: after a 429, or by the outbox after a failure."""
        return self._limited_retries + self.outbox.retries

    def _retried(self) -> None:
        self._limited_retries += 1

    async def start(self) -> None:
        base_url = self.config.api_base_url.rstrip("/") + "/"
        self.client = AsyncWebClient(token=self.config.bot_token.reveal(), base_url=base_url)
        self.client.retry_handlers.append(CountedRateLimitRetries(self._retried, max_retry_count=2))
        self.app = AsyncApp(
            client=self.client,
            signing_secret=self.config.signing_secret.reveal() or None,
            request_verification_enabled=self.config.mode == "http",
            # Without a logger Bolt copies the root logger's level onto its own at
            # creation, so the entry point could not keep its payload dumps at bay
            # (server/logs.py QUIET); with one, Bolt's loggers inherit "slack_bolt"'s.
            logger=logging.getLogger("slack_bolt.AsyncApp"),
        )
        self.moderators = slack_moderators(self.client, self.config)
        self.names = Names(self.client)
        actions = Actions(self.core, self.source, self.moderators, self.cards, self.rooms)
        handlers.register(self.app, handlers.Handlers(actions, self.names, self.post, self.ephemeral,
                                                      self.join, self.rooms))
        self.outbox.start()
        self.cards.start()
        if self.config.mode == "socket":
            self.socket = AsyncSocketModeHandler(self.app, self.config.app_token.reveal(),
                                                 ping_interval=self.config.socket_ping_seconds)
            # connect() retries until it gets through: in the background, never blocking start-up
            self._connector = asyncio.create_task(self.socket.connect_async(), name="slack-socket")

    def join(self, language: str) -> str:
        """How to join the wall, for the help: the configured text, else the join URL in `language`."""
        return self.join_text or (t(language, "join", url=self.join_url) if self.join_url else "")

    async def stop(self) -> None:
        if self._connector:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self.socket:
            await self.socket.close_async()
        await self.cards.close()
        await self.outbox.close()

    async def events(self, request: web.Request) -> web.Response:
        """POST /slack/events: slash commands, interactivity and events, one URL.

        The signature is checked here first, on the raw bytes, so a stranger costs
        one HMAC and gets a 401 whatever the body holds. Bolt parses the body while
        it builds its request, before its own (second) check: a signed body that is
        not a JSON object (null, a number, an array, `payload=null`) is a 400 here.
        """
        assert self.app is not None
        if not signed_by_slack(self._verifier, request.headers, await request.read()):
            raise web.HTTPUnauthorized(reason="invalid or stale Slack signature")
        try:
            bolt_request = await to_bolt_request(request)
            if not isinstance(bolt_request.body, dict):
                raise TypeError("not a JSON object")
            # Bolt runs our listeners under its own catch-all (handlers.error); what escapes
            # dispatch is Bolt reading a signed payload of the wrong shape ("actions": 5).
            response = await self.app.async_dispatch(bolt_request)
        except MALFORMED:  # the HTTP edge logs the 400 (one line)
            raise web.HTTPBadRequest(reason="not a Slack payload") from None
        return await to_aiohttp_response(response)

    async def socket_connected(self) -> bool:
        return self.socket is not None and await self.socket.client.is_connected()

    # -- replies, through the bounded outbox and the per-channel pacer --

    def post(self, channel: str, text: str) -> None:
        self.outbox.send(f"message to {channel}", lambda: self._call(
            channel, "chat_postMessage", channel=channel, text=text))

    def ephemeral(self, channel: str, user: str, text: str) -> None:
        self.outbox.send(f"ephemeral to {user}", lambda: self._call(
            channel, "chat_postEphemeral", channel=channel, user=user, text=text))

    async def _call(self, pace_key: str, method: str, **kwargs: object) -> dict:
        assert self.client is not None
        await self.pacer.wait(pace_key)
        return (await getattr(self.client, method)(**kwargs)).data  # type: ignore[return-value]

    # -- CardPlatform: the database drives these (bot/cards.py) --

    async def post_card(self, barrage: Barrage, waiting_behind: int) -> tuple[str, str] | None:
        if not (channel := self.rooms.moderator_chat(barrage.room)):
            return None  # neither the room nor the wall has a moderation channel
        room = card_room(self.core.service.rooms, barrage)
        try:
            reply = await self._call(channel, "chat_postMessage", channel=channel,
                                     text=card_fallback(barrage, room, self.card_language),
                                     blocks=card_blocks(barrage, now(), waiting_behind, room,
                                                        self.card_language))
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                raise  # still limited after the retry handler: the pass retries later
            logger.error("cannot post cards to %s: %s", channel, exc.response.get("error"))
            return None
        return str(reply["channel"]), str(reply["ts"])

    async def close_card(self, card: Card, barrage: Barrage) -> None:
        room = card_room(self.core.service.rooms, barrage)
        language = self.card_language
        await self._update_card(card, verdict_fallback(barrage, language),
                                verdict_blocks(barrage, now(), room, language))

    async def reopen_card(self, card: Card, barrage: Barrage) -> None:
        room, language = card_room(self.core.service.rooms, barrage), self.card_language
        await self._update_card(card, card_fallback(barrage, room, language),
                                card_blocks(barrage, now(), 0, room, language))

    async def _update_card(self, card: Card, text: str, blocks: list[dict]) -> None:
        if not card.message_id:
            return
        try:
            await self._call(card.chat_id, "chat_update", channel=card.chat_id, ts=card.message_id,
                             text=text, blocks=blocks)
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                raise
            logger.warning("card %s not updated: %s", card.id, exc.response.get("error"))

    async def notify_winner(self, barrage: Barrage) -> None:
        reply = ReplyTo.load(barrage.reply_to)
        if reply is None or reply.user is None:
            return
        rooms = self.core.service.rooms
        title = rooms.get(barrage.room).title if rooms.exists(barrage.room) else barrage.room
        try:  # a DM, like the decision notices: the channel they wrote in need not hear it
            await self._call(reply.user, "chat_postMessage", channel=reply.user,
                             text=escape(winner_text(title, self._language(reply))))
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                raise
            logger.info("winner (barrage %s) not told: %s", barrage.id, exc.response.get("error"))

    async def notify_sender(self, barrage: Barrage) -> None:
        reply = ReplyTo.load(barrage.reply_to)
        if reply is None or reply.user is None:
            return
        try:  # a DM from the app: works wherever the message came from
            await self._call(reply.user, "chat_postMessage", channel=reply.user,
                             text=outcome_text(barrage, self._language(reply)))
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                raise
            logger.info("sender of barrage %s not told: %s", barrage.id, exc.response.get("error"))

    def _language(self, reply: ReplyTo) -> str:
        """The sender's language, as they were answered (a row from before it was kept: the config's)."""
        return reply.language or self.card_language
