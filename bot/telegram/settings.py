"""The [telegram] config section, declared beside the adapter that reads it.

server/config.py composes it into the whole config; declaring it here keeps bot/
free of server/ imports other than the core.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from server.core.secret import Secret
from server.core.section import HTTP_URL, NOT_NEGATIVE, CommaList, Section, between


class TelegramConfig(Section):
    enabled: bool = False
    mode: Literal["polling", "webhook"] = "polling"
    token: Secret = Secret("")
    webhook_secret: Secret = Secret("")
    api_base_url: Annotated[str, HTTP_URL] = "https://api.telegram.org/bot"
    moderator_chat_id: int = 0
    moderators: CommaList[int] = Field(default_factory=list)
    admin_cache_seconds: Annotated[float, NOT_NEGATIVE] = 300.0
    poll_timeout_seconds: Annotated[float, NOT_NEGATIVE] = 10.0
    # Polled updates handed to the handlers and not finished yet. At the limit the poller
    # fetches no more (Telegram keeps them): slow handlers cannot grow memory without bound.
    # PTB's own default for concurrent handling.
    max_updates_in_flight: Annotated[int, between(1, 10_000)] = 256
    # How often the card loops look for work nobody woke them for (a decision on
    # another node, until the bus carries it there).
    card_sweep_seconds: Annotated[float, between(0.1, 3600)] = 30.0

    @field_validator("token")
    @classmethod
    def _token_when_enabled(cls, token: Secret, info: ValidationInfo) -> Secret:
        if info.data.get("enabled") and not token:
            raise ValueError("required when telegram.enabled (set BARRAGE_TELEGRAM_TOKEN)")
        return token

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, secret: Secret, info: ValidationInfo) -> Secret:
        if not (info.data.get("enabled") and info.data.get("mode") == "webhook"):
            return secret
        text = secret.reveal()
        if not text:
            raise ValueError("required in webhook mode (set BARRAGE_TELEGRAM_WEBHOOK_SECRET)")
        # Telegram's own rule for secret_token: 1-256 of A-Z a-z 0-9 _ -
        if len(text) > 256 or not all(c.isascii() and (c.isalnum() or c in "_-") for c in text):
            raise ValueError("1-256 characters of A-Z, a-z, 0-9, _ and -")
        return secret
