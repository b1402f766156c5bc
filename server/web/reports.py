"""What the organizer takes home (admin): every barrage as CSV or JSON, and a room's digest.

The export streams: it pages through the table by id and writes each page as it is read,
so its memory does not grow with the log, and each write waits for the socket to drain.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from server.core.errors import InvalidInput, Unavailable
from server.core.model import Barrage, iso
from server.core.views import Views
from server.web.api import named_room
from server.web.auth import admin_only
from server.web.keys import SERVICE, VIEWS
from server.web.rooms import ROOM_PATH

logger = logging.getLogger(__name__)

EXPORT_PAGE = 500
FIELDS = ("id", "room", "created_at", "decided_at", "status", "reason", "author", "sender", "source",
          "text", "moderator")
FORMATS = {"csv": "text/csv", "json": "application/json"}
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection");
# tab and carriage return too, in some. A leading ' makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # without it Excel reads UTF-8 as the local code page: CJK and emoji garbled


def export_row(barrage: Barrage) -> dict[str, Any]:
    return {
        "id": barrage.id, "room": barrage.room, "created_at": iso(barrage.created_at),
        "decided_at": iso(barrage.decided_at) if barrage.decided_at else None,
        "status": str(barrage.status),
        "reason": "",  # filled once moderation records why
        "author": barrage.author, "sender": barrage.sender, "source": str(barrage.source),
        "text": barrage.text, "moderator": barrage.decided_by,
    }


def neutralised(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)  # RFC 4180 quoting, \r\n line ends
    writer.writerows([neutralised(row[name]) for name in FIELDS] for row in rows)
    return out.getvalue()


@admin_only
async def export(request: web.Request) -> web.StreamResponse:
    room, kind = named_room(request), request.query.get("format") or "csv"
    if kind not in FORMATS:  # both checked before the answer starts: an error is still JSON
        raise InvalidInput("format must be csv or json")
    disposition = f'attachment; filename="{_filename(room, kind)}"'  # a slug needs no quoting
    response = web.StreamResponse(headers={"Content-Disposition": disposition})
    response.content_type, response.charset = FORMATS[kind], "utf-8"
    views = request.app[VIEWS]
    # Read before the answer starts: a database that is down is a 503 in JSON, as anywhere.
    first = await views.barrages(None, 0, EXPORT_PAGE, room)
    await response.prepare(request)
    # A client gone mid-export (aiohttp raises ClientConnectionResetError) is no error of ours.
    with contextlib.suppress(ConnectionError):
        try:
            async for chunk in _chunks(views, room, kind, first):
                await response.write(chunk.encode())  # waits for the socket to drain
        except Exception as exc:
            _cut_short(request, exc)
            return response
        await response.write_eof()
    return response


def _cut_short(request: web.Request, exc: Exception) -> None:
    """The status is sent: all that is left to tell the client is an unfinished body (no last
    chunk), by closing the connection; left open, the client would wait for the end forever."""
    if isinstance(exc, Unavailable):
        logger.warning("export cut short: the database became unavailable")
    else:
        logger.exception("export cut short")
    if request.transport is not None:
        request.transport.close()


async def _chunks(views: Views, room: str | None, kind: str, page: list[Barrage]) -> AsyncIterator[str]:
    yield BOM + csv_lines([dict(zip(FIELDS, FIELDS, strict=True))]) if kind == "csv" else '{"items":['
    after = 0
    while page or (page := await views.barrages(None, after, EXPORT_PAGE, room)):
        rows = [export_row(barrage) for barrage in page]
        if kind == "csv":
            yield csv_lines(rows)
        else:
            yield ("," if after else "") + ",".join(json.dumps(row, ensure_ascii=False) for row in rows)
        after, page = page[-1].id, []
    if kind == "json":
        yield "]}"


def _filename(room: str | None, kind: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"barrage-{room or 'all-rooms'}-{stamp}.{kind}"


@admin_only
async def digest(request: web.Request) -> web.Response:
    slug = request.app[SERVICE].rooms.get(request.match_info["slug"]).slug
    return web.json_response((await request.app[VIEWS].digest(slug)).to_dict())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/barrages/export", export)
    app.router.add_get(ROOM_PATH + "/digest", digest)
