"""X-Request-ID over real HTTP: kept when sane, replaced otherwise, on every response
(errors, 404s, static files, event streams), and the request_id of the lines logged
while the request is handled."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest
from aiohttp.test_utils import TestClient

from server.logs import ContextFilter, JsonFormatter
from server.web.request_id import MAX_LENGTH
from tests.conftest import AUTH
from tests.sse import next_block

MADE = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("GET", "/healthz", None, 200),
    ("GET", "/no/such/page", None, 404),
    ("GET", "/api/no-such-thing", None, 404),
    ("POST", "/api/barrages", "{not json", 400),
    ("POST", "/api/barrages", None, 400),      # no body
    ("GET", "/api/stats", None, 401),          # no token
    ("DELETE", "/api/barrages", None, 405),
    ("GET", "/static/screen.js", None, 200),   # a static file
    ("HEAD", "/static/screen.css", None, 200),
    ("GET", "/", None, 200),
])
async def test_an_incoming_id_is_kept_on_every_kind_of_response(
        client: TestClient, method: str, path: str, body: str | None, status: int) -> None:
    headers = {"X-Request-ID": "edge-7f3a/req:42", "Content-Type": "application/json"}
    async with client.request(method, path, data=body, headers=headers) as resp:
        assert resp.status == status
        assert resp.headers["X-Request-ID"] == "edge-7f3a/req:42"


async def test_an_id_is_made_when_none_comes_and_each_request_has_its_own(client: TestClient) -> None:
    made = set()
    for path in ("/healthz", "/healthz", "/nope"):
        async with client.get(path) as resp:
            made.add(resp.headers["X-Request-ID"])
    assert len(made) == 3 and all(MADE.fullmatch(each) for each in made)


@pytest.mark.parametrize("offered", [
    "x" * (MAX_LENGTH + 1),            # too long
    "tab\there",                       # a control character
    "",                                # empty
])
async def test_an_unfit_id_is_replaced(client: TestClient, offered: str) -> None:
    async with client.get("/healthz", headers={"X-Request-ID": offered}) as resp:
        assert MADE.fullmatch(resp.headers["X-Request-ID"])


async def test_the_longest_fit_id_is_kept(client: TestClient) -> None:
    longest = "~" + "a" * (MAX_LENGTH - 3) + " "  # printable ASCII, a space inside counts
    async with client.get("/healthz", headers={"X-Request-ID": f"{longest}z"}) as resp:
        assert resp.headers["X-Request-ID"] == f"{longest}z"


async def raw(client: TestClient, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    await writer.wait_closed()
    return head


async def test_non_ascii_and_forged_lines_never_pass(client: TestClient) -> None:
    # Bytes past ASCII reach the header as their own characters: replaced, not echoed.
    head = await raw(client, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: caf\xc3\xa9\r\n"
                             b"Connection: close\r\n\r\n")
    echoed = re.search(rb"X-Request-ID: (.*)\r\n", head)
    assert echoed is not None and MADE.fullmatch(echoed.group(1).decode())
    # A bare LF cannot add a header or a log line: HTTP refuses it or the id is replaced.
    head = await raw(client, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: a\nX-Forged: 1\r\n"
                             b"Connection: close\r\n\r\n")
    assert b"X-Forged" not in head


async def test_an_event_stream_carries_the_id(client: TestClient) -> None:
    for path, headers in (("/stream", {}), ("/api/stream", AUTH)):
        stream = await client.get(path, headers={**headers, "X-Request-ID": f"stream-{path}"})
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.headers["X-Request-ID"] == f"stream-{path}"
        await next_block(stream)  # the stream is open and serving
        stream.close()


class JsonLines(logging.Handler):
    """Lines as `barrage serve --log-format json` writes them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(ContextFilter())
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def test_the_lines_of_a_request_carry_its_id(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    handler = JsonLines()
    logging.getLogger().addHandler(handler)
    try:
        async with client.get("/api/nothing", headers={"X-Request-ID": "the-404"}) as resp:
            assert resp.status == 404
        async with client.post("/api/barrages", json={"text": "hi"}, headers={"X-Request-ID": "sub"}) as resp:
            barrage = (await resp.json())["id"]
        async with client.post(f"/api/barrages/{barrage}/approve", headers={**AUTH, "X-Request-ID": "ok"}):
            pass
    finally:
        logging.getLogger().removeHandler(handler)
    refused = [line for line in handler.lines if line["logger"] == "server.web.errors"]
    assert refused and all(line["request_id"] == "the-404" for line in refused)
    decided = [line for line in handler.lines if str(line["msg"]).startswith(f"barrage {barrage} approved")]
    assert decided == [{**decided[0], "request_id": "ok", "barrage_id": barrage, "room": "main",
                        "event_id": decided[0]["event_id"]}]
    assert isinstance(decided[0]["event_id"], int)
    stored = [line for line in handler.lines if str(line["msg"]).startswith(f"barrage {barrage} stored")]
    assert [(s["request_id"], s["barrage_id"], s["room"]) for s in stored] == [("sub", barrage, "main")]
    assert stored[0]["event_id"] < decided[0]["event_id"]
