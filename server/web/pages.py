"""The pages in screen_web/: plain files, sent with a Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

import screen_web
from server.web.keys import DEVICES, SERVICE

# Wherever the package is: the checkout's top-level screen_web/, or site-packages for a wheel.
PAGES_DIR = Path(screen_web.__file__).resolve().parent
PAGES = {"/": "index.html", "/screen": "screen.html", "/send": "send.html",
         "/moderate": "moderate.html"}

# No inline script or style anywhere: user text can never become code.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'"
)
# Pages of one room (`?room=`, main when none): an unknown room is a 404, not a page
# that shows nothing. /moderate without ?room= shows every room.
ROOM_PAGES = {"/screen", "/send", "/moderate"}
# The screen may be embedded (overlay tools); the others may not be framed.
FRAMEABLE = {"/screen"}


def page_handler(path: str, filename: str) -> web.Handler:
    async def page(request: web.Request) -> web.FileResponse:
        slug = request.query.get("room")
        if path in ROOM_PAGES and slug and not request.app[SERVICE].rooms.exists(slug):
            raise web.HTTPNotFound(text="404: there is no such room on this wall\n")
        headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}
        if path not in FRAMEABLE:
            # X-Frame-Options for browsers that predate CSP's frame-ancestors.
            headers.update({"Content-Security-Policy": CSP + "; frame-ancestors 'none'",
                            "X-Frame-Options": "DENY"})
        response = web.FileResponse(PAGES_DIR / filename, headers=headers)
        if path == "/send":  # the phone becomes a device (server/web/device.py)
            device_id, known = request.app[DEVICES].identify(request)
            if known:  # renewed for another year; a new one is handed out as the response goes
                request.app[DEVICES].give(request, response, device_id)
        return response

    return page


async def security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")


def add_routes(app: web.Application) -> None:
    for path, filename in PAGES.items():
        app.router.add_get(path, page_handler(path, filename))
    app.router.add_static("/static/", PAGES_DIR / "static", append_version=False)
    app.on_response_prepare.append(security_headers)
