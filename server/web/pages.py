"""The pages in screen_web/: rendered once per language, sent with a Content-Security-Policy.

A page's HTML holds no words of its own: `{{key}}` marks where the `pages` catalogue's text for
`key` goes (HTML-escaped), `{{lang}}` the language tag, and `{{i18n}}` (inside a
`<script type="application/json" id="i18n">` data block) the page's own texts as JSON, which
its script reads for what it writes (statuses, buttons, errors). Which language: `ui.language`,
or under "auto" the reader's Accept-Language (server/core/i18n.py).

Every page is rendered in every language when the app is built, so a missing key or an unknown
`{{token}}` fails at start, not in front of a guest; editing a page needs a restart.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path

from aiohttp import hdrs, web

import screen_web
from server.core import i18n
from server.web.keys import DEVICES, SERVICE
from server.web.language import page_language

# Wherever the package is: the checkout's top-level screen_web/, or site-packages for a wheel.
PAGES_DIR = Path(screen_web.__file__).resolve().parent
PAGES = {"/": "index.html", "/screen": "screen.html", "/send": "send.html",
         "/moderate": "moderate.html"}
DOMAIN = "pages"
TOKEN = re.compile(r"\{\{\s*([\w.-]+)\s*\}\}")

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


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str


def script_texts(page: str, language: str) -> str:
    """The page's texts (keys `<page>.…`) as JSON safe inside a <script> data block: no `<`,
    `>` or `&` can end the element or open a comment there."""
    texts = {key: value for key, value in i18n.catalogue(DOMAIN, language).items()
             if key.startswith(f"{page}.")}
    encoded = json.dumps(texts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(filename: str, language: str) -> bytes:
    """The page in `language`; a `{{key}}` missing from the catalogue raises KeyError."""
    page = filename.removesuffix(".html")
    texts = i18n.catalogue(DOMAIN, language)

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "lang":
            return language
        if key == "i18n":
            return script_texts(page, language)
        return escape(texts[key])

    return TOKEN.sub(fill, (PAGES_DIR / filename).read_text(encoding="utf-8")).encode()


def render_all() -> dict[tuple[str, str], Rendered]:
    rendered = {}
    for filename in PAGES.values():
        for language in i18n.LANGUAGES:
            body = render(filename, language)
            rendered[filename, language] = Rendered(body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return rendered


def page_headers(path: str, language: str, etag: str) -> dict[str, str]:
    headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache",
               # one URL, a page per language: a cache keeps them apart
               "Vary": "Accept-Language", "Content-Language": language, "ETag": etag}
    if path not in FRAMEABLE:
        # X-Frame-Options for browsers that predate CSP's frame-ancestors.
        headers.update({"Content-Security-Policy": CSP + "; frame-ancestors 'none'",
                        "X-Frame-Options": "DENY"})
    return headers


def page_handler(path: str, filename: str, rendered: dict[tuple[str, str], Rendered]) -> web.Handler:
    async def page(request: web.Request) -> web.Response:
        slug = request.query.get("room")
        language = page_language(request)
        if path in ROOM_PAGES and slug and not request.app[SERVICE].rooms.exists(slug):
            # a guest's mistyped or stale link: told so in their language
            raise web.HTTPNotFound(text=i18n.text("pages", language, "index.no_room") + "\n",
                                   headers={"Vary": "Accept-Language", "Content-Language": language})
        copy = rendered[filename, language]
        headers = page_headers(path, language, copy.etag)
        if copy.etag in request.headers.get(hdrs.IF_NONE_MATCH, ""):
            response = web.Response(status=304, headers=headers)
        else:
            response = web.Response(body=copy.body, content_type="text/html", charset="utf-8",
                                    headers=headers)
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
    rendered = render_all()
    for path, filename in PAGES.items():
        app.router.add_get(path, page_handler(path, filename, rendered))
    app.router.add_static("/static/", PAGES_DIR / "static", append_version=False)
    app.on_response_prepare.append(security_headers)
