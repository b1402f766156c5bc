"""Input policy: what a submission may contain, cleaned the same way for every channel."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

import regex

from server.core.errors import InvalidInput, RateLimited
from server.core.model import Size

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
    """A display name (a moderator's, say): cleaned and cut to `limit` clusters."""
    return "".join(clean_clusters(raw[: limit * 40])[:limit]) or default


def grapheme_count(text: str) -> int:
    return len(_GRAPHEME.findall(text))


def is_ascii_number(raw: str, max_digits: int) -> bool:
    """0-9 only: str.isdigit() also accepts "²" and "٣", which int() refuses."""
    return 0 < len(raw) <= max_digits and raw.isascii() and raw.isdigit()


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
        if len(raw) > self.max_text_length * 40:
            raise InvalidInput(f"text is too long (at most {self.max_text_length} characters)")
        clusters = clean_clusters(raw)
        if not clusters:
            raise InvalidInput("text is empty")
        if len(clusters) > self.max_text_length:
            raise InvalidInput(f"text is too long (at most {self.max_text_length} characters)")
        return "".join(clusters)

    def author(self, raw: str | None, shorten: bool = False) -> str:
        """A name typed on the web page is refused when too long; a chat platform's
        profile name (`shorten`) is cut instead: its owner cannot change it here."""
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
        return "".join(clusters) or DEFAULT_AUTHOR


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
