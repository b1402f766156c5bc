"""`Secret`: a string that never prints itself (admin token, bot tokens, signing secrets).

It lives in the core because both edges hold one: the web checks the admin token,
the chat adapters carry their tokens, and `server.core` is the one package both may
import. As a config field it accepts text only, and its errors never quote it.
"""

from __future__ import annotations

import hmac
from typing import Any

from pydantic_core import core_schema


class Secret:
    """A string that never prints itself."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def matches(self, candidate: str) -> bool:
        # Constant time, so the token cannot be guessed byte by byte.
        # surrogateescape: undecodable header bytes arrive as lone surrogates; they must
        # simply not match, not raise.
        try:
            given = candidate.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return False
        return bool(self._value) and hmac.compare_digest(self._value.encode(), given)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(cls._from_config)

    @classmethod
    def _from_config(cls, value: Any) -> Secret:
        if isinstance(value, Secret):
            return value
        if not isinstance(value, str):
            raise ValueError("must be a string")  # not "got …": the value is the secret
        return cls(value)
