"""The normalised copy of a text that filter rules, "already sent" and ×N merging compare.

The text on screen is always the original; this copy only decides. In this order:

1. NFKC: full-width and other compatibility forms become plain (`ｂａｄ` → `bad`);
2. casefold (`BAD`, `Straße` → `bad`, `strasse`);
3. combining marks removed: NFKD, then every Mn/Me dropped (`bäd` → `bad`);
4. common leet folded: 0→o, 1→i, 3→e, 4→a, 5→s, 7→t, @→a, $→s;
5. Cyrillic and Greek look-alikes folded to Latin (`bаd` with a Cyrillic а → `bad`);
6. everything that is not a letter or a digit dropped: spaces, punctuation, symbols,
   zero-width and other format characters (`b.a.d`, `b a d`, `b\u200bad` → `bad`).

Chinese and Japanese pass through steps 1-6 as letters (category Lo), so `坏 人` → `坏人`.
Step 3 also takes the voicing marks off kana (が → か), on rules and texts alike.

`normalize_spans` also says where each kept character came from in the original, so a
`replace` rule can star out the original's span and an `allow` match can cover block matches
inside its own span.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})

# Lower-case look-alikes (after casefold) that render like a Latin letter in common fonts.
LOOKALIKES = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "ʏ": "y", "ɡ": "g", "һ": "h", "ӏ": "l", "ү": "y", "ց": "g", "օ": "o",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w", "γ": "y", "μ": "u", "ϲ": "c", "ς": "s", "σ": "o",
})

MARKS = ("Mn", "Me")
FOLD_CACHE = 65_536  # characters whose fold is kept (bounded: a script can send any code point)


def normalize(text: str) -> str:
    """The normalised copy (steps 1-6 above)."""
    if text.isascii():  # most messages: one C-speed pass (ASCII to ASCII has its own fast path)
        return text.translate(_ASCII_FOLDS)
    # One C-speed pass over a table of folds: each character costs a dict look-up (the Python
    # loop over characters cost 5-8 µs a line, this under 1).
    return text.translate(_FOLDS)


def normalize_spans(text: str) -> tuple[str, list[int]]:
    """The normalised copy, and for each of its characters the index in `text` it came from."""
    pairs = _kept(text)
    return "".join(c for c, _ in pairs), [i for _, i in pairs]


class _FoldTable(dict[int, str]):
    """Code point → its fold, filled on first use; `str.translate` reads it. Bounded: a script
    can send any code point, so past FOLD_CACHE entries it starts over."""

    def __missing__(self, code: int) -> str:
        if len(self) >= FOLD_CACHE:
            self.clear()
        folded = self[code] = _fold(chr(code))
        return folded


_FOLDS = _FoldTable()


def _kept(text: str) -> list[tuple[str, int]]:
    kept: list[tuple[str, int]] = []
    for index, char in enumerate(text):
        for folded in _fold(char):
            kept.append((folded, index))
    return kept


@lru_cache(maxsize=FOLD_CACHE)
def _fold(char: str) -> str:
    """One original character, through steps 1-6: zero or more characters. Cached: a chat
    repeats the same few thousand characters (CJK, emoji), and each costs a few Unicode
    table look-ups the first time (measured: normalize 16 µs a text uncached)."""
    if char.isascii():  # the common case, without the Unicode tables
        low = char.lower().translate(LEET)
        return low if low.isalnum() else ""
    text = unicodedata.normalize("NFKC", char).casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if unicodedata.category(c) not in MARKS)
    text = text.translate(LEET).translate(LOOKALIKES)
    return "".join(c for c in text if unicodedata.category(c)[0] in "LN")


_ASCII_FOLDS = {code: _fold(chr(code)) or None for code in range(128)}
