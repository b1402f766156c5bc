"""GET /metrics: the Prometheus text format (server/metrics.py), when metrics.enabled is true.

Off, the route does not exist (404). With metrics.token set, a scrape needs
`Authorization: Bearer <token>`, compared in constant time; anything else is 401. A wrong
token has no lockout (unlike the admin token's): the token is at least 16 characters, too
long to guess, and a scraper with a stale token must not lock the desk's address out.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import generate_latest

from server.metrics import Metrics
from server.web.keys import CONFIG

METRICS = web.AppKey("metrics", Metrics)
PATH = "/metrics"
# The classic text format, as Prometheus has read it for years (prometheus-client's own
# CONTENT_TYPE_LATEST names a newer version).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def scrape(request: web.Request) -> web.Response:
    if not _authorized(request):
        raise web.HTTPUnauthorized(reason="metrics token required", headers={"WWW-Authenticate": "Bearer"})
    metrics = request.app[METRICS]
    await metrics.refresh()
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


def _authorized(request: web.Request) -> bool:
    token = request.app[CONFIG].metrics.token
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and token.matches(given.strip())


def add_route(app: web.Application) -> None:
    app.router.add_get(PATH, scrape)
