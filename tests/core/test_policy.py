from __future__ import annotations

import unicodedata

import pytest

from server.core.errors import InvalidInput, RateLimited
from server.core.model import Size
from server.core.policy import (
    DEFAULT_AUTHOR,
    InputPolicy,
    RatePolicy,
    clean_text,
    grapheme_count,
    is_visible,
    normalize_color,
    normalize_size,
)

policy = InputPolicy(max_text_length=5, max_author_length=3)
wide = InputPolicy(max_text_length=100, max_author_length=32)


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
    assert policy.text(flag * 5) == flag * 5
    with pytest.raises(InvalidInput, match="at most 5 characters"):
        policy.text(flag * 6)
    assert wide.text(family * 50) == family * 50


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


# -- giant clusters and blank text (issue 8, findings 2 and 10) --


LEGITIMATE = [
    "你好，世界！欢迎来到晚会",                      # CJK with full-width punctuation
    "こんにちは、カタカナもＯＫ",                   # Japanese, full-width Latin
    "안녕하세요 여러분",                           # Hangul syllables
    "👨\u200d👩\u200d👧\u200d👦 family",            # ZWJ family
    "👩🏻\u200d❤️\u200d💋\u200d👨🏼 kiss, skin tones",  # 10 code points, one cluster
    "👨🏻\u200d👩🏻\u200d👧🏻\u200d👦🏻",                # family with skin tones
    "🇯🇵🇫🇷🇧🇷 flags",
    "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f Scotland",  # tag sequence
    "1️⃣ keycap",
    "नमस्ते दुनिया क्षत्रिय स्त्र्य",            # Devanagari conjuncts
    "สวัสดีครับ ทุกคน",                            # Thai, with above/below vowels
    "مرحبا بالجميع",                                # Arabic
    "e\u0301 ö\u0308 cafe\u0301 n\u0303",           # combining accents (NFC folds most)
    "a\u200bb",                                     # a zero-width space inside visible text
    "🫨 shaking face",                              # Unicode 15: newer than Python 3.11's tables
    "۝١",                                          # Arabic end of ayah (Cf, drawn) with a digit
]

BLANK = [
    "\u200b", "\u200b\u200c\u200d", "\ufeff", "\u3164", "\u3164\u3164 \u3164", "\u2800",
    "\u115f", "\u1160", "\u115f\u1160", "\uffa0", "\U000e0041\U000e0042\U000e007f", "\ue000",
    "\U000f0000", "\U0010fffd", "\ufdd0", "\ufffe", "\U0001fffe", "\ufe0f", "\ufe0f\ufe0e",
    "\U000e0100", "\u00ad", "\u2060\u2061\u2062\u2063\u2064", "\u180e", "\u034f",
    "\u00a0\u3000\u2002\u2003", "\u2028\u2029", "\u0301", "\u17b4\u17b5", "\U0001d159",
    "\U0001d173\U0001d17a", "\U0001bca0", " \u200b \u3164 \u2800 ",
]


@pytest.mark.parametrize("raw", LEGITIMATE)
def test_legitimate_text_passes_unchanged(raw: str) -> None:
    assert wide.text(raw) == unicodedata.normalize("NFC", raw)
    assert wide.author(raw) == unicodedata.normalize("NFC", raw)
    assert wide.author(raw, shorten=True) == unicodedata.normalize("NFC", raw)


@pytest.mark.parametrize("raw", BLANK)
def test_text_that_shows_nothing_is_refused(raw: str) -> None:
    with pytest.raises(InvalidInput, match=r"empty|nothing visible"):
        wide.text(raw)
    assert not is_visible(raw)


@pytest.mark.parametrize("raw", BLANK)
def test_an_invisible_author_is_anonymous(raw: str) -> None:
    assert wide.author(raw) == DEFAULT_AUTHOR
    assert wide.author(raw, shorten=True) == DEFAULT_AUTHOR


@pytest.mark.parametrize("raw", LEGITIMATE)
def test_visible_text_is_visible(raw: str) -> None:
    assert is_visible(raw)


def test_a_giant_jamo_cluster_is_refused() -> None:
    jamo = "\u1100" * 3000  # 3,000 leading jamo: one grapheme cluster (NFC composes none)
    assert grapheme_count(jamo) == 1
    with pytest.raises(InvalidInput, match=r"too many parts|too long"):
        wide.text(jamo)
    with pytest.raises(InvalidInput, match="too many parts"):
        wide.text("\u1100" * 10)  # base + 9: one past the bound


def test_zwj_joined_hearts_are_refused() -> None:
    hearts = "\u200d".join(["❤️"] * 2000)
    assert grapheme_count(hearts) == 1
    with pytest.raises(InvalidInput):
        wide.text(hearts)
    small = "\u200d".join(["❤️"] * 40)  # 119 code points, still one cluster: refused too
    with pytest.raises(InvalidInput, match="too many parts"):
        wide.text(small)


def test_eight_parts_beyond_the_base_are_allowed() -> None:
    jamo = "\u1100" * 9  # base + 8
    assert wide.text(jamo) == jamo
    assert wide.text("a" + "\U0001f3fb" * 9) == "a" + "\U0001f3fb" * 9
    with pytest.raises(InvalidInput, match="too many parts"):
        wide.text("a" + "\U0001f3fb" * 10)  # only the first modifier rides free


def test_code_points_in_all_are_at_most_four_per_character() -> None:
    family = "👨\u200d👩\u200d👧\u200d👦"  # 7 code points, one character
    assert wide.text(family * 57) == family * 57  # 399
    with pytest.raises(InvalidInput, match="too long"):
        wide.text(family * 58)  # 58 characters, but 406 code points
    kiss = "👩🏻\u200d❤️\u200d💋\u200d👨🏼"  # 10 code points
    assert wide.text(kiss * 40) == kiss * 40
    with pytest.raises(InvalidInput, match="400 Unicode code points"):
        wide.text(kiss * 41)


def test_a_giant_cluster_in_a_profile_name_is_dropped_not_refused() -> None:
    hearts = "\u200d".join(["❤️"] * 100)
    assert wide.author("Ann " + hearts, shorten=True) == "Ann"
    assert wide.author(hearts, shorten=True) == DEFAULT_AUTHOR
    with pytest.raises(InvalidInput, match="too many parts"):
        wide.author("Ann " + hearts)
