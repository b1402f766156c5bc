"""The rooms API (admin): list, create, read, change. Each handler: parse → one core call → render."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from server.core.errors import InvalidInput
from server.core.model import Room
from server.web.api import moderator_of, read_json_object
from server.web.auth import admin_only
from server.web.keys import PRESENCE, SERVICE

ROOM_PATH = r"/api/rooms/{slug:[^/]+}"
CONTROLS = ("pause", "resume", "clear")


def room_json(request: web.Request, room: Room) -> dict[str, Any]:
    """A room as the API shows it: its settings, its live state and its screens on every node."""
    return {**room.to_dict(), "screens": request.app[PRESENCE].screens(room.slug)}


@admin_only
async def list_rooms(request: web.Request) -> web.Response:
    rooms = request.app[SERVICE].rooms.all()
    return web.json_response({"rooms": [room_json(request, room) for room in rooms]})


@admin_only
async def create_room(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    fields = {key: value for key, value in body.items() if key not in ("slug", "moderator")}
    by = moderator_of(body)
    room = await request.app[SERVICE].rooms.create(body.get("slug"), fields, by)
    return web.json_response(room_json(request, room), status=201)


@admin_only
async def get_room(request: web.Request) -> web.Response:
    return web.json_response(room_json(request, request.app[SERVICE].rooms.get(request.match_info["slug"])))


@admin_only
async def patch_room(request: web.Request) -> web.Response:
    rooms = request.app[SERVICE].rooms
    slug = rooms.get(request.match_info["slug"]).slug  # 404 before the body is looked at
    body = await read_json_object(request)
    by = moderator_of(body)
    fields = {key: value for key, value in body.items() if key != "moderator"}
    if "slug" in fields:
        raise InvalidInput("a room's slug cannot change")
    return web.json_response(room_json(request, await rooms.update(slug, fields, by)))


async def _moderator(request: web.Request) -> str:
    """Who acts, from an optional body `{"moderator"}`; "web" when none is given."""
    body = await read_json_object(request) if request.can_read_body else {}
    return moderator_of(body)


def _control(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """POST /api/rooms/{slug}/pause, /resume, /clear: one event each; the room as it now is."""

    @admin_only
    async def control(request: web.Request) -> web.Response:
        rooms = request.app[SERVICE].rooms
        slug = rooms.get(request.match_info["slug"]).slug  # 404 before the body is looked at
        room = await getattr(rooms, name)(slug, await _moderator(request))
        return web.json_response(room_json(request, room))

    control.__name__ = name
    return control


@admin_only
async def put_announcement(request: web.Request) -> web.Response:
    rooms = request.app[SERVICE].rooms
    slug = rooms.get(request.match_info["slug"]).slug
    body = await read_json_object(request)
    if "text" not in body:
        raise InvalidInput('text is required: a string, or null to remove the announcement')
    by = moderator_of(body)
    return web.json_response(room_json(request, await rooms.announce(slug, body["text"], by)))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/rooms", list_rooms)
    app.router.add_post("/api/rooms", create_room)
    app.router.add_get(ROOM_PATH, get_room)
    app.router.add_patch(ROOM_PATH, patch_room)
    for name in CONTROLS:
        app.router.add_post(f"{ROOM_PATH}/{name}", _control(name))
    app.router.add_put(f"{ROOM_PATH}/announcement", put_announcement)
