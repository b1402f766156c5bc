"""Screening: what the filter rules and the room's mode make of a barrage before it is stored.

The seam every submission passes (BarrageService.submit): `screen(draft, mode)` gives the
status to store it with and the draft as stored (its flags, its reason and, for `replace`
rules, the text with `***`).

Rules (server/core/rules.py) match the normalised copy (server/core/normalize.py), never
the text as typed: word rules through one Aho-Corasick automaton (pyahocorasick), regex
rules one by one with the `regex` module's timeout. An `allow` match exempts the other
matches inside its own span ("Scunthorpe"). Links are found in the original text.

The compiled rules are an immutable `Matcher`, built off the hot path and swapped in whole:
at start, after a change made here, and on every `filters` event from another process.
"""

from __future__ import annotations

import asyncio
import logging
import re
import re._constants as sre_constants
import re._parser as sre_parse
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import ahocorasick
import regex

from server.core.errors import NotFound
from server.core.model import (
    REASON_BLOCKED,
    REASON_LINK,
    REASON_REVIEW,
    Draft,
    Event,
    EventKind,
    Mode,
    Status,
)
from server.core.normalize import normalize, normalize_spans
from server.core.ports import Store
from server.core.rules import ALLOW, BLOCK, REPLACE, REVIEW, WORD, Rule, RuleSpec, check_rule

logger = logging.getLogger(__name__)

# A regex rule's match gives up after this long and holds the barrage for review instead:
# the backstop behind check_rule's static refusal of catastrophic patterns.
REGEX_TIMEOUT_SECONDS = 0.005
LINK = "link"
CLASSIFIER = "classifier"
STARS = "***"
# Links are looked for in the text as typed (NFKC'd: `ｗｗｗ．` is `www.`): a scheme, `www.`,
# or a dotted name ending in a top-level domain people use (not "e.g" or "3.14").
TLDS = ("com|net|org|io|co|me|info|biz|app|dev|xyz|top|site|online|shop|club|link|live|gg|tv|ly|to|"
        "be|us|uk|ru|cn|de|fr|jp|kr|in|br|it|es|nl|pl|au|ca|ch|se|no|tk|ml|ga|cf|gq|cc|ws|la|su|ua|"
        "eu|asia|pro|tech|store|blog|page|xxx|porn|sex|bet|casino|win|vip|icu|cyou|sbs|click")
# Found from the dot: a label character, then `.tld` at a word's end (the search tries only
# the dots; starting from every word boundary cost 6 µs a text, this 1.7).
LINK_PATTERN = re.compile(
    rf"(?i)\b(?:https?://|www\.)\S|(?<=[a-z0-9-])\.(?:{TLDS})\b(?![.-][a-z0-9])")

Classifier = Callable[[str], float]  # a text's probability of being offensive, 0..1


@dataclass(frozen=True)
class Found:
    """What the rules found in one text."""

    blocked: bool = False
    held: tuple[str, ...] = ()  # flags that want a human: "rule:<id>" of review rules (and timeouts)
    blocked_by: tuple[str, ...] = ()  # "rule:<id>" of the block rules that matched
    starred: tuple[tuple[int, int], ...] = ()  # spans of the normalised text to show as ***


NOTHING = Found()

