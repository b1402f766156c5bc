"""Which language a reader gets over HTTP: `ui.language`, or under "auto" their Accept-Language."""

from __future__ import annotations

from aiohttp import hdrs, web

from server.core import i18n
from server.web.keys import CONFIG


def page_language(request: web.Request) -> str:
    return i18n.negotiate(request.headers.get(hdrs.ACCEPT_LANGUAGE), request.app[CONFIG].ui.language)
