"""Input policy: what a submission may contain, cleaned the same way for every channel."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

import regex

from server.core.errors import InvalidInput, RateLimited
from server.core.model import MAX_ID, Size

# Explicit bidi embeddings, overrides and isolates: they let a comment reorder
# the text around it (the "Trojan Source" trick), so they never reach a screen.
_BIDI_CONTROLS = dict.fromkeys(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]
)
_WHITESPACE_RUN = re.compile(r"\s+")
_HEX_COLOR = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_GRAPHEME = regex.compile(r"\X")
# A single cluster may stack combining marks without bound ("Zalgo" text),
# which draws far outside its lane; keep a few, enough for real scripts.
MAX_MARKS_PER_CLUSTER = 4
# A grapheme cluster can also chain thousands of Hangul jamo or ZWJ-joined emoji
# into "one character" that draws tens of thousands of pixels wide. Real
# clusters need far fewer: the longest RGI emoji ZWJ sequences have 6 parts
# beyond their base once their skin tones and emoji presentation are counted
# as attributes of the code point they follow (see `_parts_beyond_base`).
MAX_PARTS_PER_CLUSTER = 8
# Code points in all, per allowed character: bounds what an emoji-heavy or
# padded message costs to store, send and draw.
CODE_POINTS_PER_CHARACTER = 4
# What draws nothing on a screen. A text with no code point outside this class
# is blank. Default_Ignorable_Code_Point is Unicode's own list of what renderers
# skip (ZWSP/ZWJ/ZWNJ, BOM, word joiners, variation selectors, tag characters,
# the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0, Khmer inherent vowels…);
# besides it: whitespace, controls, lone surrogates, private use (no font on the
# screen has glyphs for it), unassigned code points and noncharacters (Cn),
# marks with no base to sit on (Mn, Me), format characters (Cf) except the
# Arabic number signs that are drawn (Prepended_Concatenation_Mark), and two
# assigned symbols whose glyph is empty: U+2800 BRAILLE PATTERN BLANK and
# U+1D159 MUSICAL SYMBOL NULL NOTEHEAD. The `regex` module's Unicode tables are
# newer than Python's, so this year's emoji are not mistaken for unassigned.
_INVISIBLE = (r"\p{Default_Ignorable_Code_Point}\p{White_Space}\p{Cc}\p{Cs}\p{Co}\p{Cn}"
              r"\p{Mn}\p{Me}[\p{Cf}--\p{Prepended_Concatenation_Mark}]\u2800\U0001D159")
_VISIBLE = regex.compile(rf"[^{_INVISIBLE}]", regex.V1)
# Emoji skin tones and text/emoji presentation selectors style the code point they follow.
_ATTRIBUTES = frozenset(["\ufe0e", "\ufe0f", *map(chr, range(0x1F3FB, 0x1F400))])

COLOR_PRESETS: dict[str, str] = {
    "white": "#ffffff",
    "red": "#ff4d4f",
    "orange": "#ff9f1c",
    "yellow": "#ffe14d",
    "green": "#52d273",
    "cyan": "#3dd6d0",
    "blue": "#4d9dff",
    "purple": "#b57bff",
    "pink": "#ff77c8",
}
DEFAULT_COLOR = COLOR_PRESETS["white"]
DEFAULT_AUTHOR = "Anonymous"


def clean_text(raw: str) -> str:
    """NFC, no control or bidi characters, whitespace runs folded, trimmed."""
    return "".join(clean_clusters(raw))


def clean_clusters(raw: str) -> list[str]:
    """`clean_text`, as its grapheme clusters (so callers can count without a second pass)."""
    if raw.isascii() and raw.isprintable():
        return list(" ".join(raw.split()))  # the common case: one character, one cluster
    text = unicodedata.normalize("NFC", raw).translate(_BIDI_CONTROLS)
    text = _WHITESPACE_RUN.sub(" ", text)
    # Cc: control characters; Cs: lone surrogates, which no database can store.
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cs"))
    return [_tame_cluster(c) for c in _GRAPHEME.findall(text.strip())]


def _tame_cluster(cluster: str) -> str:
    if len(cluster) <= MAX_MARKS_PER_CLUSTER + 1:
        return cluster
    kept, marks = [], 0
    for ch in cluster:
        if unicodedata.category(ch) in ("Mn", "Me"):
            marks += 1
            if marks > MAX_MARKS_PER_CLUSTER:
                continue
        kept.append(ch)
    return "".join(kept)


def clean_name(raw: str, limit: int, default: str) -> str:
    """A display name (a moderator's, say): cleaned and cut to `limit` clusters.

    A name comes from a chat profile its owner cannot change here, so it is
    never refused: an oversized cluster is dropped, the rest cut to fit, and a
    name that shows nothing becomes `default`.
    """
    clusters = [c for c in clean_clusters(raw[: limit * 40]) if not _too_many_parts(c)]
    kept: list[str] = []
    budget = limit * CODE_POINTS_PER_CHARACTER
    for cluster in clusters[:limit]:
        budget -= len(cluster)
        if budget < 0:
            break
        kept.append(cluster)
    name = "".join(kept).strip()
    return name if is_visible(name) else default


def is_visible(text: str) -> bool:
    """Does `text` draw anything at all? (See `_INVISIBLE` for what does not.)"""
    if text.isascii():
        return any("!" <= c <= "~" for c in text)
    return _VISIBLE.search(text) is not None


def _too_many_parts(cluster: str) -> bool:
    # Cheap first: a cluster this short cannot be over the bound.
    return len(cluster) > MAX_PARTS_PER_CLUSTER + 1 and _parts_beyond_base(cluster) > MAX_PARTS_PER_CLUSTER


def _parts_beyond_base(cluster: str) -> int:
    """Code points after the first, but a skin tone or presentation selector that
    directly follows an ordinary code point is part of it (👩🏻 is one part): the
    kiss with two skin tones, 👩🏻‍❤️‍💋‍👨🏼, is 10 code points and 6 parts beyond its base."""
    parts, previous = 0, cluster[0]
    for ch in cluster[1:]:
        if not (ch in _ATTRIBUTES and previous not in _ATTRIBUTES):
            parts += 1
        previous = ch
    return parts


def grapheme_count(text: str) -> int:
    return len(_GRAPHEME.findall(text))


def is_ascii_number(raw: str, max_digits: int) -> bool:
    """0-9 only: str.isdigit() also accepts "²" and "٣", which int() refuses."""
    return 0 < len(raw) <= max_digits and raw.isascii() and raw.isdigit()


def parse_id(raw: object) -> int | None:
    """A database id from outside (a URL, a button): 1 to MAX_ID in ASCII digits, else None."""
    if not isinstance(raw, str) or not is_ascii_number(raw, 10):
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None


def normalize_color(raw: str | None) -> str:
    if raw is None or raw.strip() == "":
        return DEFAULT_COLOR
    value = raw.strip().lower()
    if value in COLOR_PRESETS:
        return COLOR_PRESETS[value]
    match = _HEX_COLOR.fullmatch(value)
    if not match:
        names = ", ".join(COLOR_PRESETS)
        raise InvalidInput(f"color must be #rgb, #rrggbb or one of: {names}")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return f"#{digits}"


def normalize_size(raw: str | None) -> Size:
    if raw is None or raw.strip() == "":
        return Size.MEDIUM
    try:
        return Size(raw.strip().lower())
    except ValueError:
        raise InvalidInput("size must be small, medium or large") from None


@dataclass(frozen=True)
class InputPolicy:
    max_text_length: int = 100
    max_author_length: int = 32

    def text(self, raw: str) -> str:
        # Cheap guard before the per-character work: no screen needs more.
        limit = self.max_text_length
        if len(raw) > limit * 40 or len(clusters := clean_clusters(raw)) > limit:
            raise InvalidInput(f"text is too long (at most {self.max_text_length} characters)")
        if not clusters:
            raise InvalidInput("text is empty")
        text = "".join(clusters)
        if len(text) == len(clusters):
            # One code point per cluster: none oversized, and (cleaned, trimmed, non-empty)
            # ASCII always shows something. The usual message stops here.
            if text.isascii():
                return text
        else:
            _check_size(text, clusters, self.max_text_length, "text")
        if not is_visible(text):
            raise InvalidInput("text is empty: it has nothing visible")
        return text

    def author(self, raw: str | None, shorten: bool = False) -> str:
        """A name typed on the web page is refused when too long; a chat platform's
        profile name (`shorten`) is cut instead: its owner cannot change it here.
        A name that shows nothing is the default, "Anonymous"."""
        if raw is None:
            return DEFAULT_AUTHOR
        if shorten:
            return clean_name(raw, self.max_author_length, DEFAULT_AUTHOR)
        too_long = f"author is too long (at most {self.max_author_length} characters)"
        if len(raw) > self.max_author_length * 40:
            raise InvalidInput(too_long)
        clusters = clean_clusters(raw)
        if len(clusters) > self.max_author_length:
            raise InvalidInput(too_long)
        author = "".join(clusters)
        if len(author) != len(clusters):
            _check_size(author, clusters, self.max_author_length, "author")
        return author if is_visible(author) else DEFAULT_AUTHOR


def _check_size(text: str, clusters: list[str], max_length: int, what: str) -> None:
    """The two bounds a cluster count cannot see: parts per cluster, code points in all."""
    if any(_too_many_parts(c) for c in clusters):
        raise InvalidInput(f"{what} has a character built from too many parts "
                           f"(at most {MAX_PARTS_PER_CLUSTER} beyond its base)")
    if len(text) > max_length * CODE_POINTS_PER_CHARACTER:
        raise InvalidInput(f"{what} is too long (at most {max_length * CODE_POINTS_PER_CHARACTER} "
                           "Unicode code points)")


@dataclass(frozen=True)
class RatePolicy:
    """Per-minute allowances: one per sender (a device, a chat account) and, for the web,
    a backstop per network that counts every submission from it. 0 turns either off."""

    per_sender: int = 20
    per_address: int = 1200

    def windows(self, sender: str | None, address: str | None) -> list[tuple[str, int]]:
        """The (window key, limit) pairs one submission counts against, sender first."""
        found = []
        if sender and self.per_sender > 0:
            found.append((f"sender:{sender}", self.per_sender))
        if address and self.per_address > 0:
            found.append((f"address:{address}", self.per_address))
        return found

    def refusal(self, index: int, wait: float, windows: list[tuple[str, int]]) -> RateLimited:
        key, limit = windows[index]
        seconds = math.ceil(wait)
        if key.startswith("address:"):
            message = f"too many messages from your network right now; try again in {seconds} s"
        else:
            message = f"slow down: at most {limit} messages a minute; try again in {seconds} s"
        return RateLimited(message, retry_after=seconds)