class Matcher:
    """The rules, compiled: immutable, so a rebuild swaps it in whole and screens never wait."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._words = _automaton(rule for rule in rules if rule.kind == WORD)
        regexes = [(rule, regex.compile(rule.pattern)) for rule in rules if rule.kind != WORD]
        # A regex that starts with a literal ("abc[a-z]{1,3}") runs only when an automaton of
        # those literals finds its start in the text; the rest run after one search of their
        # alternation says one of them matches at all.
        self._by_prefix = _automaton_of(regexes)
        self._regexes = [item for item in regexes if len(_literal_prefix(item[0].pattern)) < MIN_PREFIX]
        self._any_regex = _alternation([rule.pattern for rule, _ in self._regexes])

    def find(self, norm: str) -> Found:
        matches = self._word_matches(norm)
        matches += self._regex_matches(norm)
        if not matches:
            return NOTHING
        allowed = [(start, end) for start, end, rule in matches if rule.action == ALLOW]
        blocked_by: dict[str, None] = {}  # dicts: the flags once each, in the order found
        held: dict[str, None] = {}
        starred = []
        for start, end, rule in matches:
            if rule.action == ALLOW or any(a <= start and end <= b for a, b in allowed):
                continue
            if rule.action == BLOCK:
                blocked_by[f"rule:{rule.id}"] = None
            elif rule.action == REVIEW:
                held[f"rule:{rule.id}"] = None
            elif rule.action == REPLACE:
                starred.append((start, end))
        return Found(bool(blocked_by), tuple(held), tuple(blocked_by), tuple(starred))

    def _word_matches(self, norm: str) -> list[tuple[int, int, Rule]]:
        if not len(self._words) or not norm:  # an automaton with no words cannot iterate
            return []
        return [(end - length + 1, end + 1, rule)
                for end, (length, rules) in self._words.iter(norm) for rule in rules]

    def _regex_matches(self, norm: str) -> list[tuple[int, int, Rule]]:
        candidates: dict[int, tuple[Rule, regex.Pattern[str]]] = {}
        if len(self._by_prefix) and norm:
            for _, items in self._by_prefix.iter(norm):
                candidates.update((rule.id, (rule, compiled)) for rule, compiled in items)
        if self._regexes and self._might_match(norm):
            candidates.update((rule.id, (rule, compiled)) for rule, compiled in self._regexes)
        found: list[tuple[int, int, Rule]] = []
        for rule, compiled in candidates.values():
            try:
                matches = compiled.finditer(norm, timeout=REGEX_TIMEOUT_SECONDS)
                found.extend((m.start(), m.end(), rule) for m in matches if m.end() > m.start())
            except TimeoutError:  # a human decides what the rule could not
                found.append((0, 0, replace(rule, action=REVIEW)))
        return found


    def _might_match(self, norm: str) -> bool:
        """Whether any regex rule matches at all: one search of their alternation instead of one
        per rule (most texts match none; measured 4x cheaper with 100 regex rules)."""
        if self._any_regex is None:
            return True
        try:
            return self._any_regex.search(norm, timeout=REGEX_TIMEOUT_SECONDS) is not None
        except TimeoutError:
            return True  # the rules one by one: the one that times out holds it for review


def _alternation(patterns: list[str]) -> regex.Pattern[str] | None:
    """Every pattern in one; None when they do not combine (a flag or a group name inside).
    The `regex` module, searched with a timeout: check_rule cannot refuse every slow pattern
    (`a*a*a*a*b`), and the standard library's `re` has no timeout to stop one."""
    if len(patterns) < 2:
        return None
    try:
        return regex.compile("|".join(f"(?:{pattern})" for pattern in patterns))
    except (regex.error, RecursionError, OverflowError):
        return None


MIN_PREFIX = 2  # a literal start this long picks the regex out by automaton


def _literal_prefix(pattern: str) -> str:
    """The literal characters a regex must start with ("" when it may start otherwise)."""
    try:
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return ""
    prefix = []
    for op, value in parsed:
        if op is not sre_constants.LITERAL:
            break
        prefix.append(chr(value))
    found = "".join(prefix)
    # The text is casefolded: an ignore-case pattern's literal is looked for the same way.
    return found.casefold() if parsed.state.flags & re.IGNORECASE else found


def _automaton_of(regexes: list[tuple[Rule, regex.Pattern[str]]]) -> ahocorasick.Automaton:
    """The regexes with a literal start, keyed by it."""
    automaton = ahocorasick.Automaton()
    for item in regexes:
        if len(prefix := _literal_prefix(item[0].pattern)) >= MIN_PREFIX:
            automaton.add_word(prefix, (*automaton.get(prefix, ()), item))
    if len(automaton):
        automaton.make_automaton()
    return automaton


def _automaton(rules: Iterable[Rule]) -> ahocorasick.Automaton:
    """One automaton for every word rule; a key's value: its length, and the rules with that
    normalised word."""
    automaton = ahocorasick.Automaton()
    for rule in rules:
        key = normalize(rule.pattern)
        _, same = automaton.get(key, (0, ()))
        automaton.add_word(key, (len(key), (*same, rule)))
    if len(automaton):
        automaton.make_automaton()
    return automaton


