"""The rule engine and the modes: the obfuscation corpus (every variant of a blocked term is
caught), the innocent corpus (texts that contain a blocked term, passed by `allow` rules),
`replace`, links, the classifier, and what each mode makes of each outcome."""

from __future__ import annotations

import sys
import time
import unicodedata
from dataclasses import replace

import pytest

from server.core.filters import LINK_MARKS, Filters, Matcher, has_link, star
from server.core.model import REASON_BLOCKED, REASON_LINK, REASON_REVIEW, Draft, Mode, Size, Source, Status
from server.core.normalize import normalize
from server.core.rules import Rule

BLOCKED = ["cunt", "slut", "nazi", "bitch", "scam", "ass", "tit", "cock", "sex", "坏人", "ばか"]
ALLOWED = ["scunthorpe", "class", "pass", "assist", "assess", "bass", "grass", "glass", "mass", "embassy",
           "assembly", "compass", "title", "petition", "constitution", "institute", "appetite", "titan",
           "cocktail", "peacock", "hancock", "cockpit", "sussex", "essex", "middlesex", "unisex"]
RULES = [Rule(n, word, "word", "block") for n, word in enumerate(BLOCKED, 1)] + [
    Rule(100 + n, word, "word", "allow") for n, word in enumerate(ALLOWED)] + [
    Rule(200, "darn", "word", "replace"), Rule(201, "spam", "word", "review"),
    Rule(202, "fr[e]{2}stuff", "regex", "review"), Rule(203, "b+a+d+w+o+r+d", "regex", "block")]

CYRILLIC = str.maketrans({"a": "а", "c": "с", "e": "е", "o": "о", "p": "р", "x": "х", "y": "у", "s": "ѕ",
                          "i": "і", "k": "к", "t": "т", "h": "һ", "b": "в"})
LEET = str.maketrans({"o": "0", "i": "1", "e": "3", "a": "4", "s": "5", "t": "7"})


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def variants(term: str) -> list[str]:
    """The ways a crowd writes `term` to get it past a word list."""
    latin = term.isascii()
    found = [
        term, term.upper(), full_width(term), "\u200b".join(term), "\u200d".join(term), ".".join(term),
        "-".join(term), "_".join(term), " ".join(term), f"you {term} !", f"Hi{term.upper()}there",
        "\u00ad".join(term), "*".join(full_width(term)),
    ]
    if latin:
        found += [term.translate(LEET), term.translate(CYRILLIC), term.title(), term.swapcase()[::1].title(),
                  "".join(c.upper() if i % 2 else c for i, c in enumerate(term)),
                  " ".join(term.translate(LEET)), unicodedata.normalize("NFD", "".join(
                      c + "\u0301" for c in term)), "\u2060".join(term.translate(CYRILLIC))]
    return list(dict.fromkeys(found))


OBFUSCATED = [text for term in BLOCKED for text in variants(term)] + [
    "坏 人", "坏\u200b人", "这是坏 人啊", "ば か", "ば\u200bか", "b4d w0rd", "BAAAD WORD",
    "b.a.d.w.o.r.d", "ｂａｄｗｏｒｄ"]

INNOCENT = [
    "I live in Scunthorpe", "Ｓｃｕｎｔｈｏｒｐｅ rules", "Our class rocks", "CLASS of 2025",
    "Please pass the salt", "ｐａｓｓ it on", "Happy to assist", "The assessment is done", "Bass drop now!",
    "Nice grass on the stage",
    "Raise your glass", "Mass celebration tonight", "Party at the embassy", "Assembly at nine",
    "Bring a compass", "What a title", "Sign the petition", "Read the constitution", "Go to the institute",
    "Bon appetite", "Titan of the stage", "Cocktail hour!", "A peacock on stage", "Hancock for president",
    "Welcome to the cockpit", "Greetings from Sussex", "Essex crew here", "Middlesex says hi",
    "Unisex toilets are left", "classic rock forever", "grassroots party", "massive bass line",
    "first class glass of wine",
]


def draft(text: str) -> Draft:
    return Draft(text, "a", "#ffffff", Size.MEDIUM, Source.WEB, norm=normalize(text))


@pytest.fixture
def filters() -> Filters:
    screen = Filters(links="review")
    screen.matcher = Matcher(RULES)
    return screen


def test_the_corpora_are_big_enough() -> None:
    assert len(OBFUSCATED) >= 100 and len(INNOCENT) >= 30


