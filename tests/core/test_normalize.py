"""The normalised copy: each step of server/core/normalize.py, and the spans back."""

from __future__ import annotations

import pytest

from server.core.normalize import _FOLDS, FOLD_CACHE, _fold, normalize, normalize_spans


@pytest.mark.parametrize(("text", "expected"), [
    ("bad", "bad"), ("b.a.d", "bad"), ("b a d", "bad"), ("ｂａｄ", "bad"), ("b\u200bad", "bad"),
    ("BAD", "bad"), ("bäd", "bad"), ("b4d", "bad"), ("8@d", "8ad"), ("$1ut", "siut"),
    ("bаd", "bad"),  # Cyrillic а
    ("βαd", "bad"),  # Greek
    ("b\u00ADa\u2060d", "bad"),  # soft hyphen, word joiner: format characters
    ("Straße", "strasse"), ("坏 人", "坏人"), ("が", "か"), ("Ｈｅｌｌｏ，　ｗｏｒｌｄ！", "helloworld"),
    ("", ""), ("!!!", ""), ("🎉🎉", ""),
])
def test_each_step(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize("text", ["b.a.d", "ｂａｄ news", "Ünïcödé 42", "坏 人", "ascii only"])
def test_spans_point_back_into_the_original(text: str) -> None:
    folded, spans = normalize_spans(text)
    assert folded == normalize(text) and len(spans) == len(folded)
    assert spans == sorted(spans) and all(0 <= i < len(text) for i in spans)


@pytest.mark.parametrize("text", ["b.A.d!", "Ｈｅｌｌｏ ｂａｄ", "Ünïcödé 42", "坏 人 bаd", "x\u200by 😂 ﬁ"])
def test_the_fast_paths_agree_with_the_character_by_character_fold(text: str) -> None:
    assert normalize(text) == "".join(_fold(char) for char in text)


def test_the_fold_table_stays_bounded_and_right_past_its_size() -> None:
    """A script can send any code point: the table of folds starts over when full."""
    text = "".join(chr(code) for code in range(0x4E00, 0x4E00 + FOLD_CACHE + 10))
    assert normalize(text) == "".join(_fold(char) for char in text)
    assert len(_FOLDS) <= FOLD_CACHE
    assert normalize("ｂａｄ") == "bad"
