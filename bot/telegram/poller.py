"""Long polling for Telegram updates, on one node at a time.

Telegram allows one getUpdates poller per bot: a second one makes the first
fail with 409 Conflict. So the poller runs only while its node holds the bot's
lease (bot/lease.py, keyed by a hash of the token), checks it still does before
every getUpdates, and steps down on a 409, which means a poller outside the
lease (another deployment, a developer's laptop) is alive. python-telegram-bot's
Updater is not used: it can neither check a lease before each call nor step down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from telegram import Bot, Update
from telegram.error import Conflict, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application

from bot.lease import Lease

logger = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]
MAX_BACKOFF_SECONDS = 30.0
CONFIRM_TIMEOUT_SECONDS = 5.0


class Poller:
    def __init__(self, bot: Bot, lease: Lease, deliver: Callable[[Update], Awaitable[None]],
                 timeout_seconds: float) -> None:
        self._bot = bot
        self._lease = lease
        self._deliver = deliver  # a Handoff's put: waits while the handlers are full
        self._timeout = int(timeout_seconds)
        self.conflict_wait = 10.0  # after a 409: long enough for the other poller to settle in
        self._offset: int | None = None

    async def run(self) -> float | None:
        """Poll while the lease is ours; return (step down) on a 409 or a lost lease.
        After a 409, how long this node waits before it tries to take the lease again."""
        self._offset = None  # Telegram remembers what was confirmed, whichever node did
        try:
            conflict = await self._poll()
        except BaseException:  # a failure, or a cancellation (shutdown, the lease lost)
            await self._confirm_after_failure()
            raise
        await self._confirm()
        if not conflict:
            return None
        logger.warning("another Telegram poller is alive (409 Conflict): stepping down for %.0f s",
                       self.conflict_wait)
        return self.conflict_wait

    async def _poll(self) -> bool:
        """Until a 409 (True) or the lease is lost (False)."""
        backoff = 1.0
        while await self._lease.held():
            try:
                updates = await self._bot.get_updates(
                    offset=self._offset, timeout=self._timeout, allowed_updates=ALLOWED_UPDATES)
            except Conflict:
                return True
            except TimedOut:
                continue  # a long poll the network cut short: ask again at once
            except TelegramError as exc:
                wait = exc.retry_after.total_seconds() if isinstance(exc, RetryAfter) else backoff
                logger.warning("getUpdates failed (%s); retrying in %.0f s", type(exc).__name__, wait)
                await asyncio.sleep(wait)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            backoff = 1.0
            for update in updates:
                await self._deliver(update)
            if updates:
                self._offset = updates[-1].update_id + 1  # confirmed by the next call
        logger.warning("Telegram polling lease lost: this node stops polling")
        return False

    async def _confirm_after_failure(self) -> None:
        """Confirm, but never instead of what stopped polling: the lease check may fail for the
        same reason (a database going away), and that second error would hide the first."""
        try:
            await self._confirm()
        except Exception as exc:
            logger.warning("confirming the last updates failed too (%s): the next poller gets them again",
                           type(exc).__name__)

    async def _confirm(self) -> None:
        """Mark what this node took as read, so the next poller does not get it again.
        Only while the lease is still ours: otherwise this call would overlap the next poller's."""
        try:
            async with asyncio.timeout(CONFIRM_TIMEOUT_SECONDS):
                if self._offset is not None and await self._lease.held():
                    await self._bot.get_updates(offset=self._offset, timeout=0,
                                                allowed_updates=ALLOWED_UPDATES)
        except (TelegramError, TimeoutError, OSError) as exc:
            logger.info("last updates not confirmed (%s): the next poller gets them again, "
                        "and a repeated message is still one barrage", type(exc).__name__)



class Handoff:
    """Polled updates to the handlers, at most `limit` of them unfinished at a time.

    Not PTB's update_queue: it is unbounded, and its fetcher moves each update at once
    into a task of its own that waits for a handler slot, so slow handlers would let
    updates pile up without limit. Here `put` waits for a slot instead: the poller,
    waiting with it, fetches nothing more, and Telegram keeps the rest (for 24 hours).
    Each update is processed as a webhook's is, in a task that PTB's stop() awaits.
    """

    def __init__(self, app: Application, limit: int) -> None:
        self._app = app
        self._slots = asyncio.Semaphore(limit)

    async def put(self, update: Update) -> None:
        await self._slots.acquire()
        task = self._app.create_task(self._app.process_update(update), update=update, name="telegram-update")
        task.add_done_callback(lambda _: self._slots.release())
