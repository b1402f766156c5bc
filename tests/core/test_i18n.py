"""The catalogues (server/core/i18n.py): every language has every key of every domain, with
the same placeholders, and the language is picked as documented."""

from __future__ import annotations

import string

import pytest

from server.core.i18n import LANGUAGES, catalogue, domains, from_locale, negotiate, text


@pytest.mark.parametrize("domain", domains())
def test_every_language_has_every_key(domain: str) -> None:
    keys = {language: set(catalogue(domain, language)) for language in LANGUAGES}
    for language in LANGUAGES:
        assert keys[language] == keys["en"], (
            f"{domain}: {language} misses {sorted(keys['en'] - keys[language])}, "
            f"has extra {sorted(keys[language] - keys['en'])}")


@pytest.mark.parametrize("domain", domains())
def test_translations_take_the_same_placeholders(domain: str) -> None:
    english = catalogue(domain, "en")
    for language in LANGUAGES:
        for key, value in catalogue(domain, language).items():
            fields = {name for _, name, _, _ in string.Formatter().parse(value) if name}
            assert fields == {name for _, name, _, _ in string.Formatter().parse(english[key]) if name}, key
            assert value.strip(), f"{domain}.{key} is empty in {language}"


@pytest.mark.parametrize(("header", "expected"), [
    (None, "en"), ("", "en"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"), ("zh-TW", "zh-CN"),
    ("zh-Hant-HK;q=0.5, en;q=0.9", "en"), ("fr-FR, zh;q=0.2", "zh-CN"), ("de, fr", "en"),
    ("en;q=abc, zh;q=0.1", "zh-CN"), ("zh;q=2", "en"), ("*", "en"), (",,;;==", "en"),
    ("x" * 10_000, "en"),
])
def test_accept_language_picks_the_page_language(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected


def test_a_configured_language_beats_the_reader() -> None:
    assert negotiate("zh-CN", "en") == "en" and negotiate("en", "zh-CN") == "zh-CN"
    assert from_locale("zh-hans", "en") == "en"


@pytest.mark.parametrize(("code", "expected"), [
    ("zh-hans", "zh-CN"), ("zh", "zh-CN"), ("zh-CN", "zh-CN"), ("en-US", "en"), ("en_GB", "en"),
    ("ru", "en"), (None, "en"), ("", "en"),
])
def test_a_chat_locale_picks_the_reply_language(code: str | None, expected: str) -> None:
    assert from_locale(code) == expected


def test_text_is_the_languages_own_and_english_for_an_unknown_language() -> None:
    assert text("common", "zh-CN", "wall.title") == "弹幕墙"
    assert text("common", "xx", "wall.title") == text("common", "en", "wall.title") == "barrage"
