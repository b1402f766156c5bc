"""GET /api/my/barrages: a web sender's own recent barrages and what became of them.

Polling, not a per-device stream. Think of a venue of 1,000 phones behind one NAT and
several server processes:
- a stream per phone would hold a descriptor and a buffer per phone on some node for
  the whole event, and the per-address stream cap (server/web/slots.py) counts one NAT
  as one address: the phones would crowd out the screens;
- a poll costs one indexed query (`ix_barrage_sender`, at most `MINE` rows) and is
  gone: nothing is held between requests, any node answers it (the database is the
  truth), and a lost notification cannot exist;
- send.js polls only while the page is visible, every few seconds while something is
  still waiting and rarely once everything is decided, so a quiet phone costs nearly
  nothing.

Public, no admin token: the device is the signed `barrage_device` cookie
(server/web/device.py) and the sender key is `web:<device id>`. Without a valid cookie
the answer is an empty list, never anyone else's, and no database read. The JSON never
carries `sender`, `author_ref` or who decided: only what the phone itself sent and its
status.

`wins` are the recent lottery draws that picked this phone (a web sender has no chat to
be told in, and may not be looking at the screen when its name is drawn); /send shows
each as "You won the draw".
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.core.model import AUTO, REASON_MUTED, Barrage, Event, Status, iso
from server.web.keys import DEVICES, VIEWS

MINE = 20  # the latest this many: what a phone shows, and a bound on every answer
FIELDS = ("id", "text", "status", "room", "created_at", "reason")


async def my_barrages(request: web.Request) -> web.Response:
    device_id = request.app[DEVICES].device_of(request)
    items, wins = [], []
    if device_id is not None:
        views, sender = request.app[VIEWS], f"web:{device_id}"
        items, wins = await views.by_sender(sender, MINE), await views.wins(sender)
    # Private to this phone: no shared cache may keep it (the cookie is the only key).
    return web.json_response({"items": [_mine(b) for b in items], "wins": [_win(e) for e in wins]},
                             headers={"Cache-Control": "no-store", "Vary": "Cookie"})


def _win(draw: Event) -> dict[str, Any]:
    return {"draw_id": draw.payload["draw_id"], "room": draw.payload["room"], "event_id": draw.id}


def _mine(barrage: Barrage) -> dict[str, Any]:
    # `reason`: null, or what the sender may be told ("blocked word", "rejected by Alice"), never the
    # word; a shadow-muted sender's reads as any waiting one's.
    told = _as_told(barrage)
    reason = barrage.reason if told is barrage.status else None
    return {"id": barrage.id, "text": barrage.text, "status": str(told), "room": barrage.room,
            "created_at": iso(barrage.created_at), "reason": reason}


def _as_told(barrage: Barrage) -> Status:
    """A shadow-muted sender's barrage (rejected as it was stored, moderation.shadow_mute) reads as
    still waiting: they are told nothing unusual."""
    if barrage.reason == REASON_MUTED and barrage.decided_by == AUTO:
        return Status.PENDING
    return barrage.status


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/my/barrages", my_barrages)
