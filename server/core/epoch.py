"""The database's epoch: which copy of the event log an event id belongs to.

Event ids only grow, but restoring an older backup rolls the log back, and the
ids after the copy's end are handed out again. A restore (and a database's
first start) makes a new epoch: a random token, and the log's last id at that
moment. A client that remembers an id from another epoch resumes from the
point the two logs last shared, never past it, so no new event is skipped as
"already seen". Kept in the database (`setting` row EPOCH_KEY), so every node
agrees.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

EPOCH_KEY = "db.epoch"
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class Epoch:
    token: str
    start: int  # the log's last id when this epoch began: every later id is new in it

    @classmethod
    def new(cls, start: int) -> Epoch:
        return cls(secrets.token_urlsafe(9), start)  # 12 URL-safe characters

    def encode(self) -> str:
        """As stored in the setting row."""
        return f"{self.token}:{self.start}"

    @classmethod
    def decode(cls, value: str) -> Epoch:
        token, _, start = value.partition(":")
        if not TOKEN.fullmatch(token) or not start.isascii() or not start.isdigit():
            raise ValueError(f"not an epoch: {value!r}")
        return cls(token, int(start))

    def resume_after(self, last_seen: int, seen_in: str | None) -> int:
        """Where a client that saw ids up to `last_seen` in epoch `seen_in` resumes: as it
        asks in this epoch (or when it names none); at most this epoch's start otherwise,
        since every id after that may name another event than the one it saw."""
        if seen_in is None or seen_in == self.token:
            return last_seen
        return min(last_seen, self.start)
