from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.messages import age, backlog_line, sentence, split_color

NOW = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#ff8800 hi there", ("#ff8800", "hi there")),
        ("#F80 hi", ("#ff8800", "hi")),
        ("#pink hi", ("pink", "hi")),
        ("Pink hi", ("pink", "hi")),
        ("pink", (None, "pink")),
        ("#party tonight", (None, "#party tonight")),
        ("hello #ff0000", (None, "hello #ff0000")),
    ],
)
def test_split_color(text: str, expected: tuple[str | None, str]) -> None:
    assert split_color(text) == expected


def test_age() -> None:
    assert age(NOW, NOW) == "just now"
    assert age(NOW - timedelta(minutes=3), NOW) == "3 min ago"


def test_backlog_line_only_when_behind() -> None:
    assert backlog_line(4, "/moderate") is None
    assert backlog_line(5, "/moderate") == "⏳ 5 more waiting — use /moderate"


def test_sentence_keeps_names() -> None:
    assert sentence("already approved by Mod One") == "Already approved by Mod One"
