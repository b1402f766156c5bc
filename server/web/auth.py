"""Admin routes need `Authorization: Bearer <admin_token>`, checked in constant time.

Failed attempts (a wrong token, or a malformed Authorization header) are limited
per address (its /64 for IPv6): past `MAX_FAILURES` in a minute, every admin
request from there is answered 429 with `Retry-After`, even one with the right
token, so a guess that hits is never told so. Successful requests, and requests
with no credentials at all, are not counted.
"""

from __future__ import annotations

import functools
import logging
import math

from aiohttp import web

from server.web.client import client_address, network_of
from server.web.keys import CONFIG, COUNTERS, WINDOWS

logger = logging.getLogger(__name__)

ADMIN_ROUTE = "barrage_admin"
MAX_FAILURES = 10  # a minute, per address


def admin_only(handler: web.Handler) -> web.Handler:
    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        await _check(request)
        return await handler(request)

    setattr(checked, ADMIN_ROUTE, True)
    return checked


async def _check(request: web.Request) -> None:
    key = f"admin-failures:{network_of(client_address(request))}"
    windows = request.app[WINDOWS]
    if wait := await windows.waiting(key, MAX_FAILURES):
        request.app[COUNTERS]["admin_auth.locked_out"] += 1
        raise _locked_out(wait)
    if is_admin(request):
        return
    if "Authorization" not in request.headers:  # no credentials: not a guess
        raise _unauthorized()
    request.app[COUNTERS]["admin_auth.failed"] += 1
    if refused := await windows.acquire([(key, MAX_FAILURES)]):
        raise _locked_out(refused[1])
    raise _unauthorized()


def _unauthorized() -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(reason="admin token required", headers={"WWW-Authenticate": "Bearer"})


def _locked_out(wait: float) -> web.HTTPTooManyRequests:
    return web.HTTPTooManyRequests(
        reason="too many failed admin logins from your address; try again later",
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


def is_admin(request: web.Request) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    return request.app[CONFIG].server.admin_token.matches(token.strip())


async def no_store(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: nothing from an admin route (401s and 429s included) is cached."""
    route = request.match_info.route
    if getattr(route.handler, ADMIN_ROUTE, False):
        response.headers["Cache-Control"] = "no-store"
