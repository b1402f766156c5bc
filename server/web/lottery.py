"""POST /api/rooms/{slug}/lottery (admin): draw winners among the room's senders."""

from __future__ import annotations

from aiohttp import web

from server.web.api import moderator_of, read_json_object
from server.web.auth import admin_only
from server.web.keys import LOTTERY, SERVICE
from server.web.rooms import ROOM_PATH


@admin_only
async def draw(request: web.Request) -> web.Response:
    slug = request.app[SERVICE].rooms.get(request.match_info["slug"]).slug  # 404 before the body
    body = await read_json_object(request)
    by = moderator_of(body)
    result = await request.app[LOTTERY].draw(slug, body.get("winners"), body.get("since"),
                                             body.get("exclude_previous", False), by)
    return web.json_response(result.to_dict(), status=201)


def add_routes(app: web.Application) -> None:
    app.router.add_post(ROOM_PATH + "/lottery", draw)
