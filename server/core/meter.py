"""What the core reports as it happens, for metrics: each submission's outcome, each decision.

A port: the core says what happened, an adapter (server/metrics.py, Prometheus) counts it.
The default meter counts nothing, so a wall with metrics off pays nothing for them. What the
core already counts elsewhere (the service's `counters`: rate-limit refusals) is not reported
here again: the adapter reads those numbers where they are.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from server.core.model import Barrage, Receipt, Source, Status, Verdict


class Outcome(StrEnum):
    """What a submission came to."""

    ACCEPTED = "accepted"    # stored as approved or pending
    REJECTED = "rejected"    # stored as rejected at once: a block rule, or a shadow-muted sender
    REFUSED = "refused"      # answered with a 4xx, nothing stored: bad input, muted, slow mode, ...
    DUPLICATE = "duplicate"  # a redelivery of one stored before (webhook retry, Idempotency-Key)


def outcome_of(receipt: Receipt) -> Outcome:
    if not receipt.created:
        return Outcome.DUPLICATE
    return Outcome.REJECTED if receipt.barrage.status is Status.REJECTED else Outcome.ACCEPTED


def decision_seconds(barrage: Barrage) -> float:
    """From submission to decision (0 when the barrage carries no decision time)."""
    if barrage.decided_at is None:
        return 0.0
    return max(0.0, (barrage.decided_at - barrage.created_at).total_seconds())


class Meter(Protocol):
    def submitted(self, source: Source, outcome: Outcome) -> None: ...

    def decided(self, verdict: Verdict, via: Source, seconds: float) -> None:
        """A moderator's decision (never an automatic one), `seconds` after the submission."""


class NoMeter:
    """Counts nothing: metrics are off."""

    def submitted(self, source: Source, outcome: Outcome) -> None:
        pass

    def decided(self, verdict: Verdict, via: Source, seconds: float) -> None:
        pass
