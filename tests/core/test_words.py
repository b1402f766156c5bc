"""Filters.block_word and unblock_word (the chats' /block and /unblock) on the real store, each
backend: compared normalised, against the database's rules rather than one process's matcher."""

from __future__ import annotations

import pytest

from server.core.errors import InvalidInput
from server.core.filters import Filters
from server.core.model import Mode, Status
from server.core.rules import RuleSpec
from server.store.sql import SqlStore
from tests.core.test_filters import draft


async def test_block_then_unblock(store: SqlStore) -> None:
    filters = Filters(store)
    rule, created = await filters.block_word("  Bad Word ", "Ann")
    assert (rule.pattern, rule.kind, rule.action, created) == ("Bad Word", "word", "block", True)
    assert filters.screen(draft("b.a.d w0rd"), Mode.OFF)[0] is Status.REJECTED
    assert await filters.block_word("BADWORD", "Ann") == (rule, False)
    assert [r.id for r in await filters.unblock_word("bad-word", "Ann")] == [rule.id]
    assert filters.screen(draft("b.a.d w0rd"), Mode.OFF)[0] is Status.APPROVED
    assert await filters.unblock_word("bad word", "Ann") == []


async def test_another_process_rules_count_before_this_one_has_reloaded(store: SqlStore) -> None:
    here, there = Filters(store), Filters(store)
    rule, _ = await there.block_word("spam", "Ann")
    assert await here.block_word("S P A M", "Bob") == (rule, False)  # not added twice
    await there.add(RuleSpec("spam", action="review"), "Ann")
    assert [r.id for r in await here.unblock_word("spam", "Bob")] == [rule.id]  # the review rule stays
    assert [(r.pattern, r.action) for r in await store.filter_rules()] == [("spam", "review")]


@pytest.mark.parametrize("word", ["", "   ", "x" * 201, "...", "a\u200bb"])
async def test_bad_words_are_refused(store: SqlStore, word: str) -> None:
    filters = Filters(store)
    for change in (filters.block_word, filters.unblock_word):
        with pytest.raises(InvalidInput):
            await change(word, "Ann")
    assert await store.filter_rules() == []


async def test_a_reload_that_started_before_a_delete_never_brings_the_rule_back(store: SqlStore) -> None:
    """The `filters` event of an earlier change starts a reload beside the loop; the delete's
    own reload must win even when the earlier one finishes last (seen once in a full run:
    GET /api/filters listed a rule after its DELETE answered 204)."""
    filters = Filters(store)
    # Enough rules that each reload's build (a thread of its own) takes a while, so the two
    # builds run side by side and either may finish first.
    await store.seed_filter_rules([RuleSpec(f"seed{n}x", "word", "block") for n in range(3000)])
    for n in range(10):
        rule, event = await store.add_filter_rule(RuleSpec(f"word{n}", "word", "block"), "Ann")
        filters.on_event(event)  # a reload that reads the rules now, and builds in a thread
        await filters.remove(rule.id, "Ann")
        if filters._reload is not None:
            await filters._reload
        assert rule.id not in [r.id for r in filters.rules()], f"round {n}"