@pytest.mark.parametrize("mode", list(Mode))
def test_every_obfuscated_variant_is_blocked_in_every_mode(filters: Filters, mode: Mode) -> None:
    missed = [text for text in OBFUSCATED if filters.screen(draft(text), mode)[0] is not Status.REJECTED]
    assert missed == []
    _, stored = filters.screen(draft("ｃ\u200bu.n-t"), mode)
    assert stored.reason == REASON_BLOCKED and "cunt" not in stored.reason and stored.flags == ("rule:1",)


@pytest.mark.parametrize("mode", [Mode.OFF, Mode.AUTO])
def test_innocent_texts_with_a_blocked_substring_pass_thanks_to_allow_rules(filters: Filters,
                                                                            mode: Mode) -> None:
    refused = [text for text in INNOCENT if filters.screen(draft(text), mode)[0] is not Status.APPROVED]
    assert refused == []


def test_without_the_allow_rules_the_innocent_texts_would_be_blocked() -> None:
    screen = Filters()
    screen.matcher = Matcher([rule for rule in RULES if rule.action != "allow"])
    assert all(screen.screen(draft(text), Mode.AUTO)[0] is Status.REJECTED for text in INNOCENT)


def test_allow_covers_only_the_matches_inside_its_own_span(filters: Filters) -> None:
    status, stored = filters.screen(draft("Scunthorpe is no cunt"), Mode.AUTO)
    assert status is Status.REJECTED and stored.flags == ("rule:1",)


def test_replace_stars_the_original_span(filters: Filters) -> None:
    status, stored = filters.screen(draft("Well D.A.R.N it, ｄａｒｎ!"), Mode.AUTO)
    assert (status, stored.text, stored.flags) == (Status.APPROVED, "Well *** it, ***!", ())
    assert star("a darn darn b", [(1, 5), (5, 9)]) == "a *** *** b"  # the space between stays
    assert star("a d.a.r.n.i.t b", [(1, 5), (3, 7)]) == "a *** b"  # overlapping spans: one ***


@pytest.mark.parametrize("mode, status, reason", [
    (Mode.OFF, Status.APPROVED, None), (Mode.AUTO, Status.PENDING, REASON_REVIEW),
    (Mode.MANUAL, Status.PENDING, None)])
def test_a_review_rule_holds_in_auto_and_flags_everywhere(filters: Filters, mode: Mode, status: Status,
                                                          reason: str | None) -> None:
    got, stored = filters.screen(draft("buy S-P-A-M now"), mode)
    assert (got, stored.reason, stored.flags) == (status, reason, ("rule:201",))
    got, stored = filters.screen(draft("freestuff here"), mode)
    assert (got, stored.flags) == (status, ("rule:202",))


@pytest.mark.parametrize("mode, status", [(Mode.OFF, Status.APPROVED), (Mode.AUTO, Status.APPROVED),
                                          (Mode.MANUAL, Status.PENDING)])
def test_a_clean_text(filters: Filters, mode: Mode, status: Status) -> None:
    got, stored = filters.screen(draft("Happy New Year!"), mode)
    assert (got, stored.flags, stored.reason) == (status, (), None)


LINKS = ["see https://example.org/x", "http://a.b", "www.example", "go to evil.com now", "Example.IO",
         "ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ", "shop at sub.domain.shop today", "x.ru",
         # Dots and colons that NFKC makes of other characters (one-dot leader, small full stop,
         # presentation-form colon), found by a reviewer's differential fuzz.
         "example\u2024com", "example\ufe52com", "https\ufe13//x", "see \u0130.top"]
NOT_LINKS = ["hello 3.14", "e.g. this", "i.e. that", "end. Next", "a.b.c", "Mr.Smith", "v1.2.3", "file.txt",
             "evil.b\u0131z", "evil.\u0130t"]  # dotless ı, dotted İ: no top-level domain is spelt so


@pytest.mark.parametrize("text", LINKS)
def test_links_are_found(text: str) -> None:
    assert has_link(text)


