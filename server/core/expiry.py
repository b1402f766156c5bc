"""Expiry: a pending barrage that waited `moderation.pending_ttl_seconds`, or that its room's
newer ones pushed past `moderation.max_pending` (the oldest first), becomes `expired`.

Every process runs this loop, with no lease: a pass is one compare-and-set in the store
(`UPDATE … WHERE status = 'pending'`, see SqlStore.expire), so each barrage expires once,
with one `expired` event, however many processes run it, and a decision that commits first
wins. A lease would add a holder to fail over (seconds with nobody expiring) and would tie
expiry to the chat channels, whose leases exist only when one is enabled. The price is a
small read a second per process while nothing is due; PostgreSQL passes that meet one
already running step aside (an advisory try-lock) instead of queueing behind it.

The first pass runs at start: what became due while no process ran expires at once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from server.core.errors import Unavailable
from server.core.ports import Store
from server.core.service import utcnow

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0  # expired within about this long of the deadline (the issue allows 5 s)
BATCH = 500  # barrages per transaction: a backlog after a long stop goes in slices


class Expiry:
    def __init__(self, store: Store, ttl_seconds: float, max_pending: int,
                 tick_seconds: float = TICK_SECONDS, batch: int = BATCH) -> None:
        self._store = store
        self._ttl = ttl_seconds  # 0: never by age, only by the cap
        self._max_pending = max_pending
        self._tick = tick_seconds
        self._batch = batch

    async def run_once(self) -> int:
        """Expire everything due now; how many this process expired."""
        now = utcnow()
        deadline = now - timedelta(seconds=self._ttl) if self._ttl > 0 else None
        total = 0
        while await self._store.expiry_due(deadline, self._max_pending):
            found = await self._store.expire(deadline, self._max_pending, now, self._batch)
            total += len(found)
            if len(found) < self._batch:  # done, or another process's pass is doing the rest
                break
        return total

    async def run(self) -> None:
        """Forever, one pass a tick. A failed pass (the database away) is logged, and the next
        tick tries again; a cancellation goes through."""
        while True:
            try:
                if expired := await self.run_once():
                    logger.info("expired %d pending barrage(s)", expired)
            except asyncio.CancelledError:
                raise
            except Unavailable:  # expected while the database is away: no traceback to read
                logger.warning("expiring pending barrages: the database is unavailable; trying again "
                               "in %.0f s", self._tick)
            except Exception:
                logger.exception("expiring pending barrages failed; trying again in %.0f s", self._tick)
            await asyncio.sleep(self._tick)
