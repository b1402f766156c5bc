"""The words people read, in their language: pages, bot replies, cards.

One catalogue per language and domain: `server/core/locales/<language>/<domain>.json`, a flat
JSON object of key → text, with `{name}` placeholders filled by `text()`. Domains keep the
parts apart (`pages`, `chat`, ...); every language has every key of every domain
(tests/core/test_i18n.py fails otherwise), so a missing translation is a failed test, not an
English line in a Chinese page.

Which language: `ui.language` (server/config.py) is "en", "zh-CN" or "auto". Under "auto"
each reader gets their own: a page by its `Accept-Language` (`negotiate`), a chat reply by
the platform's locale (`from_locale`: Telegram's `language_code`, Slack's user locale);
anything unknown is English. Any Chinese variant gets zh-CN for now.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "zh-CN")
DEFAULT = "en"
AUTO = "auto"
LOCALES = Path(__file__).with_name("locales")
MAX_HEADER = 512  # of Accept-Language looked at: a stranger's header costs a bounded parse
MAX_RANGES = 16


def supported(code: str | None) -> str | None:
    """The catalogue language for a language tag ("zh-Hant-TW" → zh-CN, "en_US" → en), or None."""
    if not code:
        return None
    primary = code.strip().replace("_", "-").split("-", 1)[0].casefold()
    return {"zh": "zh-CN", "en": "en"}.get(primary)


def from_locale(code: str | None, setting: str = AUTO) -> str:
    """A chat reader's language: the configured one, or under "auto" their platform locale's."""
    if setting != AUTO:
        return setting
    return supported(code) or DEFAULT


def negotiate(accept_language: str | None, setting: str = AUTO) -> str:
    """A page's language: the configured one, or under "auto" the best of Accept-Language."""
    if setting != AUTO:
        return setting
    best, best_q = DEFAULT, 0.0
    for part in (accept_language or "")[:MAX_HEADER].split(",")[:MAX_RANGES]:
        tag, _, params = part.partition(";")
        language = supported(tag)
        q = _quality(params)
        if language is not None and q > best_q:
            best, best_q = language, q
    return best


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().casefold() == "q":
            try:
                q = float(value)
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


@cache
def catalogue(domain: str, language: str) -> dict[str, str]:
    """`domain`'s texts in `language` (read once)."""
    if language not in LANGUAGES:
        raise ValueError(f"no catalogue for language {language!r}")
    path = LOCALES / language / f"{domain}.json"
    texts: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return texts


def domains() -> list[str]:
    return sorted(path.stem for path in (LOCALES / DEFAULT).glob("*.json"))


def text(domain: str, language: str, key: str, **values: Any) -> str:
    """The text for `key` in `language`, its `{name}` placeholders filled from `values`."""
    template = catalogue(domain, language if language in LANGUAGES else DEFAULT)[key]
    return template.format(**values) if values else template
