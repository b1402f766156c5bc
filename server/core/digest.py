"""A room's digest: what was sent, from where, by whom, when, and what was said most.

Counted by the database (GROUP BY), never by loading the barrages; every barrage the room
received counts, whatever its status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.core.model import Source, Status, iso

TOP_SENDERS = 5


@dataclass(frozen=True)
class Digest:
    room: str
    by_status: dict[str, int]
    by_source: dict[str, int]
    top_senders: list[tuple[str, int]]  # (author of their latest barrage, barrages sent)
    busiest_minute: tuple[datetime, int] | None  # the minute's start (UTC), barrages in it
    most_repeated: tuple[str, int] | None  # the text sent most often, how often

    def to_dict(self) -> dict[str, Any]:
        minute, text = self.busiest_minute, self.most_repeated
        return {
            "room": self.room,
            "total": sum(self.by_status.values()),
            # every status and source, zeros included: a reader need not know the list
            "by_status": {str(s): self.by_status.get(str(s), 0) for s in Status},
            "by_source": {str(s): self.by_source.get(str(s), 0) for s in Source},
            "top_senders": [{"author": author, "count": count} for author, count in self.top_senders],
            "busiest_minute": {"minute": iso(minute[0]), "count": minute[1]} if minute else None,
            "most_repeated": {"text": text[0], "count": text[1]} if text else None,
        }
