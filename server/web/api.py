"""The JSON API. Each handler: parse → one core call → render."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import timedelta
from typing import Any

from aiohttp import web

from server.core.errors import InvalidInput
from server.core.meter import Outcome
from server.core.model import MAX_ID, Source, Status, Verdict
from server.core.policy import clean_name, is_ascii_number, parse_id
from server.core.service import MAX_NAME, Submission
from server.web.auth import admin_only, no_store
from server.web.client import client_address, network_of
from server.web.fanout import Audience
from server.web.keys import CONFIG, DEVICES, EPOCH, FANOUT, HEALTH, PRESENCE, SERVICE, VIEWS
from server.web.language import page_language
from server.web.qr import qr_url
from server.web.stream import admin_stream

LIST_LIMIT = 1000
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_WINDOW = timedelta(hours=24)
MAX_IDEMPOTENCY_KEY = 255
__all__ = ["add_routes", "client_address", "network_of"]


BODY_TIMEOUT_SECONDS = 10.0


async def read_json_object(request: web.Request) -> dict[str, Any]:
    try:
        # The header timeout ends with the headers; a body that trickles in (or never
        # comes) would hold its connection for as long as the client liked.
        async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
            body = await request.json(loads=_strict_loads)
    except TimeoutError:
        raise web.HTTPRequestTimeout(reason="the request body did not arrive in time",
                                     headers={"Connection": "close"}) from None
    # RecursionError: "[[[[…" nested past the parser's depth; LookupError: charset=bogus
    except (ValueError, RecursionError, LookupError):
        raise InvalidInput("body must be valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object")
    return body


def _strict_loads(text: str) -> Any:
    if not text.strip():
        raise ValueError("empty body")
    return json.loads(text)


def optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{key} must be a string")
    return value


def moderator_of(body: dict[str, Any]) -> str:
    """Who acts, from an optional `{"moderator"}`: cleaned and cut as every moderator's name is
    (it reaches events, desks and log lines); "web" when none is given."""
    return clean_name(optional_str(body, "moderator") or "web", MAX_NAME, "web")


async def submit(request: web.Request) -> web.Response:
    # First: whatever the answer, a sender with no valid cookie leaves with one.
    device_id, known = request.app[DEVICES].identify(request)
    try:
        submission = await _submission(request, device_id, known)
    except (InvalidInput, web.HTTPClientError):
        # Refused before the core saw it (415, 413, bad JSON): still a refused submission.
        request.app[SERVICE].meter.submitted(Source.WEB, Outcome.REFUSED)
        raise
    receipt = await request.app[SERVICE].submit(submission)
    barrage = receipt.barrage
    # A repeat gets what the first request got, though the barrage may be decided since.
    status = (receipt.told or barrage.status) if receipt.created else barrage.first_status
    headers = {} if receipt.created else {"Idempotent-Replayed": "true"}
    # No screen shows the room now: send.js says it is saved all the same.
    screens = request.app[PRESENCE].screens(barrage.room)
    # `reason`: why it was not approved at once ("blocked word", "held for review"), never the word.
    # (A repeat of one decided since: its reason now would not go with the status first told.)
    reason = barrage.reason if status is barrage.status else None
    body = {"id": barrage.id, "status": status.value, "reason": reason, "screens": screens}
    return web.json_response(body, status=201, headers=headers)


async def _submission(request: web.Request, device_id: str, known: bool) -> Submission:
    # Only JSON: a form or text/plain post from any other site needs no CORS preflight.
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(reason="Content-Type must be application/json")
    idempotency_key = _idempotency_key(request)
    body = await read_json_object(request)
    if not isinstance(body.get("text"), str):
        raise InvalidInput("text is required and must be a string")
    address = network_of(client_address(request))
    # Without a valid cookie, every such request from one network is one anonymous sender.
    limit_key = f"web:{device_id}" if known else f"web-anonymous:{address}"
    return Submission(
        text=body["text"],
        author=optional_str(body, "author"),
        color=optional_str(body, "color"),
        size=optional_str(body, "size"),
        source=Source.WEB,
        sender_key=f"web:{device_id}",
        limit_key=limit_key,
        address=address,
        dedupe_key=_dedupe_key(limit_key, idempotency_key),
        dedupe_for=IDEMPOTENCY_WINDOW,
        room=optional_str(body, "room"),
    )


def _idempotency_key(request: web.Request) -> str | None:
    values = request.headers.getall(IDEMPOTENCY_HEADER, [])
    if not values:
        return None
    key = values[0]
    printable = key.isascii() and key.isprintable()  # ASCII 0x20-0x7E
    if len(values) > 1 or not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not printable:
        raise InvalidInput(f"{IDEMPOTENCY_HEADER} must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII "
                           "characters, sent once")
    return key


def _dedupe_key(sender: str, idempotency_key: str | None) -> str | None:
    """Scoped to the sender (another device's same key is its own), hashed to a fixed size."""
    if idempotency_key is None:
        return None
    digest = hashlib.sha256(f"{sender}\n{idempotency_key}".encode()).hexdigest()
    return f"web-idempotency:{digest}"


@admin_only
async def list_barrages(request: web.Request) -> web.Response:
    status = _status_param(request.query.get("status"))
    # No id is above MAX_ID, so "after" a larger one is simply nothing (and never reaches SQL).
    after = min(_int_param(request.query.get("after"), "after", 0), MAX_ID)
    limit = min(_int_param(request.query.get("limit"), "limit", LIST_LIMIT), LIST_LIMIT)
    room = named_room(request)
    items = await request.app[VIEWS].barrages(status, after, limit, room)
    return web.json_response({"items": [b.to_dict() for b in items]})


@admin_only
async def approve(request: web.Request) -> web.Response:
    return await _decide(request, Verdict.APPROVE)


@admin_only
async def reject(request: web.Request) -> web.Response:
    return await _decide(request, Verdict.REJECT)


@admin_only
async def undo(request: web.Request) -> web.Response:
    """A decision of the last 10 s back to pending; 409 when too late or not decided."""
    barrage_id = _barrage_id(request)
    barrage = await request.app[SERVICE].undo(barrage_id, await _moderator(request))
    return web.json_response(barrage.to_dict())


@admin_only
async def retract(request: web.Request) -> web.Response:
    """Pull an approved barrage off every screen; 409 when it is not approved."""
    barrage_id = _barrage_id(request)
    barrage = await request.app[SERVICE].retract(barrage_id, await _moderator(request))
    return web.json_response(barrage.to_dict())


@admin_only
async def bulk_decide(request: web.Request) -> web.Response:
    """`{"ids": [...], "verdict"}`: each decided as on its own, answered in the order given."""
    body = await read_json_object(request)
    moderator = optional_str(body, "moderator") or "web moderator"
    results = await request.app[SERVICE].decide_many(body.get("ids"), body.get("verdict"), moderator)
    return web.json_response({"results": [
        {"id": barrage_id, "error": result} if isinstance(result, str) else
        {"id": barrage_id, "status": result.status.value} for barrage_id, result in results]})


async def _decide(request: web.Request, verdict: Verdict) -> web.Response:
    barrage_id = _barrage_id(request)
    barrage = await request.app[SERVICE].decide(barrage_id, verdict, await _moderator(request))
    return web.json_response(barrage.to_dict())


async def _moderator(request: web.Request) -> str:
    moderator = None
    if request.can_read_body:
        moderator = optional_str(await read_json_object(request), "moderator")
    return moderator or "web moderator"


def named_room(request: web.Request) -> str | None:
    """`?room=`, checked: None when absent (every room), NotFound (404) when unknown."""
    slug = request.query.get("room")
    return request.app[SERVICE].rooms.get(slug).slug if slug else None


@admin_only
async def get_mode(request: web.Request) -> web.Response:
    room = request.app[SERVICE].rooms.get(request.query.get("room"))
    return web.json_response({"mode": room.mode.value, "room": room.slug})


@admin_only
async def put_mode(request: web.Request) -> web.Response:
    room = request.app[SERVICE].rooms.get(request.query.get("room")).slug
    body = await read_json_object(request)
    mode = optional_str(body, "mode") or ""
    new = await request.app[SERVICE].set_mode(mode, optional_str(body, "moderator") or "web", room)
    return web.json_response({"mode": new.value, "room": room})


@admin_only
async def stats(request: web.Request) -> web.Response:
    """Main's mode and everything's counts; with ?room=, that room's."""
    room = named_room(request)
    presence, rooms = request.app[PRESENCE], request.app[SERVICE].rooms
    mode = rooms.get(room).mode
    body = await request.app[VIEWS].stats(mode, presence.screens(room), room)
    slugs = [room] if room else [each.slug for each in rooms.all()]
    return web.json_response({**body, "screens_by_room": presence.by_room(slugs)})


async def screen_config(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    room = request.app[SERVICE].rooms.get(request.query.get("room"))
    return web.json_response({
        "room": room.slug,
        "title": room.title,
        "join_text": config.join_text(room.slug, room.join_text, page_language(request)),
        "crossing_seconds": room.crossing_seconds,
        "max_waiting": config.screen.max_waiting,
        "heartbeat_seconds": config.stream.heartbeat_seconds,
        "idle_seconds": config.screen.idle_seconds,
        "qr_url": qr_url(room.slug),
        "max_text_length": config.moderation.max_text_length,
        "max_author_length": config.moderation.max_author_length,
        "epoch": request.app[EPOCH].token,  # the stream's: a screen resumes with it
    }, headers={"Vary": "Accept-Language"})  # the default join text is in the reader's language


async def healthz(request: web.Request) -> web.Response:
    """200 while the wall serves; chat channels report alongside (a channel down is not the wall down)."""
    body: dict[str, object] = {
        "status": "ok",
        "mode": request.app[SERVICE].mode.value,
        "streams": request.app[FANOUT].count(Audience.SCREEN),
    }
    for name, check in request.app[HEALTH].items():
        body[name] = await check()
    return web.json_response(body)


def _barrage_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    barrage_id = parse_id(raw)
    if barrage_id is None:
        raise web.HTTPNotFound(reason=f"no barrage {raw[:20]}")
    return barrage_id


def _status_param(raw: str | None) -> Status | None:
    if raw is None or raw == "":
        return None
    try:
        return Status(raw)
    except ValueError:
        raise InvalidInput(f"status must be one of {', '.join(map(str, Status))}") from None


def _int_param(raw: str | None, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    if not is_ascii_number(raw, 10):
        raise InvalidInput(f"{name} must be a non-negative integer")
    return int(raw)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/barrages", submit)
    app.router.add_get("/api/barrages", list_barrages)
    app.router.add_post("/api/barrages/bulk", bulk_decide)
    app.router.add_post(r"/api/barrages/{id:[0-9]+}/approve", approve)
    app.router.add_post(r"/api/barrages/{id:[0-9]+}/reject", reject)
    app.router.add_post(r"/api/barrages/{id:[0-9]+}/undo", undo)
    app.router.add_post(r"/api/barrages/{id:[0-9]+}/retract", retract)
    app.router.add_get("/api/mode", get_mode)
    app.router.add_put("/api/mode", put_mode)
    app.router.add_get("/api/stats", stats)
    app.router.add_get("/api/stream", admin_only(admin_stream))
    app.router.add_get("/api/screen-config", screen_config)
    app.router.add_get("/healthz", healthz)
    app.on_response_prepare.append(no_store)
    app.on_response_prepare.append(_give_fresh_device)


async def _give_fresh_device(request: web.Request, response: web.StreamResponse) -> None:
    if DEVICES in request.app:
        request.app[DEVICES].give_fresh(request, response)
