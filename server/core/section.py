"""What every config section shares: a frozen pydantic model refusing unknown keys,
and the checks it declares on its fields.

A check's message is what follows the key, as in `stream.retry_ms: must be between
100 and 60000`. The server's sections (server/config.py) and the chat adapters'
(bot/*/settings.py) build on this, so it lives in the core, which both may import.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationInfo, field_validator

T = TypeVar("T")


class Section(BaseModel):
    # validate_default: a check that depends on another key (a token required once
    # `enabled`) must run when the key was left out, too.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _plain_values(cls, value: Any, info: ValidationInfo) -> Any:
        kind = cls.model_fields[info.field_name or ""].annotation
        # TOML's `true` is not the number 1: `port = true` is a mistake, not port 1.
        if isinstance(value, bool) and kind in (int, float):
            raise ValueError(f"must be a number, got {value!r}")
        if kind is bool and isinstance(value, str):
            return value.strip()  # an env value may carry spaces: "true "
        return value


def check(test: Callable[[Any], bool], message: str) -> AfterValidator:
    """A field check; `message` says what the value must be."""

    def validate(value: Any) -> Any:
        if not test(value):
            raise ValueError(message)
        return value

    return AfterValidator(validate)


def between(low: float, high: float) -> AfterValidator:
    return check(lambda value: low <= value <= high, f"must be between {low} and {high}")


def at_least(low: float) -> AfterValidator:
    return check(lambda value: value >= low, f"must be at least {low}")


NOT_NEGATIVE = check(lambda value: value >= 0, "must not be negative")
HTTP_URL = check(lambda url: url.startswith(("http://", "https://")), "must be an http(s) URL")


def _split(value: Any) -> Any:
    """An env value is text: "12, 34", or a JSON list "[12, 34]"."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text.startswith("["):
        return [item.strip() for item in text.split(",") if item.strip()]
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(f"not a valid JSON list: {value!r}") from None


CommaList = Annotated[list[T], BeforeValidator(_split)]
