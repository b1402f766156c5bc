"""Admin routes need `Authorization: Bearer <admin_token>`, checked in constant time."""

from __future__ import annotations

import functools

from aiohttp import web

from server.web.keys import CONFIG

ADMIN_ROUTE = "barrage_admin"


def admin_only(handler: web.Handler) -> web.Handler:
    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        if not is_admin(request):
            raise web.HTTPUnauthorized(
                reason="admin token required", headers={"WWW-Authenticate": "Bearer"}
            )
        return await handler(request)

    setattr(checked, ADMIN_ROUTE, True)
    return checked


def is_admin(request: web.Request) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    return request.app[CONFIG].server.admin_token.matches(token.strip())
