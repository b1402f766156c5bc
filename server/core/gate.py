"""The gate: per-sender refusals before a barrage is screened and stored, and what a stored
one counts toward afterwards (slow mode, "already sent", mutes, autoban).

The seam every submission passes (BarrageService.submit): `check(draft)` raises a refusal
(403 muted, 409 already sent, 429 slow mode) before anything is stored; `passed(barrage)`
runs once the barrage is stored (the slow-mode clock, the repeat window, the autoban count).
This first version refuses nothing; the full one comes with issue 12.
"""

from __future__ import annotations

from server.core.model import Barrage, Draft


class Gate:
    async def check(self, draft: Draft) -> None:
        """Refuse `draft` (an error from server/core/errors.py), or return."""

    async def passed(self, barrage: Barrage) -> None:
        """`barrage` was stored (not a redelivery)."""

    def on_event(self, _event: object) -> None:
        """Bus handler: the mutes changed on some process (a `mutes` event)."""
