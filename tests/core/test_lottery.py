"""The draw itself: distinct tickets, no ticket favoured (a chi-square test over 2,000 draws
that a biased draw fails), and the input rules."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from server.core import lottery
from server.core.errors import InvalidInput, PoolTooSmall
from server.core.lottery import Lottery, check_winners, parse_since, pick
from server.core.model import MAIN, Draft, Size, Source, Status
from server.core.rooms import Rooms
from server.store import SqlStore

SENDERS = [f"telegram:{n}" for n in range(10)]
DRAWS = 2000
# Far below any fair draw's chance of failing (one run in a million), far above a biased one's.
SIGNIFICANCE = 1e-6
NOW = datetime(2026, 12, 31, 20, 0, tzinfo=UTC)


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X >= statistic) for X chi-square with `dof` degrees of freedom: 1 - P(dof/2, statistic/2),
    the regularized lower incomplete gamma function by its power series."""
    a, x = dof / 2, statistic / 2
    term = total = 1 / a
    n = 0
    while term > total * 1e-17:
        n += 1
        term *= x / (a + n)
        total += term
    return max(0.0, 1 - math.exp(a * math.log(x) - x - math.lgamma(a)) * total)


def chi2_statistic(counts: Counter[str], categories: list[str], expected: float) -> float:
    return sum((counts[c] - expected) ** 2 / expected for c in categories)


def test_the_chi_square_helper_matches_the_tables() -> None:
    assert chi2_sf(16.919, 9) == pytest.approx(0.05, abs=1e-4)
    assert chi2_sf(27.877, 9) == pytest.approx(0.001, abs=1e-5)
    assert chi2_sf(3.841, 1) == pytest.approx(0.05, abs=1e-4)


def test_no_sender_is_favoured_over_2000_draws() -> None:
    wins = Counter(winner for _ in range(DRAWS) for winner in pick(SENDERS, 1))
    statistic = chi2_statistic(wins, SENDERS, DRAWS / len(SENDERS))
    assert chi2_sf(statistic, len(SENDERS) - 1) > SIGNIFICANCE, wins


def test_a_biased_draw_fails_the_same_test() -> None:
    # What the test must catch: one sender with a double chance (a duplicated ticket).
    weights = [2] + [1] * (len(SENDERS) - 1)
    biased = Counter(random.Random(11).choices(SENDERS, weights, k=DRAWS))
    statistic = chi2_statistic(biased, SENDERS, DRAWS / len(SENDERS))
    assert chi2_sf(statistic, len(SENDERS) - 1) < SIGNIFICANCE, biased


def test_several_winners_are_distinct_and_spread_evenly() -> None:
    wins: Counter[str] = Counter()
    for _ in range(DRAWS):
        chosen = pick(SENDERS, 3)
        assert len(set(chosen)) == 3
        wins.update(chosen)
    # Without replacement the counts vary less than multinomial ones: the test only gets stricter.
    statistic = chi2_statistic(wins, SENDERS, DRAWS * 3 / len(SENDERS))
    assert chi2_sf(statistic, len(SENDERS) - 1) > SIGNIFICANCE, wins


def test_the_draw_uses_the_system_csprng() -> None:
    assert isinstance(lottery._RANDOM, random.SystemRandom)


def test_since_needs_an_offset() -> None:
    moment = parse_since("2025-01-31T18:00:00+08:00")
    assert moment is not None and moment.utcoffset() == timedelta(hours=8)
    assert parse_since("2025-01-31T10:00:00Z") == moment
    assert parse_since(None) is None
    for bad in ("2025-01-31T18:00:00", "2025-01-31", "soon", 5, ""):
        with pytest.raises(InvalidInput):
            parse_since(bad)


@pytest.mark.parametrize("value", [0, -3, 1.0, "1", True, None, lottery.MAX_WINNERS + 1])
def test_winners_must_be_a_small_positive_whole_number(value: object) -> None:
    with pytest.raises(InvalidInput):
        check_winners(value)


class RetractsAfterThePool:
    """The real store, but a moderator retracts `victim`'s barrage just after the pool is read
    (the race of a draw and a retract on another node, made certain)."""

    def __init__(self, store: SqlStore, victim: int) -> None:
        self._store, self._victim = store, victim

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def lottery_pool(self, room: str, since: datetime | None) -> list[str]:
        pool = await self._store.lottery_pool(room, since)
        await self._store.retract(self._victim, "Mo", datetime.now(UTC))
        return pool


async def test_a_ticket_gone_between_the_pool_and_the_draw_is_not_drawn(store: SqlStore) -> None:
    ids = {}
    for sender in ("web:1", "web:2", "web:3"):
        barrage, _ = await store.add(Draft(text="hi", author=sender, color="#ffffff", size=Size.MEDIUM,
                                           source=Source.WEB, sender=sender), Status.APPROVED, NOW)
        ids[sender] = barrage.id
    racing = RetractsAfterThePool(store, ids["web:2"])
    rooms = Rooms.main_only(racing)  # type: ignore[arg-type]
    await rooms.load()
    draw = await Lottery(racing, rooms).draw(MAIN, 2)  # type: ignore[arg-type]
    assert sorted(w.sender for w in draw.winners) == ["web:1", "web:3"]
    assert draw.pool in (2, 3)  # the pool as read, less the tickets the draw found gone
    racing._victim = ids["web:1"]
    with pytest.raises(PoolTooSmall):
        await Lottery(racing, rooms).draw(MAIN, 2)  # type: ignore[arg-type]