# A link has a dot or "://": these are every character whose NFKC form has a `.` or a `:`
# (full-width, small and presentation forms, leaders, "⒈"; tests/core/test_filters.py checks
# the list against the Unicode tables). A text with none of them is not searched.
LINK_MARKS = frozenset(".:\u2024\u2025\u2026\u2488\u2489\u248a\u248b\u248c\u248d\u248e\u248f"
                       "\u2490\u2491\u2492\u2493\u2494\u2495\u2496\u2497\u2498\u2499\u249a\u249b"
                       "\u2a74\u33c2\u33c7\u33d8\ufe13\ufe19\ufe30\ufe52\ufe55\uff0e\uff1a\U0001f100")


# A dot, then a word: a top-level domain if it is one of TLDS (the label before the dot is
# LINK_PATTERN's to check). Starting with the literal dot lets `re` skip to each dot.
_DOT_WORD = re.compile(r"\.([a-z]{2,7})\b")
_TLD_SET = frozenset(TLDS.split("|"))


def has_link(text: str) -> bool:
    """LINK_PATTERN's answer, asked cheaply: its TLD alternation costs ~5 µs on a text full of
    dots ("B.A.D"), so the full pattern runs only where there is a scheme or a dotted word
    that is a known TLD."""
    if LINK_MARKS.isdisjoint(text):  # most messages
        return False
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    low = text.lower()
    if ("://" not in low and "www." not in low
            and not any(word in _TLD_SET for word in _DOT_WORD.findall(low))):
        return False
    return LINK_PATTERN.search(text) is not None


