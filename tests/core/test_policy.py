from __future__ import annotations

import pytest

from server.core.errors import InvalidInput, RateLimited
from server.core.model import Size
from server.core.policy import (
    DEFAULT_AUTHOR,
    InputPolicy,
    RatePolicy,
    clean_text,
    grapheme_count,
    normalize_color,
    normalize_size,
)

policy = InputPolicy(max_text_length=5, max_author_length=3)


def test_text_is_trimmed_and_whitespace_folded() -> None:
    assert policy.text("  a \n\t b  ") == "a b"


@pytest.mark.parametrize("raw", ["", "   ", "\n\t", "\u202e\u2066", "\x00\x07"])
def test_empty_text_is_refused(raw: str) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        policy.text(raw)


def test_length_counts_grapheme_clusters() -> None:
    family = "👨\u200d👩\u200d👧\u200d👦"
    flag = "🇯🇵"
    assert grapheme_count(family + flag + "é") == 3
    assert policy.text(family * 5) == family * 5
    with pytest.raises(InvalidInput, match="at most 5"):
        policy.text(family * 6)


def test_combining_accents_count_once() -> None:
    assert policy.text("e\u0301" * 5) == "é" * 5  # NFC folds them


def test_control_and_bidi_characters_are_removed() -> None:
    assert clean_text("ab\u202ecd\u2066e\u2069\x1b[31m\x7f") == "abcde[31m"


def test_stacked_marks_are_capped() -> None:
    zalgo = "a" + "\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307" * 4
    assert grapheme_count(clean_text(zalgo)) == 1
    assert len(clean_text(zalgo)) == 5


def test_huge_input_is_refused_before_any_work() -> None:
    with pytest.raises(InvalidInput, match="too long"):
        policy.text("x" * 10_000)


def test_author_defaults_and_limits() -> None:
    assert policy.author(None) == DEFAULT_AUTHOR
    assert policy.author("  ") == DEFAULT_AUTHOR
    assert policy.author(" Bo ") == "Bo"
    with pytest.raises(InvalidInput, match="author is too long"):
        policy.author("Alice")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, "#ffffff"),
        ("", "#ffffff"),
        ("#ABC", "#aabbcc"),
        ("#a1B2c3", "#a1b2c3"),
        ("Red", "#ff4d4f"),
        (" blue ", "#4d9dff"),
    ],
)
def test_colors_normalise(raw: str | None, expected: str) -> None:
    assert normalize_color(raw) == expected


@pytest.mark.parametrize("raw", ["#ab", "#abcd", "#gggggg", "rgb(1,2,3)", "red;x", "javascript:1", "#fff "
                                 "x"])
def test_bad_colors_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput, match="color"):
        normalize_color(raw)


def test_sizes() -> None:
    assert normalize_size(None) is Size.MEDIUM
    assert normalize_size("LARGE") is Size.LARGE
    with pytest.raises(InvalidInput, match="size"):
        normalize_size("huge")


def test_rate_policy_windows() -> None:
    rates = RatePolicy(per_sender=20, per_address=1200)
    assert rates.windows("web:abc", "203.0.113.1") == [("sender:web:abc", 20), ("address:203.0.113.1", 1200)]
    assert rates.windows("telegram:42", None) == [("sender:telegram:42", 20)]
    assert RatePolicy(0, 0).windows("web:abc", "203.0.113.1") == []


def test_rate_refusals_say_which_limit_and_when() -> None:
    rates = RatePolicy(per_sender=20, per_address=1200)
    windows = rates.windows("web:abc", "203.0.113.1")
    sender = rates.refusal(0, 41.2, windows)
    assert isinstance(sender, RateLimited) and sender.retry_after == 42
    assert "20 messages a minute" in str(sender)
    assert "network" in str(rates.refusal(1, 0.01, windows))
    assert rates.refusal(1, 0.01, windows).retry_after == 1


def test_fast_and_slow_paths_agree() -> None:
    for raw in ("  plain  ascii  text ", "tab\there", "é and 👍", "a\u0301", "x\x00y"):
        slow = clean_text("\u200b" + raw)  # a non-ASCII prefix forces the general path
        assert clean_text(raw) == slow.replace("\u200b", "").strip()