def test_the_link_marks_are_every_character_nfkc_makes_a_dot_or_colon_of() -> None:
    found = {char for code in range(sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF
             and {".", ":"} & set(unicodedata.normalize("NFKC", char := chr(code)))}
    assert found == LINK_MARKS


@pytest.mark.parametrize("text", NOT_LINKS)
def test_dotted_words_are_no_links(text: str) -> None:
    assert not has_link(text)


@pytest.mark.parametrize("links, mode, status, reason", [
    ("review", Mode.AUTO, Status.PENDING, REASON_REVIEW), ("review", Mode.OFF, Status.APPROVED, None),
    ("review", Mode.MANUAL, Status.PENDING, None), ("block", Mode.AUTO, Status.REJECTED, REASON_LINK),
    ("block", Mode.OFF, Status.REJECTED, REASON_LINK), ("block", Mode.MANUAL, Status.REJECTED, REASON_LINK),
    ("allow", Mode.AUTO, Status.APPROVED, None)])
def test_links_by_policy_and_mode(links: str, mode: Mode, status: Status, reason: str | None) -> None:
    got, stored = Filters(links=links).screen(draft("visit example.com"), mode)
    assert (got, stored.reason) == (status, reason)
    assert stored.flags == (() if links == "allow" else ("link",))


@pytest.mark.parametrize("mode, status", [(Mode.OFF, Status.APPROVED), (Mode.AUTO, Status.PENDING),
                                          (Mode.MANUAL, Status.PENDING)])
def test_the_classifier_holds_for_review_above_its_threshold_and_never_rejects(mode: Mode,
                                                                               status: Status) -> None:
    screen = Filters(classifier=lambda text: 0.95 if "rude" in text else 0.1, threshold=0.8)
    got, stored = screen.screen(draft("so rude"), mode)
    assert got is status and stored.flags == ((), ("classifier",))[mode is not Mode.OFF]
    assert screen.screen(draft("so nice"), Mode.AUTO)[0] is Status.APPROVED


def test_a_regex_that_times_out_holds_for_review() -> None:
    screen = Filters()
    # Past the static check (it is built directly): the timeout is the backstop.
    screen.matcher = Matcher([Rule(9, "(a|a)+$", "regex", "block")])
    got, stored = screen.screen(draft("a" * 40 + "!b"), Mode.AUTO)
    assert (got, stored.flags, stored.reason) == (Status.PENDING, ("rule:9",), REASON_REVIEW)


def test_rules_sharing_a_normalised_word_all_match() -> None:
    screen = Filters()
    screen.matcher = Matcher([Rule(1, "B A D", "word", "review"), Rule(2, "bad", "word", "block")])
    got, stored = screen.screen(draft("so b.a.d"), Mode.MANUAL)
    assert (got, stored.flags) == (Status.REJECTED, ("rule:2",))


def test_ten_thousand_rules_build_fast_enough_for_a_test() -> None:
    """The benchmark (bench/filters.py) measures; this only guards against a slow path."""
    rules = [Rule(n, f"word{n}x", "word", "block") for n in range(10_000)]
    started = time.perf_counter()
    matcher = Matcher(rules)
    assert time.perf_counter() - started < 5
    assert matcher.find(normalize("a WORD 1234 X b")).blocked
    assert not matcher.find(normalize("a word b")).blocked


def test_a_draft_keeps_its_original_norm_when_starred(filters: Filters) -> None:
    original = draft("darn it")
    _, stored = filters.screen(original, Mode.OFF)
    assert stored.text == "*** it" and stored.norm == original.norm == replace(original).norm


@pytest.mark.parametrize("pattern", ["bad[a-z]{1,3}word", "(?i)BAD[a-z]{1,3}WORD", "[b]ad[a-z]{1,3}word",
                                     "b(?:a)d[a-z]{1,3}word"])
def test_a_regex_with_or_without_a_literal_start_is_found(pattern: str) -> None:
    """Regexes that start with a literal are picked out by an automaton of those starts; the
    others by one search of their alternation: either way the rule matches."""
    rules = [Rule(1, pattern, "regex", "block"), Rule(2, "other[0-9]+", "regex", "block")]
    assert Matcher(rules).find(normalize("B.A.D xx WORD")).blocked_by == ("rule:1",)
    assert not Matcher(rules).find(normalize("a fine line")).blocked


def test_slow_regexes_without_a_literal_start_cannot_freeze_the_screening() -> None:
    """`a*a*a*a*a*a*b` passes the static check; with another regex that has no literal start it
    runs in their combined search, which must stop at the timeout (a human decides), not run for
    hours on 100 a's (the standard library's `re` took 31 s on 80)."""
    rules = [Rule(1, "a*a*a*a*a*a*b", "regex", "block"), Rule(2, "[xy]*z*q", "regex", "block")]
    found = Matcher(rules).find("a" * 100)
    assert not found.blocked and found.held in ((), ("rule:1",))  # no match, or a timeout's hold
