"""A filter rule, checked before it is stored: what may match, and how a seed file spells it.

A rule is a word (or phrase) or a regular expression, with an action: `block`, `review`,
`replace` (shown as `***`) or `allow` (an exception that beats the others). Both kinds match
the normalised copy of a text (server/core/normalize.py): lower-case letters and digits only,
no spaces or punctuation, leet and look-alikes folded. So a regex rule is written against that
copy: `b[a4]d` is redundant (4 is already `a`), `\\s` and `.` between words never meet a space.

Regex rules are compiled with the `regex` module (each match has a timeout) and must parse in
Python's `re` syntax, which the static check below reads: it refuses what could backtrack
catastrophically (a quantified group that holds another quantifier, alternatives that can
start alike or match nothing, backreferences).
"""

from __future__ import annotations

import re
import re._constants as sre  # the parse tree's opcodes: the catastrophic-pattern check reads it
import re._parser as sre_parse
from dataclasses import dataclass
from typing import Any

import regex

from server.core.errors import InvalidInput
from server.core.normalize import normalize

WORD, REGEX = "word", "regex"
BLOCK, REVIEW, REPLACE, ALLOW = "block", "review", "replace", "allow"
KINDS = (WORD, REGEX)
ACTIONS = (BLOCK, REVIEW, REPLACE, ALLOW)
MAX_PATTERN = 200
MAX_NOTE = 200
REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
BACKREFERENCES = (sre.GROUPREF, sre.GROUPREF_EXISTS, sre.GROUPREF_IGNORE, sre.GROUPREF_LOC_IGNORE,
                  sre.GROUPREF_UNI_IGNORE)
WIDE_RANGE = 256  # a character range wider than this counts as "anything" when comparing starts


@dataclass(frozen=True)
class RuleSpec:
    """A rule as asked for (before it has an id)."""

    pattern: str
    kind: str = WORD
    action: str = BLOCK
    note: str | None = None


@dataclass(frozen=True)
class Rule:
    id: int
    pattern: str
    kind: str
    action: str
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "pattern": self.pattern, "kind": self.kind, "action": self.action,
                "note": self.note}


