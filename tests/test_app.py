"""The composition root's connection-level settings, over raw sockets."""

from __future__ import annotations

import asyncio
import socket

from aiohttp.test_utils import TestClient

from server.app import HEADER_TIMEOUT_SECONDS
from tests.conftest import ClientFactory
from tests.sse import next_block, next_event


def _recv_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


async def test_unfinished_headers_are_closed_but_streams_stay(make_client: ClientFactory) -> None:
    client: TestClient = await make_client(moderation__mode="off")
    stream = await client.get("/stream")  # idle past the timeout: no heartbeat within 15 s
    await next_block(stream)
    slow = socket.create_connection((client.host, client.port))
    slow.settimeout(3 * HEADER_TIMEOUT_SECONDS)
    slow.sendall(b"GET /stream HTTP/1.1\r\nHost: wall\r\n")  # and never the blank line
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await asyncio.to_thread(_recv_until_closed, slow) == b""
    assert loop.time() - started >= HEADER_TIMEOUT_SECONDS - 1  # closed by the timeout, not at once
    slow.close()
    await client.post("/api/barrages", json={"text": "still here"})
    assert (await next_event(stream)).data["text"] == "still here"
    stream.close()
