"""The few domain errors. Each transport maps them at its edge."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from server.core.model import Barrage, iso


class BarrageError(Exception):
    """Base for errors a participant or moderator should see as a message."""


class InvalidInput(BarrageError):
    """The submission breaks the input policy; nothing was stored."""


class RateLimited(BarrageError):
    """The sender is over their per-minute allowance; `retry_after` seconds until a slot frees."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class SlowMode(RateLimited):
    """Slow mode: the sender's last barrage was less than `moderation.slow_mode_seconds` ago."""

    def __init__(self, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        super().__init__(f"slow mode is on: wait {seconds} s before sending again", retry_after=seconds)


class AlreadySent(BarrageError):
    """The same (normalised) text from the same sender, within `moderation.repeat_seconds`."""


class Muted(BarrageError):
    """The sender is muted; `until` is when it ends (None: until a moderator lifts it)."""

    def __init__(self, until: datetime | None) -> None:
        when = f"until {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if until else "until a moderator lifts it"
        super().__init__(f"you are muted {when}")
        self.until = until

    @property
    def fields(self) -> dict[str, str | None]:
        """What the HTTP edge adds to `{"error"}`."""
        return {"until": iso(self.until) if self.until else None}


class Unavailable(BarrageError):
    """The store cannot take writes right now (disk full, read-only, I/O error, database
    down); nothing was stored. `retry_after`: seconds a client should wait."""

    retry_after = 30

    def __init__(self, message: str = "the wall cannot store messages right now "
                 "(its database is full or unavailable); please try again in a minute") -> None:
        super().__init__(message)


class NotFound(BarrageError):
    """No barrage with that id, or no room with that slug."""


class RoomExists(BarrageError):
    """A room with that slug exists already."""


class AlreadyDecided(BarrageError):
    """Compare-and-set lost: somebody decided first."""

    def __init__(self, status: str, decided_by: str | None, barrage: Barrage | None = None) -> None:
        who = f" by {decided_by}" if decided_by else ""
        super().__init__(f"already {status}{who}")
        self.status = status
        self.decided_by = decided_by
        self.barrage = barrage  # the winner's result, when the store read it


class CannotUndo(BarrageError):
    """The barrage is not decided, was approved at submission, or was decided too long ago."""


class PoolTooSmall(BarrageError):
    """A lottery asked for more winners than there are senders in the draw."""


class CannotRetract(BarrageError):
    """Only an approved barrage can be retracted; `barrage` is the stored one."""

    def __init__(self, barrage: Barrage) -> None:
        who = f" by {barrage.retracted_by}" if barrage.retracted_by else ""
        super().__init__(f"not on the screens: it is {barrage.status.value}{who}")
        self.barrage = barrage
