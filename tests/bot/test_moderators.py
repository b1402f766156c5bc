from __future__ import annotations

from bot.moderators import Moderators


async def test_allowlist_wins_and_nobody_else() -> None:
    mods = Moderators([1, 2], None, 60, "test")
    assert await mods.allows(1) and not await mods.allows(3)


async def test_fetched_group_is_cached_and_failures_fail_closed() -> None:
    calls: list[int] = []

    async def fetch() -> frozenset[int]:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("platform down")
        return frozenset({7})

    mods = Moderators([], fetch, ttl_seconds=60, what="test")
    assert not await mods.allows(7)  # the first fetch failed: nobody yet
    assert await mods.allows(7) and await mods.allows(7)
    assert len(calls) == 2  # then cached
    assert not await Moderators([], None, 60, "test").allows(7)
