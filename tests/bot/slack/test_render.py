from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.slack.render import (
    card_blocks,
    card_fallback,
    escape,
    parse_button_value,
    plain,
    strip_mentions,
    verdict_blocks,
)
from server.core.model import Barrage, Size, Source, Status

NOW = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)


def barrage(**changes: object) -> Barrage:
    base = dict(id=7, text="<!channel> hi & bye", author="Ann", color="#ffffff", size=Size.MEDIUM,
                source=Source.SLACK, status=Status.PENDING, created_at=NOW - timedelta(seconds=10))
    return Barrage(**{**base, **changes})  # type: ignore[arg-type]


def test_card_has_text_author_and_both_buttons() -> None:
    blocks = card_blocks(barrage(), NOW)
    assert blocks[0]["text"] == {"type": "plain_text", "text": "“<!channel> hi & bye”", "emoji": True}
    assert "from Ann" in blocks[1]["elements"][0]["text"]
    approve, reject = blocks[2]["elements"]
    assert (approve["text"]["text"], approve["style"], approve["value"]) == ("Approve", "primary", "7")
    assert (reject["text"]["text"], reject["style"], reject["value"]) == ("Reject", "danger", "7")


def test_backlog_note_on_the_card() -> None:
    assert "6 more waiting" in card_blocks(barrage(), NOW, 6)[-1]["elements"][0]["text"]


def test_an_approved_verdict_keeps_only_remove_from_screen() -> None:
    *_, said, actions = verdict_blocks(barrage(status=Status.APPROVED, decided_by="Mo"), NOW)
    assert said["text"]["text"] == "✅ Approved by Mo"
    [remove] = actions["elements"]
    assert (remove["action_id"], remove["text"]["text"], remove["value"]) == (
        "barrage_retract", "🗑 Remove from screen", "7")


def test_rejected_and_removed_verdicts_have_no_buttons() -> None:
    rejected = verdict_blocks(barrage(status=Status.REJECTED, decided_by="Mo"), NOW)
    removed = verdict_blocks(barrage(status=Status.RETRACTED, decided_by="Mo", retracted_by="Alice"), NOW)
    assert all(b["type"] != "actions" for b in [*rejected, *removed])
    assert removed[-1]["text"]["text"] == "🗑 Removed by Alice"


def test_fallback_text_is_escaped() -> None:
    assert "&lt;!channel&gt;" in card_fallback(barrage()) and "&amp;" in card_fallback(barrage())
    assert escape("<@U1>") == "&lt;@U1&gt;"


def test_mentions_and_button_values() -> None:
    assert strip_mentions("<@UBOT> hello <@U2|bob>") == "hello"
    assert parse_button_value("12") == 12
    for bad in (None, "", "-1", "1e3", "9" * 20, 5, "2147483648", "9999999999", "0"):
        assert parse_button_value(bad) is None



def test_a_card_names_its_room_when_given_one() -> None:
    assert len(card_blocks(barrage(), NOW)[1]["elements"]) == 1
    assert card_blocks(barrage(), NOW, room="<Hall B>")[1]["elements"][1]["text"] == "Room: <Hall B>"
    verdict = verdict_blocks(barrage(status=Status.APPROVED), NOW, "Hall B")
    assert verdict[1]["elements"][1]["text"] == "Room: Hall B"
    assert card_fallback(barrage(), "<Hall B>").startswith("New barrage in &lt;Hall B&gt; from Ann")


@pytest.mark.parametrize(("sent", "written"), [
    ("Q&amp;A &lt;after&gt; the talk", "Q&A <after> the talk"),
    ("&amp;lt; is how you write &amp;gt;", "&lt; is how you write &gt;"),  # unescaped once, not twice
    ("&amp;amp; &quot;kept&quot; &#60;", "&amp; &quot;kept&quot; &#60;"),  # only Slack's three entities
    ("ask <@U123|bob> or <@W0ENT>", "ask @bob or @W0ENT"),
    ("in <#C123|general> and <#C456>", "in #general and #C456"),
    ("<!here> <!channel> <!everyone> <!here|here>", "@here @channel @everyone @here"),
    ("hi <!subteam^S0TEAM|@org-team>", "hi @org-team"),
    ("at <!date^1392734382^{date_short}|Feb 18, 2014>", "at Feb 18, 2014"),
    ("see <https://x.com> or <https://x.com/a?b=1&amp;c=2|x.com>", "see https://x.com or x.com"),
    ("<https://x.com/a?b=1&amp;c=2>", "https://x.com/a?b=1&c=2"),
    ("<mailto:a@b.c|a@b.c> and <mailto:d@e.f>", "a@b.c and d@e.f"),
    ("<https://x.com/?q=a&amp;b|Q&amp;A &lt;1&gt;>", "Q&A <1>"),  # the label is escaped too
    ("no markup at all", "no markup at all"),
    ("", ""),
    ("an unclosed <@U1 and a lone >", "an unclosed <@U1 and a lone >"),
])
def test_plain_turns_slacks_formatted_text_back_into_what_was_typed(sent: str, written: str) -> None:
    assert plain(sent) == written



def test_a_first_with_repeats_says_how_many_sent_it() -> None:
    texts = [e["text"] for e in card_blocks(barrage(count=200), NOW)[1]["elements"]]
    assert "×200 senders" in texts
    assert not any("senders" in e["text"] for e in card_blocks(barrage(), NOW)[1]["elements"])
    assert "×3 senders" in str(verdict_blocks(barrage(count=3, status=Status.APPROVED, decided_by="Bo"), NOW))
