"""/api/mutes: list, add and lift mutes (admin only). Parse → one gate call → render.

A sender key (web:<device>, telegram:<id>, slack:<team>:<user>) names who; in a URL it is
percent-encoded (`DELETE /api/mutes/slack%3AT1%3AU1`; its colons may also go as they are).
"""

from __future__ import annotations

from aiohttp import web

from server.web.api import moderator_of, read_json_object
from server.web.auth import admin_only
from server.web.keys import SERVICE


@admin_only
async def list_mutes(request: web.Request) -> web.Response:
    mutes = await request.app[SERVICE].gate.mutes()
    return web.json_response({"mutes": [mute.to_dict() for mute in mutes]})


@admin_only
async def add_mute(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    mute = await request.app[SERVICE].gate.mute(body.get("sender"), body.get("minutes"), body.get("reason"),
                                                moderator_of(body))
    return web.json_response(mute.to_dict(), status=201)


@admin_only
async def lift_mute(request: web.Request) -> web.Response:
    await request.app[SERVICE].gate.unmute(request.match_info["sender"], "web")
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/mutes", list_mutes)
    app.router.add_post("/api/mutes", add_mute)
    app.router.add_delete(r"/api/mutes/{sender:[^/]+}", lift_mute)
