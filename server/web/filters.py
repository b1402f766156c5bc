"""The filter rules (admin): GET /api/filters, POST /api/filters, DELETE /api/filters/{id}.

A rule change is one row and one `filters` event; every process rebuilds its matcher from
the database on that event (server/core/filters.py), this one before it answers.
"""

from __future__ import annotations

from aiohttp import web

from server.core.errors import InvalidInput, NotFound
from server.core.policy import is_ascii_number, parse_id
from server.core.rules import spec_of
from server.web.api import moderator_of, read_json_object
from server.web.auth import admin_only
from server.web.keys import SERVICE


@admin_only
async def list_rules(request: web.Request) -> web.Response:
    rules = request.app[SERVICE].filters.rules()
    return web.json_response({"rules": [rule.to_dict() for rule in rules]})


@admin_only
async def add_rule(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    spec, by = spec_of(body), moderator_of(body)
    rule = await request.app[SERVICE].filters.add(spec, by)
    return web.json_response(rule.to_dict(), status=201)


@admin_only
async def delete_rule(request: web.Request) -> web.Response:
    """204 No Content once deleted; 404 for an id no rule has (any more)."""
    raw = request.match_info["id"]
    if not is_ascii_number(raw, 64):  # a number too large for any id is 404 below, not 400
        raise InvalidInput("the rule id must be a number")
    rule_id = parse_id(raw)
    if rule_id is None:
        raise NotFound(f"no filter rule {raw[:20]}")
    by = moderator_of(await read_json_object(request)) if request.can_read_body else "web"
    await request.app[SERVICE].filters.remove(rule_id, by)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/filters", list_rules)
    app.router.add_post("/api/filters", add_rule)
    app.router.add_delete("/api/filters/{id}", delete_rule)
