"""A local fake of the Telegram Bot API, for the real python-telegram-bot to talk to.

Serves `/bot<token>/<method>`, parses PTB's form-encoded bodies (nested fields
JSON-encoded), records every call, long-polls getUpdates, and can inject
errors (429 with retry_after, 400, 5xx, 409) for the next calls of a method.
Calls of a method can be held unanswered (a slow Telegram under a handler).
Several clients (server processes sharing one bot) can be told apart: each
gets a base URL of its own (`client_url`), and every call records its client
and when it started and was answered, so overlapping getUpdates show.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

JSON_FIELDS = {"reply_markup", "reply_parameters", "allowed_updates", "entities", "link_preview_options"}
BOT_USER = {"id": 999000, "is_bot": True, "first_name": "Wall", "username": "wall_bot"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str
    client: str = ""
    started: float = field(default_factory=time.monotonic)
    answered: float | None = None  # None while it is still being answered (a long poll)


@dataclass
class FakeTelegram:
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    admins: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, list[tuple[int | None, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list))
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    _message_ids: itertools.count = field(default_factory=lambda: itertools.count(5000))
    _update_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition | None = None
    _holds: dict[str, asyncio.Event] = field(default_factory=dict)
    server: TestServer | None = None
    _confirmed: int = 0

    # -- test helpers --

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/bot"))

    def client_url(self, client: str) -> str:
        """The base URL for one client: its calls are recorded with `client`."""
        assert self.server is not None
        return str(self.server.make_url(f"/{client}/bot"))

    def overlapping(self, method: str = "getUpdates") -> list[tuple[Call, Call]]:
        """Pairs of calls from two different clients that were open at the same time."""
        calls = [c for c in self.calls if c.method == method]
        return [(a, b) for i, a in enumerate(calls) for b in calls[i + 1:]
                if a.client != b.client and b.started < (a.answered or time.monotonic())
                and a.started < (b.answered or time.monotonic())]

    def most_open(self, method: str) -> int:
        """The most calls of `method` that were open (started, not yet answered) at one time."""
        edges = sorted((moment, step) for c in self.calls if c.method == method
                       for moment, step in ((c.started, 1), (c.answered or float("inf"), -1)))
        most = now = 0
        for _, step in edges:  # at equal times the answer (-1) sorts first: no overlap
            now += step
            most = max(most, now)
        return most

    def hold(self, method: str) -> None:
        """Calls of `method` wait unanswered from now until `release(method)`."""
        self._holds[method] = asyncio.Event()

    def release(self, method: str) -> None:
        self._holds.pop(method).set()

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def fail(self, method: str, times: int = 1, code: int = 429, description: str = "",
             retry_after: int | None = None, chat_id: int | None = None) -> None:
        """The next `times` calls of `method` (to `chat_id`, if given) fail."""
        error: dict[str, Any] = {"ok": False, "error_code": code,
                                 "description": description or f"error {code}"}
        if retry_after is not None:
            error["parameters"] = {"retry_after": retry_after}
        self.errors[method].extend([(chat_id, error)] * times)

    def _injected(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        for index, (chat_id, error) in enumerate(self.errors.get(method, [])):
            if chat_id is None or str(chat_id) == str(params.get("chat_id")):
                del self.errors[method][index]
                return error
        return None

    def called(self, method: str, **match: Any) -> list[Call]:
        return [c for c in self.calls if c.method == method
                and all(str(c.params.get(k)) == str(v) for k, v in match.items())]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 10.0, **match: Any) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.called(method, **match)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {count} {method} calls matching {match}, got "
                             f"{len(self.called(method, **match))}: {[c.params for c in self.calls]}")

    async def push_update(self, update: dict[str, Any]) -> None:
        self.updates.append(update)
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    # -- the server --

    async def start(self) -> None:
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_post("/{client}/bot{token}/{method}", self._handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()

    async def close(self) -> None:
        if self.server:
            await self.server.close()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        call = Call(method, params, request.match_info["token"], request.match_info.get("client", ""))
        self.calls.append(call)
        try:
            if (held := self._holds.get(method)) is not None:
                await held.wait()
            if error := self._injected(method, params):
                return web.json_response(error, status=error["error_code"])
            handler = getattr(self, f"_api_{method}", None)
            result = await handler(params) if handler else True
            return web.json_response({"ok": True, "result": result})
        finally:
            call.answered = time.monotonic()

    async def _api_getMe(self, _params: dict[str, Any]) -> dict[str, Any]:
        return BOT_USER

    async def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        wait = float(params.get("timeout") or 0)
        assert self._changed is not None
        pending = self._pending(offset)
        if not pending and wait:
            async with self._changed:
                try:
                    await asyncio.wait_for(self._changed.wait_for(lambda: bool(self._pending(offset))), wait)
                except TimeoutError:
                    pass
            pending = self._pending(offset)
        return pending

    def _pending(self, offset: int) -> list[dict[str, Any]]:
        # As Telegram does: asking with an offset confirms (forgets) everything before it.
        self._confirmed = max(self._confirmed, offset)
        return [u for u in self.updates if u["update_id"] >= self._confirmed]

    async def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message = {
            "message_id": next(self._message_ids), "date": int(time.time()),
            "chat": _chat(chat_id), "from": BOT_USER, "text": params.get("text", ""),
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self.messages[(chat_id, message["message_id"])] = message
        return message

    async def _api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = dict(self.messages.get(key) or {"message_id": key[1], "date": int(time.time()),
                                                  "chat": _chat(key[0])})
        message["text"] = params.get("text", "")
        message.pop("reply_markup", None)
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self.messages[key] = message
        return message

    async def _api_getChatAdministrators(self, _params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.admins


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id < 0:
        return {"id": chat_id, "type": "supergroup", "title": "Moderators"}
    return {"id": chat_id, "type": "private", "first_name": "Someone"}


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        return await request.json()
    form = await request.post()
    params: dict[str, Any] = {}
    for key, value in form.items():
        params[key] = json.loads(value) if key in JSON_FIELDS and isinstance(value, str) else value
    return params


# -- update builders (PTB 22.8 validates shapes: message_id and date, chat_instance) --

def user(user_id: int, first: str, last: str | None = None, username: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first}
    if last:
        data["last_name"] = last
    if username:
        data["username"] = username
    return data


def message_update(update_id: int, sender: dict[str, Any], text: str | None, *, chat_id: int | None = None,
                   message_id: int = 1, chat_type: str = "private", **extra: Any) -> dict[str, Any]:
    chat_id = sender["id"] if chat_id is None else chat_id
    chat = {"id": chat_id, "type": chat_type}
    chat.update({"first_name": sender["first_name"]} if chat_type == "private" else {"title": "Party"})
    message: dict[str, Any] = {"message_id": message_id, "date": int(time.time()), "chat": chat,
                               "from": sender, **extra}
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": update_id, "message": message}


def press_update(update_id: int, presser: dict[str, Any], data: str, *, chat_id: int,
                 message_id: int, query_id: str | None = None) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": query_id or f"q{update_id}", "from": presser, "chat_instance": "ci-1", "data": data,
            "message": {"message_id": message_id, "date": int(time.time()),
                        "chat": _chat(chat_id), "from": BOT_USER, "text": "card"},
        },
    }


def admin(member: dict[str, Any], owner: bool = False) -> dict[str, Any]:
    if owner:
        return {"status": "creator", "user": member, "is_anonymous": False}
    rights = ("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
              "can_manage_video_chats", "can_restrict_members", "can_promote_members", "can_change_info",
              "can_invite_users", "can_post_stories", "can_edit_stories", "can_delete_stories")
    return {"status": "administrator", "user": member, **dict.fromkeys(rights, False)}
