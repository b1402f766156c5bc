"""Where a sender wrote, stored with their barrage so the outcome can find them later.

The core keeps it as opaque text. Telegram answers in the chat, quoting the
message (chat, message, and the @username cards show); Slack sends a DM
(user) and remembers where the message came from (chat). The JSON is the one
both platforms always wrote: {"c", "m", "u"}, an older Slack row lacking "m"; "l", the
language the sender was answered in (so the notice sent later is in it too), is written only
when known, and a row without it gets the configured language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from server.core.i18n import LANGUAGES


@dataclass(frozen=True)
class ReplyTo:
    chat: int | str
    message: int | None = None
    user: str | None = None  # Telegram: the @username, if any; Slack: the user id
    language: str | None = None  # a catalogue language (server/core/i18n.py LANGUAGES)

    def dump(self) -> str:
        data = {"c": self.chat, "m": self.message, "u": self.user}
        return json.dumps(data | ({"l": self.language} if self.language else {}))

    @classmethod
    def load(cls, raw: str | None) -> ReplyTo | None:
        try:
            data = json.loads(raw or "")
            language = data.get("l")
            reply = cls(data["c"], data.get("m"), data.get("u"), language if language in LANGUAGES else None)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        valid = (isinstance(reply.chat, int | str) and isinstance(reply.message, int | None)
                 and isinstance(reply.user, str | None))
        return reply if valid else None
