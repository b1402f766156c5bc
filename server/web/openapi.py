"""GET /api/openapi.json: the OpenAPI 3.1 description of every /api route, /healthz and /readyz.

Written by hand as plain dicts, beside the handlers it describes; a test holds it
to the router (the same paths and methods, the same admin routes) and
schemathesis holds the server to it (every status and body it answers).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from server.core.digest import TOP_SENDERS
from server.core.gate import LISTED as MUTES_LISTED
from server.core.gate import MAX_MINUTES, MAX_REASON, MAX_SENDER
from server.core.lottery import MAX_WINNERS
from server.core.model import MAX_ID, ROOM_SLUG, EventKind, Mode, Size, Source, Status
from server.core.rooms import MAX_ANNOUNCEMENT, MAX_CROSSING, MAX_JOIN_TEXT, MAX_TITLE, MIN_CROSSING
from server.core.rules import ACTIONS, KINDS, MAX_NOTE, MAX_PATTERN
from server.core.service import MAX_BULK
from server.core.views import RECENT_DRAWS
from server.web import readiness
from server.web.api import IDEMPOTENCY_HEADER, LIST_LIMIT, MAX_IDEMPOTENCY_KEY
from server.web.mine import FIELDS as MY_FIELDS
from server.web.mine import MINE
from server.web.reports import FIELDS as EXPORT_FIELDS

PATH = "/api/openapi.json"
DOCUMENT = web.AppKey("openapi_document", bytes)  # encoded once, at start
Json = dict[str, Any]

ADMIN = [{"adminToken": []}]
DIGITS = "^[0-9]+$"
BODY_REFUSALS = ("408", "413", "415")  # every route that reads a body
ADMIN_REFUSALS = ("401", "429")  # every admin route: no token, or locked out after failed ones
REFUSAL_NAMES = {
    "400": "BadRequest", "401": "Unauthorized", "408": "RequestTimeout", "404": "NotFound", "409": "Conflict",
    "413": "TooLarge", "415": "UnsupportedMediaType", "429": "TooManyRequests", "503": "Unavailable",
}


def ref(kind: str, name: str) -> Json:
    return {"$ref": f"#/components/{kind}/{name}"}


def json_content(schema: Json) -> Json:
    return {"application/json": {"schema": schema}}


def answer(description: str, schema: Json, **headers: Json) -> Json:
    response: Json = {"description": description, "content": json_content(schema)}
    if headers:
        response["headers"] = headers
    return response


def header(description: str, schema: Json, required: bool = True) -> Json:
    return {"description": description, "required": required, "schema": schema}


def refusals(*codes: str) -> Json:
    return {code: ref("responses", REFUSAL_NAMES[code]) for code in codes}


def document() -> Json:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "barrage",
            "version": "1",
            "description": "A live-event comment wall. Admin routes need `Authorization: Bearer "
                           "<admin_token>`; every error is `{\"error\": message}`. Every response "
                           "carries `X-Request-ID`: the request's own when it is 1-128 printable "
                           "ASCII characters, else a new one.",
        },
        "paths": paths(),
        "components": {
            "securitySchemes": {"adminToken": {
                "type": "http", "scheme": "bearer",
                "description": "server.admin_token. Failed attempts are limited per address: past "
                               "10 a minute every admin request from there is 429 for the rest "
                               "of the minute, even one with the right token.",
            }},
            "schemas": schemas(),
            "responses": responses(),
            "parameters": parameters(),
        },
    }


def paths() -> Json:
    return {
        "/api/barrages": {"post": submit(), "get": list_barrages()},
        "/api/barrages/bulk": {"post": bulk_decision()},
        "/api/barrages/{id}/approve": {"post": decision("approve", "Approve a pending barrage.")},
        "/api/barrages/{id}/reject": {"post": decision("reject", "Reject a pending barrage.")},
        "/api/barrages/{id}/undo": {"post": decision(
            "undo", "Put a decision of the last 10 s back to pending. 409 when it is too late, the "
                    "barrage is not decided, or it was approved at submission.")},
        "/api/barrages/{id}/retract": {"post": decision(
            "retract", "Pull an approved barrage off every screen (status `retracted`): screens drop "
                       "it at once and never replay it. 409 when it is not approved.")},
        "/api/rooms": {"get": list_rooms(), "post": create_room()},
        "/api/rooms/{slug}": {"get": get_room(), "patch": patch_room()},
        "/api/rooms/{slug}/lottery": {"post": draw_lottery()},
        "/api/rooms/{slug}/digest": {"get": room_digest()},
        "/api/barrages/export": {"get": export_barrages()},
        "/api/rooms/{slug}/pause": {"post": room_control(
            "pause", "Pause the room's screens: no new item starts flying; approved ones wait (up to "
                     "`screen.max_waiting`). A `pause` event; pausing a paused room changes nothing.")},
        "/api/rooms/{slug}/resume": {"post": room_control(
            "resume", "Resume: the waiting items fly, at the normal pace. A `resume` event; resuming "
                      "a room that is not paused changes nothing.")},
        "/api/rooms/{slug}/clear": {"post": room_control(
            "clear", "Every item leaves the room's screens at once and their waiting queues are "
                     "emptied. A `clear` event.")},
        "/api/rooms/{slug}/announcement": {"put": put_announcement()},
        "/api/mode": {"get": get_mode(), "put": put_mode()},
        "/api/stats": {"get": stats()},
        "/api/stream": {"get": admin_stream()},
        "/api/screen-config": {"get": screen_config()},
        "/api/my/barrages": {"get": my_barrages()},
        "/api/mutes": {"get": list_mutes(), "post": add_mute()},
        "/api/mutes/{sender}": {"delete": lift_mute()},
        "/api/filters": {"get": list_filters(), "post": add_filter()},
        "/api/filters/{id}": {"delete": delete_filter()},
        PATH: {"get": self_description()},
        "/healthz": {"get": healthz()},
        readiness.PATH: {"get": readyz()},
    }


def submit() -> Json:
    return {
        "operationId": "submit",
        "summary": "Send a barrage (public).",
        "description": "A sender without a valid `barrage_device` cookie is given one, whatever the "
                       "answer. The same Idempotency-Key from the same sender within 24 h gets the "
                       "first answer again, with `Idempotent-Replayed: true`.",
        "parameters": [ref("parameters", "IdempotencyKey")],
        "requestBody": {"required": True, "content": json_content(ref("schemas", "Submission"))},
        "responses": {
            "201": answer("Stored: pending review, or approved at once when moderation is off.",
                          ref("schemas", "Receipt"),
                          **{"Set-Cookie": header("The device cookie, for a sender without a valid "
                                                  "one.", {"type": "string"}, required=False),
                             "Idempotent-Replayed": header("A repeat of an earlier request.",
                                                           {"const": "true"}, required=False)}),
            "403": answer("The sender is muted: `until` says until when (null: until a moderator "
                          "lifts it). With moderation.shadow_mute a muted sender gets 201 instead.",
                          ref("schemas", "Muted")),
            "409": answer("Already sent: the same text (compared normalised) from the same sender "
                          "within moderation.repeat_seconds.", ref("schemas", "Error")),
            **refusals("400", "404", *BODY_REFUSALS, "429", "503"),
        },
    }


def list_mutes() -> Json:
    return {
        "operationId": "listMutes",
        "summary": "The senders muted now (expired mutes are not listed), newest first.",
        "security": ADMIN,
        "responses": {
            "200": answer("The mutes.", {
                "type": "object", "required": ["mutes"], "additionalProperties": False,
                "properties": {"mutes": {"type": "array", "maxItems": MUTES_LISTED,
                                         "items": ref("schemas", "Mute")}},
            }),
            **refusals(*ADMIN_REFUSALS, "503"),
        },
    }


def add_mute() -> Json:
    return {
        "operationId": "addMute",
        "summary": "Mute a sender (by sender key) for `minutes` (0: until lifted); muting a muted "
                   "sender replaces the mute. A `mutes` event.",
        "security": ADMIN,
        "requestBody": {"required": True, "content": json_content(ref("schemas", "MuteRequest"))},
        "responses": {
            "201": answer("The mute.", ref("schemas", "Mute")),
            **refusals("400", *ADMIN_REFUSALS, *BODY_REFUSALS, "503"),
        },
    }


def lift_mute() -> Json:
    return {
        "operationId": "liftMute",
        "summary": "Lift a sender's mute. A `mutes` event; 404 when the sender is not muted.",
        "security": ADMIN,
        "parameters": [{"name": "sender", "in": "path", "required": True, "schema": {"type": "string"},
                        "description": "The sender key, percent-encoded."}],
        "responses": {"204": {"description": "Lifted."}, **refusals(*ADMIN_REFUSALS, "404", "503")},
    }


def list_filters() -> Json:
    return {
        "operationId": "listFilters",
        "summary": "The filter rules, in id order.",
        "security": ADMIN,
        "responses": {
            "200": answer("The rules.", {
                "type": "object", "required": ["rules"], "additionalProperties": False,
                "properties": {"rules": {"type": "array", "items": ref("schemas", "FilterRule")}},
            }),
            **refusals(*ADMIN_REFUSALS),
        },
    }


def add_filter() -> Json:
    return {
        "operationId": "addFilter",
        "summary": "Add a filter rule; every process uses it from its `filters` event on.",
        "description": "Rules match the normalised text (letters and digits only, lower case, "
                       "leet and look-alikes folded). 400 for an empty pattern, a bad kind or "
                       "action, a pattern with no letter or digit, or a regex that does not "
                       "compile (Python `re` syntax) or could backtrack catastrophically (a "
                       "quantifier inside a repeated group, overlapping alternatives inside one, "
                       "backreferences).",
        "security": ADMIN,
        "requestBody": {"required": True, "content": json_content(ref("schemas", "NewFilterRule"))},
        "responses": {
            "201": answer("The rule as stored.", ref("schemas", "FilterRule")),
            **refusals("400", *ADMIN_REFUSALS, *BODY_REFUSALS, "503"),
        },
    }


def delete_filter() -> Json:
    return {
        "operationId": "deleteFilter",
        "summary": "Delete a filter rule.",
        "security": ADMIN,
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
                        "description": "The rule's id; anything but digits is 400."}],
        "requestBody": {"required": False, "content": json_content(ref("schemas", "Decision"))},
        "responses": {
            "204": {"description": "Deleted."},
            **refusals("400", *ADMIN_REFUSALS, "404", *BODY_REFUSALS, "503"),
        },
    }


def filter_rule_fields() -> Json:
    return {
        "pattern": {"type": "string", "minLength": 1, "maxLength": MAX_PATTERN},
        "kind": {"enum": list(KINDS), "default": "word"},
        "action": {"enum": list(ACTIONS), "default": "block",
                   "description": "`allow` exempts the other matches inside its own match."},
        "note": {**nullable_string(), "maxLength": MAX_NOTE},
    }


def list_barrages() -> Json:
    return {
        "operationId": "listBarrages",
        "summary": "Barrages in id order, for moderators.",
        "security": ADMIN,
        "parameters": [
            query("status", "Only this status. `pending` leaves out the repeats (×N) waiting with "
                  "a first: the first's `count` says how many.", {"enum": [*map(str, Status), ""]}),
            query("after", "Only ids above this one.", {"type": "integer", "minimum": 0}),
            query("limit", f"At most this many (capped at {LIST_LIMIT}).",
                  {"type": "integer", "minimum": 0}),
            room_query("Only this room's (default: every room's)."),
        ],
        "responses": {
            "200": answer("The barrages.", {
                "type": "object", "required": ["items"], "additionalProperties": False,
                "properties": {"items": {"type": "array", "maxItems": LIST_LIMIT,
                                         "items": ref("schemas", "Barrage")}},
            }),
            **refusals("400", *ADMIN_REFUSALS, "404", "503"),
        },
    }


def query(name: str, description: str, schema: Json) -> Json:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def room_query(description: str = "The room (default: main).") -> Json:
    return query("room", description + " An unknown room is a 404.", {"type": "string"})


def list_rooms() -> Json:
    return {
        "operationId": "listRooms",
        "summary": "Every room, main first.",
        "security": ADMIN,
        "responses": {
            "200": answer("The rooms.", {
                "type": "object", "required": ["rooms"], "additionalProperties": False,
                "properties": {"rooms": {"type": "array", "minItems": 1, "items": ref("schemas", "Room")}},
            }),
            **refusals(*ADMIN_REFUSALS),
        },
    }


def create_room() -> Json:
    return {
        "operationId": "createRoom",
        "summary": "Make a room. What the body leaves out comes from the config's defaults; "
                   "the title defaults to the slug.",
        "security": ADMIN,
        "requestBody": {"required": True, "content": json_content(ref("schemas", "NewRoom"))},
        "responses": {
            "201": answer("The room.", ref("schemas", "Room")),
            **refusals("400", *ADMIN_REFUSALS, "409", *BODY_REFUSALS, "503"),
        },
    }


def get_room() -> Json:
    return {
        "operationId": "getRoom",
        "summary": "One room.",
        "security": ADMIN,
        "parameters": [ref("parameters", "RoomSlug")],
        "responses": {"200": answer("The room.", ref("schemas", "Room")),
                      **refusals(*ADMIN_REFUSALS, "404")},
    }


def patch_room() -> Json:
    return {
        "operationId": "patchRoom",
        "summary": "Change a room's title, join text, mode or crossing time; screens follow at once "
                   "(a `settings` event).",
        "security": ADMIN,
        "parameters": [ref("parameters", "RoomSlug")],
        "requestBody": {"required": True, "content": json_content(ref("schemas", "RoomChange"))},
        "responses": {
            "200": answer("The room as it now is.", ref("schemas", "Room")),
            **refusals("400", *ADMIN_REFUSALS, "404", *BODY_REFUSALS, "503"),
        },
    }


def draw_lottery() -> Json:
    return {
        "operationId": "drawLottery",
        "summary": "Draw N distinct senders among those with a barrage approved in the room (one "
                   "ticket per sender, however many barrages). Sent to the room's screens as a "
                   "`lottery` event with the same body.",
        "security": ADMIN,
        "parameters": [ref("parameters", "RoomSlug")],
        "requestBody": {"required": True, "content": json_content(ref("schemas", "LotteryRequest"))},
        "responses": {
            "201": answer("The draw.", ref("schemas", "Draw")),
            "409": answer("Fewer senders in the draw than winners asked for.", ref("schemas", "Error")),
            **refusals("400", *ADMIN_REFUSALS, "404", *BODY_REFUSALS, "503"),
        },
    }


def room_control(verb: str, summary: str) -> Json:
    return {
        "operationId": f"{verb}Room",
        "summary": summary,
        "security": ADMIN,
        "parameters": [ref("parameters", "RoomSlug")],
        "requestBody": {"required": False, "content": json_content(ref("schemas", "Decision"))},
        "responses": {
            "200": answer("The room as it now is.", ref("schemas", "Room")),
            **refusals("400", *ADMIN_REFUSALS, "404", *BODY_REFUSALS, "503"),
        },
    }


def room_digest() -> Json:
    return {
        "operationId": "roomDigest",
        "summary": "A room's digest: every barrage it received (any status) counted by status and "
                   "source, the top senders, the busiest minute and the most repeated text.",
        "security": ADMIN,
        "parameters": [ref("parameters", "RoomSlug")],
        "responses": {"200": answer("The digest.", ref("schemas", "Digest")),
                      **refusals(*ADMIN_REFUSALS, "404", "503")},
    }


def export_barrages() -> Json:
    disposition = header("`attachment; filename=\"barrage-<room or all-rooms>-<UTC time>.<format>\"`.",
                         {"type": "string", "pattern": "^attachment; filename="})
    return {
        "operationId": "exportBarrages",
        "summary": "Every barrage, streamed in id order, as CSV (the default) or JSON.",
        "description": "Fields: " + ", ".join(f"`{name}`" for name in EXPORT_FIELDS) + ". `reason` is "
                       "empty for now; `moderator` is who decided. The CSV is UTF-8 with a BOM and a "
                       "header row (RFC 4180 quoting); a cell starting with =, +, -, @, a tab or a "
                       "carriage return gets a leading ' so that a spreadsheet shows it as text.",
        "security": ADMIN,
        "parameters": [room_query("Only this room's (default: every room's)."),
                       query("format", "csv (default) or json.", {"enum": ["csv", "json", ""]})],
        "responses": {
            "200": {"description": "The barrages.", "headers": {"Content-Disposition": disposition},
                    "content": {"text/csv": {"schema": {"type": "string"}},
                                **json_content(export_schema())}},
            **refusals("400", *ADMIN_REFUSALS, "404", "503"),
        },
    }


def put_announcement() -> Json:
    return {
        "operationId": "setAnnouncement",
        "summary": "Pin one line at the top of the room's screens (not flying) until it is replaced, "
                   "or remove it with `{\"text\": null}`. An `announce` event.",
        "security": ADMIN,
        "parameters": [ref("parameters", "RoomSlug")],
        "requestBody": {"required": True, "content": json_content(ref("schemas", "Announcement"))},
        "responses": {
            "200": answer("The room as it now is.", ref("schemas", "Room")),
            **refusals("400", *ADMIN_REFUSALS, "404", *BODY_REFUSALS, "503"),
        },
    }


def decision(verb: str, summary: str) -> Json:
    return {
        "operationId": verb,
        "summary": summary,
        "security": ADMIN,
        "parameters": [ref("parameters", "BarrageId")],
        "requestBody": {"required": False, "content": json_content(ref("schemas", "Decision"))},
        "responses": {
            "200": answer("The barrage as it now is. The same decision again by the same "
                          "moderator is 200 and changes nothing. A first (×N) is decided with "
                          "every repeat; a repeat's id decides (and answers with) its first.",
                          ref("schemas", "Barrage")),
            **refusals("400", *ADMIN_REFUSALS, "404", "409", *BODY_REFUSALS, "503"),
        },
    }


def bulk_decision() -> Json:
    return {
        "operationId": "bulkDecide",
        "summary": "Approve or reject several pending barrages at once.",
        "description": "Each id is decided as by its own approve or reject (the same compare-and-set "
                       "and event), in the order given. Bad input (not 1 to "
                       f"{MAX_BULK} distinct integer ids, or another verdict) is a 400 and decides "
                       "nothing.",
        "security": ADMIN,
        "requestBody": {"required": True, "content": json_content(ref("schemas", "BulkDecision"))},
        "responses": {
            "200": answer("One result per id, in the order given.", ref("schemas", "BulkResults")),
            **refusals("400", *ADMIN_REFUSALS, *BODY_REFUSALS, "503"),
        },
    }


def get_mode() -> Json:
    return {
        "operationId": "getMode",
        "summary": "A room's moderation mode.",
        "security": ADMIN,
        "parameters": [room_query()],
        "responses": {"200": answer("The mode.", ref("schemas", "Mode")),
                      **refusals(*ADMIN_REFUSALS, "404")},
    }


def put_mode() -> Json:
    return {
        "operationId": "setMode",
        "summary": "Switch a room's moderation: `off` puts every new barrage on screen at once.",
        "security": ADMIN,
        "parameters": [room_query()],
        "requestBody": {"required": True, "content": json_content(ref("schemas", "ModeChange"))},
        "responses": {
            "200": answer("The mode now.", ref("schemas", "Mode")),
            **refusals("400", *ADMIN_REFUSALS, "404", *BODY_REFUSALS, "503"),
        },
    }


def stats() -> Json:
    return {
        "operationId": "stats",
        "summary": "Counts for moderators; \"today\" starts at the server's local midnight.",
        "security": ADMIN,
        "parameters": [room_query("One room's counts (and mode); default: every room's (and main's mode).")],
        "responses": {"200": answer("The counts.", ref("schemas", "Stats")),
                      **refusals(*ADMIN_REFUSALS, "404", "503")},
    }


def admin_stream() -> Json:
    return {
        "operationId": "adminStream",
        "summary": "Server-sent events of every kind, for moderators. It never ends by itself.",
        "description": "Resume with `Last-Event-ID` (or `?last_event_id=`): events after that id "
                       "are replayed first, then live ones follow, none twice. The response's "
                       "X-Barrage-Epoch header names the database's epoch; pass it back as "
                       "`?epoch=` so that an id from before a restore is known as such. Past "
                       "`stream.max_per_address` streams from one address, or `stream.max_streams` "
                       "in all, the answer is 503 with Retry-After.",
        "security": ADMIN,
        "parameters": [ref("parameters", "LastEventIdHeader"), ref("parameters", "LastEventIdQuery"),
                       ref("parameters", "Epoch"), ref("parameters", "Heartbeat"),
                       room_query("Only this room's events (default: every room's).")],
        "responses": {
            "200": {
                "description": "The stream. `retry:` comes first; a heartbeat at least every "
                               "`stream.heartbeat_seconds` keeps it alive: a comment (`: ping`), "
                               "or with `?heartbeat=event` a Heartbeat event.",
                "content": {"text/event-stream": {"schema": {"oneOf": [
                    ref("schemas", "StreamEvent"), ref("schemas", "Heartbeat")]}}},
            },
            **refusals("400", *ADMIN_REFUSALS, "404", "503"),
        },
    }


def screen_config() -> Json:
    return {
        "operationId": "screenConfig",
        "summary": "What the screen and send pages need (public).",
        "parameters": [room_query()],
        "responses": {"200": answer("The settings.", ref("schemas", "ScreenConfig")), **refusals("404")},
    }


def my_barrages() -> Json:
    return {
        "operationId": "myBarrages",
        "summary": "This device's own latest barrages and their status (public).",
        "description": f"The device is the signed `barrage_device` cookie: the latest {MINE} barrages "
                       "it sent, newest first, of every room. Without a valid cookie the list is "
                       "empty. Meant to be polled (server/web/mine.py says why not a stream). "
                       f"`wins`: which of the latest {RECENT_DRAWS} lottery draws picked this device, "
                       "newest first.",
        "responses": {"200": answer("Newest first.", {
            "type": "object", "required": ["items", "wins"], "additionalProperties": False,
            "properties": {"items": {"type": "array", "maxItems": MINE,
                                     "items": ref("schemas", "MyBarrage")},
                           "wins": {"type": "array", "maxItems": RECENT_DRAWS, "items": {
                               "type": "object", "required": ["draw_id", "room", "event_id"],
                               "additionalProperties": False,
                               "properties": {"draw_id": {"type": "string"}, "room": {"type": "string"},
                                              "event_id": {"type": "integer", "minimum": 1}}}}},
        }), **refusals("503")},
    }


def self_description() -> Json:
    return {
        "operationId": "openapi",
        "summary": "This document (public).",
        "responses": {"200": answer("OpenAPI 3.1.", {"type": "object", "required": ["openapi", "paths"]})},
    }


def healthz() -> Json:
    return {
        "operationId": "healthz",
        "summary": "Liveness (public): 200 while the process serves, whatever its database or bus.",
        "description": "What it reports (`database`: `ok` or `not writable`, `bus_connected`, a chat "
                       "channel's `telegram_connected` or `slack_socket_connected`) is for people; "
                       "the status is 200 all the same. Readiness is `/readyz`.",
        "responses": {"200": answer("Serving.", {
            "type": "object", "required": ["status", "mode", "streams"],
            "properties": {"status": {"const": "ok"}, "mode": {"enum": [m.value for m in Mode]},
                           "streams": {"type": "integer", "minimum": 0,
                                       "description": "Screen streams open on this process."},
                           "database": {"enum": ["ok", "not writable"]}},
            "additionalProperties": {"type": ["boolean", "string"]}})},
    }


def readyz() -> Json:
    checks = {"type": "object", "required": ["database", "bus"],
              "additionalProperties": {"type": "string"},
              "properties": {"database": {"enum": [readiness.OK, "unreachable", "not answering"]},
                             "bus": {"enum": [readiness.OK, "disconnected"]}}}
    return {
        "operationId": "readyz",
        "summary": "Readiness (public): 200 only when the database answers and the bus is connected.",
        "description": f"The checks run at most once every {readiness.CACHE_SECONDS:g} s (every probe "
                       "meanwhile gets the same answer), each bounded by "
                       f"{readiness.CHECK_SECONDS:g} s: the database is one `SELECT 1`.",
        "responses": {
            "200": answer("Ready.", {"type": "object", "required": ["ready", "checks"],
                                     "additionalProperties": False,
                                     "properties": {"ready": {"const": True}, "checks": checks}}),
            "503": answer("Not ready: `reason` says which checks failed and how "
                          "(`database unreachable`, `bus disconnected`, joined by `; `).", {
                              "type": "object", "required": ["ready", "reason", "checks"],
                              "additionalProperties": False,
                              "properties": {"ready": {"const": False}, "reason": {"type": "string"},
                                             "checks": checks}},
                          **{"Retry-After": header("Whole seconds to wait.",
                                                   {"type": "string", "pattern": DIGITS})}),
        },
    }


def schemas() -> Json:
    return {
        "Error": {"type": "object", "required": ["error"], "additionalProperties": False,
                  "properties": {"error": {"type": "string"}}},
        "Submission": submission_schema(),
        "Receipt": {
            "type": "object", "required": ["id", "status", "reason", "screens"],
            "additionalProperties": False,
            "properties": {"id": barrage_id(),
                           "status": {"enum": [*map(str, (Status.PENDING, Status.APPROVED,
                                                         Status.REJECTED))]},
                           "reason": {**nullable_string(), "description": "Why it was not approved at "
                                      "once: \"blocked word\", \"link\" (rejected), \"held for review\" "
                                      "(pending in auto mode); never the matched word."},
                           "screens": {"type": "integer", "minimum": 0,
                                       "description": "Screens showing the room now (0: saved, but "
                                                      "no screen is showing right now)."}},
        },
        "Barrage": barrage_schema(),
        "FilterRule": {"type": "object", "additionalProperties": False,
                       "required": ["id", "pattern", "kind", "action", "note"],
                       "properties": {"id": {"type": "integer", "minimum": 1}, **filter_rule_fields()}},
        "NewFilterRule": {"type": "object", "required": ["pattern"],
                          "properties": {**filter_rule_fields(), "moderator": nullable_string()}},
        "MyBarrage": my_barrage_schema(),
        "Muted": {"type": "object", "required": ["error", "until"], "additionalProperties": False,
                  "properties": {"error": {"type": "string"},
                                 "until": {**nullable_string(), "format": "date-time"}}},
        "Mute": {"type": "object", "required": ["sender", "until", "reason"], "additionalProperties": False,
                 "properties": {"sender": {"type": "string"},
                                "until": {**nullable_string(), "format": "date-time",
                                          "description": "When it ends; null: until lifted."},
                                "reason": nullable_string()}},
        "MuteRequest": {
            "type": "object", "required": ["sender", "minutes"],
            "properties": {
                "sender": {"type": "string", "minLength": 1, "maxLength": MAX_SENDER,
                           "description": "A sender key: web:<device>, telegram:<id>, slack:<team>:<user>."},
                "minutes": {"type": "integer", "minimum": 0, "maximum": MAX_MINUTES,
                            "description": "0: until lifted."},
                "reason": {**nullable_string(), "maxLength": MAX_REASON},
                "moderator": nullable_string(),
            },
        },
        "Decision": {
            "type": "object",
            "description": "Optional. Who decides, as shown to others (default \"web moderator\").",
            "properties": {"moderator": nullable_string()},
        },
        "BulkDecision": {
            "type": "object", "required": ["ids", "verdict"],
            "properties": {
                "ids": {"type": "array", "minItems": 1, "maxItems": MAX_BULK, "uniqueItems": True,
                        "items": {"type": "integer"}},
                "verdict": {"enum": ["approve", "reject"]},
                "moderator": nullable_string(),
            },
        },
        "BulkResults": bulk_results_schema(),
        "Mode": {"type": "object", "required": ["mode", "room"], "additionalProperties": False,
                 "properties": {"mode": {"enum": [*map(str, Mode)]}, "room": slug_schema()}},
        "Room": room_schema(),
        "NewRoom": {"type": "object", "required": ["slug"],
                    "properties": {"slug": slug_schema(), **room_fields(), "moderator": nullable_string()}},
        "RoomChange": {"type": "object", "properties": {**room_fields(), "moderator": nullable_string()}},
        "ModeChange": {
            "type": "object", "required": ["mode"],
            "properties": {"mode": {"enum": [*map(str, Mode)]}, "moderator": nullable_string()},
        },
        "Stats": stats_schema(),
        "LotteryRequest": {
            "type": "object", "required": ["winners"],
            "properties": {
                "winners": {"type": "integer", "minimum": 1, "maximum": MAX_WINNERS},
                "since": {**nullable_string(), "format": "date-time", "description": "ISO 8601 with an "
                          "offset: only barrages created at or after it give a ticket."},
                "exclude_previous": {"type": "boolean", "description": "Leave out every sender an "
                                     "earlier draw in this room picked."},
                "moderator": nullable_string(),
            },
        },
        "Draw": draw_schema(),
        "Digest": digest_schema(),
        "ScreenConfig": screen_config_schema(),
        "StreamEvent": stream_event_schema(),
        "Heartbeat": heartbeat_schema(),
        "Announcement": {
            "type": "object", "required": ["text"],
            "properties": {
                "text": {"type": ["string", "null"], "maxLength": MAX_ANNOUNCEMENT,
                         "description": "Printable, trimmed, not empty; null removes the announcement."},
                "moderator": nullable_string(),
            },
        },
    }


def slug_schema() -> Json:
    return {"type": "string", "pattern": f"^{ROOM_SLUG.pattern}$"}


def room_fields() -> Json:
    return {
        "title": {"type": "string", "maxLength": MAX_TITLE},
        "join_text": {"type": "string", "maxLength": MAX_JOIN_TEXT,
                      "description": "Empty: the screen shows \"Join the wall: <join URL>\", "
                                     "in its reader's language (ui.language)."},
        "mode": {"enum": [*map(str, Mode)]},
        "crossing_seconds": {"type": "number", "minimum": MIN_CROSSING, "maximum": MAX_CROSSING},
    }


def room_schema() -> Json:
    return {
        "type": "object", "additionalProperties": False,
        "required": ["slug", "title", "join_text", "mode", "crossing_seconds", "paused", "announcement",
                     "screens"],
        "properties": {
            "slug": slug_schema(), **room_fields(),
            "paused": {"type": "boolean"},
            "announcement": nullable_string(),
            "screens": {"type": "integer", "minimum": 0, "description": "Live screens on this node."},
        },
    }


def barrage_id() -> Json:
    return {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def nullable_string() -> Json:
    return {"type": ["string", "null"]}


def submission_schema() -> Json:
    return {
        "type": "object", "required": ["text"],
        "properties": {
            "text": {"type": "string", "description": "Cleaned (NFC, no controls, whitespace folded); "
                     "1 to moderation.max_text_length characters (grapheme clusters) that show "
                     "something."},
            "author": {**nullable_string(), "description": "Up to moderation.max_author_length "
                       "characters; none, or one that shows nothing, is \"Anonymous\"."},
            "color": {**nullable_string(), "description": "#rgb, #rrggbb or a preset name: white, red, "
                      "orange, yellow, green, cyan, blue, purple, pink."},
            "size": {**nullable_string(), "description": "small, medium (the default) or large."},
            "room": {**nullable_string(), "description": "The room's slug (default: main); an unknown "
                     "room is a 404."},
        },
    }


def my_barrage_schema() -> Json:
    return {
        "type": "object", "additionalProperties": False, "required": [*MY_FIELDS],
        "properties": {
            "id": barrage_id(),
            "text": {"type": "string", "minLength": 1},
            "status": {"enum": [*map(str, Status)]},
            "room": slug_schema(),
            "created_at": {"type": "string", "format": "date-time"},
            "reason": {**nullable_string(), "description": "Why it was not approved at once, as the "
                       "sender is told (\"blocked word\", \"held for review\", \"rejected by "
                       "Alice\"); never the matched word."},
        },
    }


def barrage_schema() -> Json:
    moment = {"type": "string", "format": "date-time"}
    return {
        "type": "object", "additionalProperties": False,
        "required": ["id", "text", "author", "color", "size", "source", "status", "created_at", "sender",
                     "room", "reason", "flags", "count", "merged_into"],
        "properties": {
            "id": barrage_id(),
            "text": {"type": "string", "minLength": 1},
            "author": {"type": "string", "minLength": 1},
            "color": {"type": "string", "pattern": "^#[0-9a-f]{6}$"},
            "size": {"enum": [*map(str, Size)]},
            "source": {"enum": [*map(str, Source)]},
            "status": {"enum": [*map(str, Status)]},
            "created_at": moment,
            "sender": {**nullable_string(), "description": "Stable per person: web:<device id>, "
                       "telegram:<user id> or slack:<team>:<user>."},
            "decided_at": {"type": ["string", "null"], "format": "date-time"},
            "decided_by": nullable_string(),
            "room": slug_schema(),
            "retracted_by": {**nullable_string(), "description": "Who pulled it off the screens."},
            "retracted_at": {"type": ["string", "null"], "format": "date-time"},
            "reason": {**nullable_string(), "description": "Why it was not approved at once, as the "
                       "sender is told: \"blocked word\", \"link\", \"muted\", \"expired\", "
                       "\"rejected by Alice\"; null when there is nothing to say."},
            "flags": {"type": "array", "items": {"type": "string"},
                      "description": "What the filter saw: \"link\", \"rule:<id>\", \"classifier\"."},
            "count": {"type": "integer", "minimum": 1,
                      "description": "×N: this barrage and every repeat merged into it."},
            "merged_into": {"type": ["integer", "null"], "minimum": 1,
                            "description": "A repeat: the id of the first barrage it joined."},
        },
        "allOf": [
            # A pending barrage carries no decision; a decided one always says when and by whom.
            {"if": {"properties": {"status": {"const": str(Status.PENDING)}}},
             "then": {"properties": {"decided_at": False, "decided_by": False}},
             "else": {"required": ["decided_at", "decided_by"]}},
            # Only a retracted one says who retracted it, and it always does.
            {"if": {"properties": {"status": {"const": str(Status.RETRACTED)}}},
             "then": {"required": ["retracted_by", "retracted_at"]},
             "else": {"properties": {"retracted_by": False, "retracted_at": False}}},
        ],
    }


def bulk_results_schema() -> Json:
    decided = {"type": "object", "required": ["id", "status"], "additionalProperties": False,
               "properties": {"id": {"type": "integer"}, "status": {"enum": [*map(str, Status)]}}}
    refused = {"type": "object", "required": ["id", "error"], "additionalProperties": False,
               "properties": {"id": {"type": "integer"}, "error": {
                   "type": "string", "description": "\"not found\", or why it cannot be decided "
                                                    "(e.g. \"already approved by Alice\")."}}}
    return {"type": "object", "required": ["results"], "additionalProperties": False,
            "properties": {"results": {"type": "array", "maxItems": MAX_BULK,
                                       "items": {"oneOf": [decided, refused]}}}}


def draw_schema() -> Json:
    winner = {"type": "object", "required": ["author", "source"], "additionalProperties": False,
              "properties": {"author": {"type": "string"}, "source": {"enum": [*map(str, Source)]}}}
    return {
        "type": "object", "required": ["draw_id", "winners", "pool"], "additionalProperties": False,
        "properties": {
            "draw_id": {"type": "string", "minLength": 1},
            "winners": {"type": "array", "minItems": 1, "maxItems": MAX_WINNERS, "items": winner,
                        "description": "Shown by the author of each one's latest approved barrage."},
            "pool": {"type": "integer", "minimum": 1, "description": "The distinct senders drawn from."},
        },
    }


def digest_schema() -> Json:
    count = {"type": "integer", "minimum": 0}
    counted = {"type": "object", "required": ["count"], "properties": {"count": count}}
    return {
        "type": "object", "additionalProperties": False,
        "required": ["room", "total", "by_status", "by_source", "top_senders", "busiest_minute",
                     "most_repeated"],
        "properties": {
            "room": slug_schema(), "total": count,
            "by_status": {"type": "object", "required": [*map(str, Status)],
                          "additionalProperties": count},
            "by_source": {"type": "object", "required": [*map(str, Source)],
                          "additionalProperties": count},
            "top_senders": {"type": "array", "maxItems": TOP_SENDERS, "items": {
                **counted, "required": ["author", "count"], "properties": {
                    "author": {"type": "string"}, "count": count}}},
            "busiest_minute": {"oneOf": [{"type": "null"}, {
                **counted, "required": ["minute", "count"],
                "properties": {"minute": {"type": "string", "format": "date-time"}, "count": count}}]},
            "most_repeated": {"oneOf": [{"type": "null"}, {
                **counted, "required": ["text", "count"],
                "properties": {"text": {"type": "string"}, "count": count}}]},
        },
    }


def export_schema() -> Json:
    optional = nullable_string()
    return {
        "type": "object", "required": ["items"], "additionalProperties": False,
        "properties": {"items": {"type": "array", "items": {
            "type": "object", "required": list(EXPORT_FIELDS), "additionalProperties": False,
            "properties": {
                "id": barrage_id(), "room": slug_schema(),
                "created_at": {"type": "string", "format": "date-time"},
                "decided_at": {"type": ["string", "null"], "format": "date-time"},
                "status": {"enum": [*map(str, Status)]}, "reason": {"type": "string"},
                "author": {"type": "string"}, "sender": optional, "source": {"enum": [*map(str, Source)]},
                "text": {"type": "string"}, "moderator": optional,
            },
        }}},
    }


def stats_schema() -> Json:
    count = {"type": "integer", "minimum": 0}
    return {
        "type": "object", "required": ["mode", "pending", "approved_today", "screens", "screens_by_room"],
        "properties": {"mode": {"enum": [*map(str, Mode)]}, "pending": count,
                       "approved_today": count, "screens": count,
                       "screens_by_room": {"type": "object", "additionalProperties": count,
                                           "description": "Live screens per room, over every node "
                                                          "(only the named room with ?room=)."}},
    }


def screen_config_schema() -> Json:
    return {
        "type": "object",
        "required": ["room", "title", "join_text", "crossing_seconds", "max_waiting", "heartbeat_seconds",
                     "max_text_length", "max_author_length", "idle_seconds", "qr_url", "epoch"],
        "properties": {
            "room": slug_schema(),
            "title": {"type": "string"},
            "join_text": {"type": "string"},
            "crossing_seconds": {"type": "number", "exclusiveMinimum": 0},
            "max_waiting": {"type": "integer", "minimum": 0},
            "heartbeat_seconds": {
                "type": "number", "exclusiveMinimum": 0, "maximum": 15,
                "description": "stream.heartbeat_seconds: a stream silent for about three of "
                               "these is stalled (the screen then reconnects).",
            },
            "max_text_length": {"type": "integer", "minimum": 1},
            "max_author_length": {"type": "integer", "minimum": 1},
            "idle_seconds": {"type": "number", "exclusiveMinimum": 0,
                             "description": "Nothing flew for this long: show the large join QR."},
            "qr_url": {"type": "string", "description": "The room's join QR code (SVG)."},
            "epoch": {"type": "string", "description": "The database's epoch, new after every "
                                                       "restore: a stream resumes with ?epoch=."},
        },
    }


def stream_event_schema() -> Json:
    return {
        "type": "object", "required": ["id", "event", "data"],
        "description": "One event: its id is the event log's. `pending`, `barrage` and `rejected` "
                       "carry a Barrage; `mode` carries {\"mode\", \"by\", \"room\"}; `room` a new "
                       "room; `settings` a room's changed fields; `pause`, `resume` and `clear` "
                       "{\"room\", \"by\"}; `announce` {\"room\", \"text\" (null: removed), \"by\"}; "
                       "`retract` {\"id\", \"room\", \"by\"}; `expired` a Barrage (status "
                       "`expired`: pending too long, or pushed past `moderation.max_pending`). "
                       "`retract` {\"id\", \"room\", \"by\"}; `merge` {\"id\" (the first's), "
                       "\"count\", \"room\"}: an approved repeat joined a first flown in the last "
                       "`screen.merge_seconds` (×N; it does not fly again). A pending repeat writes a "
                       "`pending` event carrying its first with the new `count`. "
                       "A screen's `barrage` carries id, text, author, color, size, source, created_at, "
                       "room and count; its `merge` {\"id\", \"count\"}. "
                       "Every event names its `room`.",
        "properties": {
            "id": {"type": "string", "pattern": DIGITS},
            "event": {"enum": [*map(str, EventKind)]},
            "data": {"type": "string", "contentMediaType": "application/json"},
        },
    }


def heartbeat_schema() -> Json:
    return {
        "type": "object", "required": ["event", "data"],
        "description": "With `?heartbeat=event`, in place of each `: ping` comment: "
                       "`event: heartbeat` and an empty `data:` line, never an `id:` (so "
                       "Last-Event-ID stays the last real event's).",
        "properties": {"event": {"const": "heartbeat"}, "data": {"const": ""}},
        "not": {"required": ["id"]},
    }


def responses() -> Json:
    error = ref("schemas", "Error")
    retry_after = header("Whole seconds to wait.", {"type": "string", "pattern": DIGITS})
    return {
        "BadRequest": answer("The request breaks the rules; the message says which.", error),
        "Unauthorized": answer("No admin token, or a wrong one.", error, **{
            "WWW-Authenticate": header("Always `Bearer`.", {"const": "Bearer"})}),
        "NotFound": answer("No such barrage, room or filter rule.", error),
        "Conflict": answer("Somebody decided first (the message says who), the decision "
                           "cannot be undone, a barrage to retract is not approved, a room with that "
                           "slug exists, or a lottery has fewer senders than winners.", error),
        "RequestTimeout": answer("The body did not arrive within 10 s; the connection is closed.",
                                 error),
        "TooLarge": answer("The body is over 64 KiB.", error),
        "UnsupportedMediaType": answer("Content-Type is not application/json, or the body is "
                                       "compressed (Content-Encoding).", error),
        "TooManyRequests": answer("Over a rate limit, or locked out after failed admin logins.",
                                  error, **{"Retry-After": retry_after}),
        "Unavailable": answer("The database cannot be reached or cannot take writes right now "
                              "(nothing was stored), or, on a stream, the stream caps are reached.",
                              error, **{"Retry-After": retry_after}),
    }


def parameters() -> Json:
    last_event_id = {"type": "string", "description": "A non-negative integer of at most 18 digits."}
    return {
        "BarrageId": {"name": "id", "in": "path", "required": True, "schema": barrage_id()},
        "RoomSlug": {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}},
        "IdempotencyKey": {
            "name": IDEMPOTENCY_HEADER, "in": "header", "required": False,
            "description": "Any 1 to 255 printable ASCII characters; the same key from the same "
                           "sender within 24 h makes one barrage.",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
        },
        "LastEventIdHeader": {"name": "Last-Event-ID", "in": "header", "required": False,
                              "schema": last_event_id},
        "LastEventIdQuery": {"name": "last_event_id", "in": "query", "required": False,
                             "schema": last_event_id},
        "Epoch": {
            "name": "epoch", "in": "query", "required": False,
            "description": "The epoch the Last-Event-ID comes from (X-Barrage-Epoch, or `epoch` in "
                           "/api/screen-config). Another epoch than the database's (it was restored "
                           "from a backup since) resumes from where the two logs last agree.",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
        },
        "Heartbeat": {
            "name": "heartbeat", "in": "query", "required": False,
            "description": "How heartbeats come: `comment` (`: ping`, invisible to JavaScript) or "
                           "`event` (`event: heartbeat`, for a page that watches for a stalled "
                           "stream). Anything else is 400.",
            "schema": {"enum": ["comment", "event"], "default": "comment"},
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=request.app[DOCUMENT], content_type="application/json")



def add_route(app: web.Application) -> None:
    app[DOCUMENT] = json.dumps(document(), separators=(",", ":")).encode()
    app.router.add_get(PATH, openapi_json)
