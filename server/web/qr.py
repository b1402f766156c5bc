"""GET /rooms/{slug}/qr.svg (public): a QR code of the room's join URL, made here by segno.

A public path: each SVG is made once per room and URL and kept in a small LRU cache, so a
stranger asking again and again costs a dictionary lookup. The URL is part of the key, so a
changed `server.public_url` never serves the old code.
"""

from __future__ import annotations

import io
from collections import OrderedDict

import segno
from aiohttp import web

from server.web.keys import CONFIG, SERVICE

QR_PATH = r"/rooms/{slug:[^/]+}/qr.svg"
MAX_CACHED = 256  # rooms are made by admins: far fewer; the bound is the stated policy
HEADERS = {
    "Content-Type": "image/svg+xml",
    # Short: a room's URL may change with the config; screens load it once anyway.
    "Cache-Control": "public, max-age=60",
    # An SVG opened on its own is a document: it may run nothing and load nothing.
    "Content-Security-Policy": "default-src 'none'",
}


def qr_url(slug: str) -> str:
    """Where the screen finds its room's QR code."""
    return f"/rooms/{slug}/qr.svg"


def qr_svg(url: str) -> bytes:
    """A black-on-white QR of `url`, medium error correction (it survives a projector's glare),
    with the quiet zone scanners need; scalable (the screen sizes it)."""
    code = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=1, border=4, xmldecl=False, dark="#000", light="#fff",
              title=url, omitsize=True, svgclass=None, lineclass=None)
    return out.getvalue()


class QrCache:
    def __init__(self, size: int = MAX_CACHED) -> None:
        self._size = size
        self._svgs: OrderedDict[str, bytes] = OrderedDict()

    def get(self, url: str) -> bytes:
        if (svg := self._svgs.get(url)) is not None:
            self._svgs.move_to_end(url)
            return svg
        svg = self._svgs[url] = qr_svg(url)
        if len(self._svgs) > self._size:
            self._svgs.popitem(last=False)  # the least recently asked for
        return svg


QR_CACHE = web.AppKey("qr_cache", QrCache)


async def room_qr(request: web.Request) -> web.Response:
    room = request.app[SERVICE].rooms.get(request.match_info["slug"])  # 404 for an unknown room
    svg = request.app[QR_CACHE].get(request.app[CONFIG].join_url(room.slug))
    return web.Response(body=svg, headers=HEADERS)


def add_routes(app: web.Application) -> None:
    app[QR_CACHE] = QrCache()
    app.router.add_get(QR_PATH, room_qr)
