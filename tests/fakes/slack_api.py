"""A local fake of Slack: the Web API under /api/, a response_url endpoint, and a
Socket Mode WebSocket server. The real slack_sdk/slack-bolt talk to it.

Records every call (and every Socket Mode ack), can answer 429 with
Retry-After for the next calls of a method, and can hold a method's answers
for a while (`delays`) to play a slow Web API.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

BOT_USER_ID = "UBOT"
TEAM_ID = "T0001"


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class FakeSlack:
    calls: list[Call] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)  # what reached response_url
    acks: list[dict[str, Any]] = field(default_factory=list)       # Socket Mode acks
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    channel_members: list[str] = field(default_factory=list)
    rate_limited: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)  # method -> seconds each answer is held
    held: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # answers held right now
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    socket_opens: int = 0
    server: TestServer | None = None
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def api_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/api/"))

    def response_url(self, name: str = "r1") -> str:
        assert self.server is not None
        return str(self.server.make_url(f"/response/{name}"))

    def called(self, method: str, **match: Any) -> list[Call]:
        return [c for c in self.calls if c.method == method
                and all(c.params.get(k) == v for k, v in match.items())]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 10.0, **match: Any) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(found := self.called(method, **match)) >= count:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {count} {method} calls matching {match}: "
                             f"{[(c.method, c.params) for c in self.calls]}")

    async def wait_for_response(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.responses) >= count:
                return self.responses
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {count} response_url posts: {self.responses}")

    def release(self) -> None:
        """Answer every held call now (and every later one at once)."""
        self._released.set()

    # -- Socket Mode --

    async def wait_for_socket(self, count: int = 1, timeout: float = 10.0) -> web.WebSocketResponse:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [ws for ws in self.sockets if not ws.closed]
            if len(self.sockets) >= count and live:
                return live[-1]
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected socket #{count}, have {len(self.sockets)}")

    async def envelope(self, kind: str, payload: dict[str, Any], envelope_id: str,
                       ws: web.WebSocketResponse | None = None, retry_attempt: int = 0) -> dict[str, Any]:
        """Send one envelope on the live socket (or on `ws`, one of several); return the client's ack."""
        ws = ws or await self.wait_for_socket()
        await ws.send_json({"envelope_id": envelope_id, "type": kind, "payload": payload,
                            "accepts_response_payload": kind != "events_api", "retry_attempt": retry_attempt,
                            "retry_reason": "timeout" if retry_attempt else ""})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for ack in self.acks:
                if ack.get("envelope_id") == envelope_id:
                    return ack
            await asyncio.sleep(0.02)
        raise AssertionError(f"no ack for {envelope_id}")

    async def ask_to_reconnect(self) -> None:
        ws = await self.wait_for_socket()
        await ws.send_json({"type": "disconnect", "reason": "refresh_requested",
                            "debug_info": {"host": "fake"}})

    # -- the server --

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response)
        app.router.add_get("/link", self._socket)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()

    async def close(self) -> None:
        self.release()
        for ws in self.sockets:
            await ws.close()
        if self.server:
            await self.server.close()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = dict(request.query)
        if request.can_read_body:
            params.update(await request.json() if request.content_type == "application/json"
                          else dict(await request.post()))
        params["_auth"] = request.headers.get("Authorization", "")
        self.calls.append(Call(method, params))
        if self.delays.get(method) and not self._released.is_set():
            self.held[method] += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), self.delays[method])
            finally:
                self.held[method] -= 1
        if self.rate_limited[method] > 0:
            self.rate_limited[method] -= 1
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": "1"})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        return web.json_response(await handler(params) if handler else {"ok": True})

    async def _auth_test(self, _p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://fake.slack.com/", "team": "Fake", "user": "wall",
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": "B0001", "is_enterprise_install": False}

    async def _chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        message = {"ts": ts, "text": p.get("text"), "blocks": p.get("blocks"), "user": BOT_USER_ID}
        self.messages[(p["channel"], ts)] = message
        return {"ok": True, "channel": p["channel"], "ts": ts, "message": message}

    async def _chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        message = {"ts": p["ts"], "text": p.get("text"), "blocks": p.get("blocks")}
        self.messages[(p["channel"], p["ts"])] = message
        return {"ok": True, "channel": p["channel"], "ts": p["ts"], "text": p.get("text")}

    async def _chat_postEphemeral(self, _p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": f"{int(time.time())}.{next(self._ts):06d}"}

    async def _users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(p.get("user", ""))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    async def _conversations_members(self, _p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "members": self.channel_members, "response_metadata": {"next_cursor": ""}}

    async def _apps_connections_open(self, _p: dict[str, Any]) -> dict[str, Any]:
        self.socket_opens += 1
        assert self.server is not None
        url = str(self.server.make_url(f"/link?n={self.socket_opens}")).replace("http://", "ws://")
        return {"ok": True, "url": url}

    async def answer_at(self, name: str, timeout: float = 10.0) -> dict[str, Any]:
        """The first post to response_url(`name`), waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for response in self.responses:
                if response.get("_name") == name:
                    return response
            await asyncio.sleep(0.02)
        raise AssertionError(f"nothing posted to response_url {name!r}: {self.responses}")

    async def _response(self, request: web.Request) -> web.Response:
        self.responses.append({**await request.json(), "_name": request.match_info["name"]})
        return web.json_response({"ok": True})

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "connection_info": {"app_id": "A0001"}, "debug_info": {"host": "fake"}})
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.acks.append(json.loads(message.data))
        return ws


def slack_user(user_id: str, display: str, real: str = "") -> dict[str, Any]:
    return {"id": user_id, "name": display.lower(), "real_name": real or display,
            "profile": {"display_name": display, "real_name": real or display}}


def slack_escaped(text: str) -> str:
    """Text a person typed, as Slack sends it in events and slash commands: `&`, `<` and `>`
    escaped (its own markup, mentions and links in angle brackets, is not)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

