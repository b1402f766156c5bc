"""Where a sender wrote, stored with their barrage so the outcome can find them later.

The core keeps it as opaque text. Telegram answers in the chat, quoting the
message (chat, message, and the @username cards show); Slack sends a DM
(user) and remembers where the message came from (chat). The JSON is the one
both platforms always wrote: {"c", "m", "u"}, an older Slack row lacking "m".
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class ReplyTo:
    chat: int | str
    message: int | None = None
    user: str | None = None  # Telegram: the @username, if any; Slack: the user id

    def dump(self) -> str:
        return json.dumps({"c": self.chat, "m": self.message, "u": self.user})

    @classmethod
    def load(cls, raw: str | None) -> ReplyTo | None:
        try:
            data = json.loads(raw or "")
            reply = cls(data["c"], data.get("m"), data.get("u"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        valid = (isinstance(reply.chat, int | str) and isinstance(reply.message, int | None)
                 and isinstance(reply.user, str | None))
        return reply if valid else None