def star(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """`text` with each span of its normalised copy, mapped back to the original, as ***."""
    _, origin = normalize_spans(text)
    cuts = sorted((origin[start], origin[end - 1] + 1) for start, end in spans if end > start)
    merged: list[list[int]] = []
    for start, end in cuts:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, at = [], 0
    for start, end in merged:
        out += [text[at:start], STARS]
        at = end
    return "".join([*out, text[at:]])


class Filters:
    """The rules in force on this process, and the mode's verdict on each draft.

    `links`: filter.links ("allow" | "review" | "block"). `classifier`: the optional model
    (filter.classifier), with `threshold` above which it holds a barrage for review.
    `store`: where the rules live (the Store port's filter methods); None: no rules at all.
    """

    def __init__(self, store: Store | None = None, links: str = "review",
                 classifier: Classifier | None = None, threshold: float = 0.8) -> None:
        self._store = store
        self._links = links
        self._classifier = classifier
        self._threshold = threshold
        self.matcher = Matcher(())
        self._reload: asyncio.Task[None] | None = None
        self._stale = False
        self._loads = 0  # loads started; the matcher in use is from load number _loaded
        self._loaded = 0

    # -- screening: the hot path, no I/O --

    def screen(self, draft: Draft, mode: Mode) -> tuple[Status, Draft]:
        found = self.matcher.find(draft.norm)
        link = self._links != "allow" and has_link(draft.text)
        changes: dict[str, object] = {}
        if found.starred:
            changes["text"] = star(draft.text, found.starred)
        if found.blocked or (link and self._links == "block"):
            changes["flags"] = (*found.blocked_by, *((LINK,) if link else ()))
            changes["reason"] = REASON_BLOCKED if found.blocked else REASON_LINK
            return Status.REJECTED, draft.but(**changes)
        flags = (*found.held, *((LINK,) if link else ()), *self._classified(draft, mode))
        if flags:
            changes["flags"] = flags
        status = Status.APPROVED
        if mode is Mode.MANUAL:
            status = Status.PENDING
        elif mode is Mode.AUTO and flags:
            status, changes["reason"] = Status.PENDING, REASON_REVIEW
        return status, draft.but(**changes) if changes else draft

    def _classified(self, draft: Draft, mode: Mode) -> tuple[str, ...]:
        if self._classifier is None or mode is Mode.OFF:  # off: nobody would review it
            return ()
        try:
            score = self._classifier(draft.text)
        except Exception:  # a model's failure must not refuse a submission
            logger.exception("the classifier failed; the barrage is screened without it")
            return ()
        return (CLASSIFIER,) if score > self._threshold else ()

    # -- the rules: stored in the database, kept current by the log --

    def rules(self) -> list[Rule]:
        return list(self.matcher.rules)

    async def load(self) -> None:
        """Read every rule from the store and swap in a matcher built from them, unless a load
        that started later has swapped in its own: two loads overlap (a change's own and the
        reload an earlier change's event started), and the one that read first may finish
        last, which put a deleted rule back."""
        self._loads += 1
        mine = self._loads
        rules = await self._store.filter_rules() if self._store is not None else []
        # Built in a thread: 10,000 rules take tens of milliseconds the loop need not wait for.
        matcher = await asyncio.to_thread(Matcher, rules)
        if mine > self._loaded:
            self.matcher, self._loaded = matcher, mine

    async def add(self, spec: RuleSpec, by: str) -> Rule:
        """Check `spec` (InvalidInput), store it with its `filters` event, and use it here at once."""
        assert self._store is not None
        rule, _ = await self._store.add_filter_rule(check_rule(spec), by)
        await self.load()
        logger.info("filter rule %s (%s %s) added by %s", rule.id, rule.action, rule.kind, by)
        return rule

    async def remove(self, rule_id: int, by: str) -> Rule:
        """Delete the rule (NotFound), with its `filters` event."""
        assert self._store is not None
        rule, _ = await self._store.delete_filter_rule(rule_id, by)
        await self.load()
        logger.info("filter rule %s removed by %s", rule.id, by)
        return rule

    # -- /block and /unblock in the chats: a word or phrase, compared normalised --

    async def block_word(self, word: str, by: str) -> tuple[Rule, bool]:
        """A `block` word rule for `word` (a phrase may have spaces): the one already stored for
        the same normalised word and False, or a new one and True. InvalidInput for bad input."""
        spec = check_rule(RuleSpec(word, WORD, BLOCK))
        # The database's rules, not this process's matcher: another node may have added it.
        if same := await self._blocking(spec.pattern):
            return same[0], False
        return await self.add(spec, by), True

    async def unblock_word(self, word: str, by: str) -> list[Rule]:
        """Delete every `block` word rule whose normalised pattern is `word`'s; the ones deleted."""
        spec = check_rule(RuleSpec(word, WORD, BLOCK))
        assert self._store is not None
        removed = []
        for rule in await self._blocking(spec.pattern):
            try:
                removed.append((await self._store.delete_filter_rule(rule.id, by))[0])
            except NotFound:  # deleted meanwhile (the API, another node): gone either way
                continue
        if removed:
            await self.load()
            logger.info("filter rules %s removed by %s", [rule.id for rule in removed], by)
        return removed

    async def _blocking(self, word: str) -> list[Rule]:
        assert self._store is not None
        key = normalize(word)
        return [rule for rule in await self._store.filter_rules()
                if rule.kind == WORD and rule.action == BLOCK and normalize(rule.pattern) == key]

    async def seed(self, specs: Sequence[RuleSpec]) -> None:
        """The seed file's rules, on a database never seeded before; then load every rule."""
        if self._store is not None:
            count, _ = await self._store.seed_filter_rules(specs)
            if count:
                logger.info("seeded %d filter rules from filter.seed_file", count)
        await self.load()

    def on_event(self, event: Event) -> None:
        """Bus handler: the rules changed on some process. The reload runs beside the loop's
        other work; changes arriving meanwhile make one more reload, not one each."""
        if not isinstance(event, Event) or event.kind is not EventKind.FILTERS or self._store is None:
            return
        self._stale = True
        if self._reload is None or self._reload.done():
            self._reload = asyncio.get_running_loop().create_task(self._follow())

    async def _follow(self) -> None:
        while self._stale:
            self._stale = False
            try:
                await self.load()
            except Exception:  # logged; the next change (or restart) loads them again
                logger.exception("reloading the filter rules failed; the previous ones stay in force")

    async def close(self) -> None:
        if self._reload is not None:
            self._reload.cancel()