def spec_of(body: dict[str, Any]) -> RuleSpec:
    """A rule from a JSON object; InvalidInput names the bad field."""
    for key in ("pattern", "kind", "action", "note"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise InvalidInput(f"{key} must be a string")
    return check_rule(RuleSpec(body.get("pattern") or "", body.get("kind") or WORD,
                               body.get("action") or BLOCK, body.get("note")))


def check_rule(spec: RuleSpec) -> RuleSpec:
    """`spec` cleaned (pattern and note stripped), or InvalidInput saying what is wrong."""
    pattern, note = spec.pattern.strip(), (spec.note or "").strip() or None
    if spec.kind not in KINDS:
        raise InvalidInput("kind must be word or regex")
    if spec.action not in ACTIONS:
        raise InvalidInput("action must be block, review, replace or allow")
    if not pattern:
        raise InvalidInput("pattern must not be empty")
    if len(pattern) > MAX_PATTERN or (note is not None and len(note) > MAX_NOTE):
        raise InvalidInput(f"pattern and note must be at most {MAX_PATTERN} characters")
    if not pattern.isprintable():
        raise InvalidInput("pattern must be printable (no control or zero-width characters)")
    if spec.kind == WORD and not normalize(pattern):
        raise InvalidInput("pattern has no letter or digit to match (rules match letters and digits only)")
    if spec.kind == REGEX:
        check_regex(pattern)
    return RuleSpec(pattern, spec.kind, spec.action, note)


def check_regex(pattern: str) -> None:
    """InvalidInput unless `pattern` compiles and cannot backtrack catastrophically."""
    try:
        regex.compile(pattern)
        tree = sre_parse.parse(pattern)
    except (regex.error, re.error, RecursionError, OverflowError) as exc:
        raise InvalidInput(f"regex does not compile (Python re syntax): {str(exc)[:100]}") from None
    if problem := _danger(list(tree), repeated=False):
        raise InvalidInput(f"regex could backtrack catastrophically: {problem}")


# -- the static check: a walk of re's parse tree --

def _danger(items: list[Any], repeated: bool) -> str | None:
    """Why `items` could backtrack catastrophically; `repeated`: they sit inside a repeated group."""
    for op, arg in items:
        if op in BACKREFERENCES:
            return "backreferences are not allowed"
        if op in REPEATS:
            _, high, body = arg
            if high > 1 and repeated:
                return "a quantifier inside a repeated group (like (a+)+)"
            if high > 1 and _nullable(list(body)):
                return "a repeated group that can match nothing (like (a*)*)"
            if problem := _danger(list(body), repeated or high > 1):
                return problem
        elif op is sre.IN and repeated and _class_overlaps(arg):
            # re's parser folds one-character alternatives into a class: (a|[a-c])+ arrives
            # here as [aa-c], and the regex module backtracks through both ways of each match.
            return "alternatives inside a repeated group that can start alike (like (a|[a-c])+)"
        elif op is sre.BRANCH:
            if repeated and _overlapping(arg[1]):
                return "alternatives inside a repeated group that can start alike (like (a|aa)+)"
            if problem := next(filter(None, (_danger(list(b), repeated) for b in arg[1])), None):
                return problem
        elif (inner := _inner(op, arg)) is not None and (problem := _danger(inner, repeated)):
            return problem
    return None


def _inner(op: object, arg: Any) -> list[Any] | None:
    """The items of a group, an atomic group or a lookaround; None for anything else."""
    if op is sre.SUBPATTERN:
        return list(arg[3])
    if op is sre.ATOMIC_GROUP:
        return list(arg)
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return list(arg[1])
    return None


def _overlapping(branches: list[Any]) -> bool:
    """Two alternatives could start with the same character, or one can match nothing."""
    starts: list[frozenset[str] | None] = []
    for branch in branches:
        if _nullable(list(branch)):
            return True
        starts.append(_first(list(branch)))
    for i, one in enumerate(starts):
        for other in starts[i + 1:]:
            if one is None or other is None or one & other:
                return True
    return False


def _class_overlaps(members: list[Any]) -> bool:
    """Two members of a character class can match the same character (or cannot be told)."""
    if any(op is sre.NEGATE for op, _ in members):
        return False  # [^...]: one way to match a character
    sets = [_class_first([member]) for member in members]
    for i, one in enumerate(sets):
        for other in sets[i + 1:]:
            if one is None or other is None or one & other:
                return True
    return False


def _nullable(items: list[Any]) -> bool:
    return all(_item_nullable(op, arg) for op, arg in items)


def _item_nullable(op: object, arg: Any) -> bool:
    if op in REPEATS:
        return arg[0] == 0 or _nullable(list(arg[2]))
    if op is sre.BRANCH:
        return any(_nullable(list(b)) for b in arg[1])
    if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
        return True
    inner = _inner(op, arg)
    return inner is not None and _nullable(inner)


def _first(items: list[Any]) -> frozenset[str] | None:
    """The characters a match of `items` can start with; None: too many to tell (treated as any)."""
    found: set[str] = set()
    for op, arg in items:
        if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            continue
        one = _item_first(op, arg)
        if one is None:
            return None
        found |= one
        if not _item_nullable(op, arg):
            break
    return frozenset(found)


def _item_first(op: object, arg: Any) -> frozenset[str] | None:
    if op is sre.LITERAL:
        return frozenset(chr(arg))
    if op is sre.IN:
        return _class_first(arg)
    if op in REPEATS:
        return _first(list(arg[2]))
    if op is sre.BRANCH:
        starts = [_first(list(b)) for b in arg[1]]
        return None if None in starts else frozenset().union(*starts)  # type: ignore[arg-type]
    inner = _inner(op, arg)
    return _first(inner) if inner is not None else None


def _class_first(members: list[Any]) -> frozenset[str] | None:
    chars: set[str] = set()
    for op, arg in members:
        if op is sre.LITERAL:
            chars.add(chr(arg))
        elif op is sre.RANGE and arg[1] - arg[0] <= WIDE_RANGE:
            chars.update(chr(code) for code in range(arg[0], arg[1] + 1))
        elif op is sre.CATEGORY and arg is sre.CATEGORY_DIGIT:
            chars.update("0123456789")
        else:  # negated, wide or a category like \w: could be anything
            return None
    return frozenset(chars)


# -- the seed file: one rule a line --

def parse_line(line: str) -> RuleSpec | None:
    """One line of filter.seed_file: `[action:][re:]pattern`; None for a blank line or a `#` comment.

    `bad` blocks the word, `review:bad`, `replace:bad`, `allow:badminton`; `re:b+a+d` blocks
    a regex, `review:re:...` holds it for review. InvalidInput says what is wrong.
    """
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    action, kind = BLOCK, WORD
    head, sep, rest = text.partition(":")
    if sep and head.strip().lower() in ACTIONS:
        action, text = head.strip().lower(), rest.strip()
    head, sep, rest = text.partition(":")
    if sep and head.strip().lower() == "re":
        kind, text = REGEX, rest.strip()
    return check_rule(RuleSpec(text, kind, action, "seed file"))


def parse_seed(text: str, name: str) -> list[RuleSpec]:
    """Every rule of a seed file; InvalidInput naming the file and the line of the first bad one."""
    specs = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            spec = parse_line(line)
        except InvalidInput as exc:
            raise InvalidInput(f"{name}, line {number}: {exc}") from None
        if spec is not None:
            specs.append(spec)
    return specs
