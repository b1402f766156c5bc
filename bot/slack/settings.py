"""The [slack] config section, declared beside the adapter that reads it.

server/config.py composes it into the whole config; declaring it here keeps bot/
free of server/ imports other than the core.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from server.core.secret import Secret
from server.core.section import HTTP_URL, NOT_NEGATIVE, CommaList, Section, between


class SlackConfig(Section):
    enabled: bool = False
    mode: Literal["http", "socket"] = "http"
    bot_token: Secret = Secret("")
    signing_secret: Secret = Secret("")
    app_token: Secret = Secret("")
    api_base_url: Annotated[str, HTTP_URL] = "https://slack.com/api/"
    moderation_channel: str = ""
    # Strings: a Slack id such as U0123 is never a number, and a number would never match.
    moderators: CommaList[str] = Field(default_factory=list)
    member_cache_seconds: Annotated[float, NOT_NEGATIVE] = 300.0
    socket_ping_seconds: Annotated[float, between(1, 60)] = 10.0
    # How often the card loops look for work nobody woke them for (a decision on
    # another node, until the bus carries it there).
    card_sweep_seconds: Annotated[float, between(0.1, 3600)] = 30.0

    @field_validator("bot_token")
    @classmethod
    def _bot_token_when_enabled(cls, token: Secret, info: ValidationInfo) -> Secret:
        if info.data.get("enabled") and not token:
            raise ValueError("required when slack.enabled (set BARRAGE_SLACK_BOT_TOKEN)")
        return token

    @field_validator("signing_secret")
    @classmethod
    def _signing_secret_in_http_mode(cls, secret: Secret, info: ValidationInfo) -> Secret:
        if info.data.get("enabled") and info.data.get("mode") == "http" and not secret:
            raise ValueError("required in http mode (set BARRAGE_SLACK_SIGNING_SECRET)")
        return secret

    @field_validator("app_token")
    @classmethod
    def _app_token_in_socket_mode(cls, token: Secret, info: ValidationInfo) -> Secret:
        if (info.data.get("enabled") and info.data.get("mode") == "socket"
                and not token.reveal().startswith("xapp-")):
            raise ValueError("Socket Mode needs an app-level token starting with xapp- "
                             "(set BARRAGE_SLACK_APP_TOKEN)")
        return token
