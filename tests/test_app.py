"""The composition root's connection-level settings, over raw sockets."""

from __future__ import annotations

import asyncio
import socket

from aiohttp.test_utils import TestClient

from server.app import HEADER_TIMEOUT_SECONDS
from server.web.api import BODY_TIMEOUT_SECONDS
from tests.conftest import ClientFactory
from tests.sse import next_block, next_event


def _recv_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


async def _slow_client(client: TestClient, request: bytes) -> tuple[bytes, float]:
    """Send an unfinished request; what comes back before the close, and after how long."""
    slow = socket.create_connection((client.host, client.port))
    slow.settimeout(3 * HEADER_TIMEOUT_SECONDS)
    slow.sendall(request)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        return await asyncio.to_thread(_recv_until_closed, slow), loop.time() - started
    finally:
        slow.close()


async def test_slow_requests_are_closed_but_streams_stay(make_client: ClientFactory) -> None:
    client: TestClient = await make_client(moderation__mode="off")
    stream = await client.get("/stream")  # idle past the timeout: no heartbeat within 15 s
    await next_block(stream)
    headers, body = await asyncio.gather(
        _slow_client(client, b"GET /stream HTTP/1.1\r\nHost: wall\r\n"),  # never the blank line
        _slow_client(client, b"POST /api/barrages HTTP/1.1\r\nHost: wall\r\n"
                             b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"),
    )
    assert headers[0] == b"" and headers[1] >= HEADER_TIMEOUT_SECONDS - 1  # by the timeout
    assert body[0].startswith(b"HTTP/1.1 408 ") and body[1] >= BODY_TIMEOUT_SECONDS - 1
    await client.post("/api/barrages", json={"text": "still here"})
    assert (await next_event(stream)).data["text"] == "still here"
    stream.close()
