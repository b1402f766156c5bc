"""A rule is checked before it is stored: kinds, actions, empty patterns, regexes that do not
compile or could backtrack catastrophically; and the seed file's line syntax."""

from __future__ import annotations

import pytest

from server.core.errors import InvalidInput
from server.core.rules import RuleSpec, check_regex, check_rule, parse_line, parse_seed

CATASTROPHIC = [r"(a+)+", r"(a*)*", r"(a|aa)+", r"(a|a)*", r"(.*a){3}", r"(a?){2,}", r"((ab)*c)*",
                r"(ab|a)+", r"(x+x+)+y", r"(\d|1)+", r"([a-c]|b)+", r"(a|)+"]
BACKREFERENCES = [r"(a)\1", r"(?P<n>a)(?P=n)", r"(a)?(?(1)b|c)"]
SAFE = [r"b+a+d", r"(cat|dog)+", r"b[a-z]+d", r"(ab)+c", r"x(y|z)*", r"a{2}b", r"\d{3,}", r"^spam",
        r"(?:foo|bar)baz", r"[0-9]+x", r"fr[e3]{2}", r"(?=a)abc"]


@pytest.mark.parametrize("pattern", CATASTROPHIC + BACKREFERENCES)
def test_a_regex_that_could_backtrack_catastrophically_is_refused(pattern: str) -> None:
    with pytest.raises(InvalidInput, match="catastrophically"):
        check_regex(pattern)


@pytest.mark.parametrize("pattern", ["[", "(", "a{2,1}", r"\p{L}", "*a", "(?P<1>x)"])
def test_a_regex_that_does_not_compile_is_refused(pattern: str) -> None:
    with pytest.raises(InvalidInput, match="does not compile"):
        check_regex(pattern)


@pytest.mark.parametrize("pattern", SAFE)
def test_safe_regexes_pass(pattern: str) -> None:
    check_regex(pattern)


@pytest.mark.parametrize("spec, message", [
    (RuleSpec("", "word"), "empty"),
    (RuleSpec("   ", "word"), "empty"),
    (RuleSpec("...", "word"), "no letter or digit"),
    (RuleSpec("- · -", "word"), "no letter or digit"),
    (RuleSpec("b\u200bad", "word"), "printable"),
    (RuleSpec("bad", "glob"), "kind"),
    (RuleSpec("bad", "word", "delete"), "action"),
    (RuleSpec("x" * 201), "at most"),
    (RuleSpec("bad\x00"), "printable"),
])
def test_bad_rules_are_refused(spec: RuleSpec, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_rule(spec)


@pytest.mark.parametrize("line, expected", [
    ("bad", RuleSpec("bad", "word", "block", "seed file")),
    ("  block:bad  ", RuleSpec("bad", "word", "block", "seed file")),
    ("review:spam", RuleSpec("spam", "word", "review", "seed file")),
    ("replace:darn", RuleSpec("darn", "word", "replace", "seed file")),
    ("allow:scunthorpe", RuleSpec("scunthorpe", "word", "allow", "seed file")),
    ("re:b+a+d", RuleSpec("b+a+d", "regex", "block", "seed file")),
    ("review:re:fr[e3]{2}", RuleSpec("fr[e3]{2}", "regex", "review", "seed file")),
    ("two words", RuleSpec("two words", "word", "block", "seed file")),
    ("坏人", RuleSpec("坏人", "word", "block", "seed file")),
])
def test_seed_lines(line: str, expected: RuleSpec) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize("line", ["", "   ", "# a comment", "  # indented comment"])
def test_blank_lines_and_comments_are_skipped(line: str) -> None:
    assert parse_line(line) is None


def test_a_bad_seed_line_names_the_file_and_the_line() -> None:
    with pytest.raises(InvalidInput, match=r"^rules\.txt, line 3: regex could backtrack"):
        parse_seed("# words\nbad\nre:(a+)+\n", "rules.txt")
    with pytest.raises(InvalidInput, match=r"^rules\.txt, line 1: pattern has no letter"):
        parse_seed("review:...", "rules.txt")
