"""What strangers' streams cost a real server process: memory and descriptors.

Clients that never read are raw sockets with a small receive buffer that nobody
reads. Every wait ends on a positive signal: a reading client receiving the
whole replay, or a sentinel comment, proves the server has done its work for
the stalled ones too.
"""

from __future__ import annotations

import asyncio
import json
import resource
import socket
from pathlib import Path

import aiohttp
import pytest

from tests.server_process import AUTH, ServerProcess

MB = 1024 * 1024
RSS_BOUND = 120 * MB
OPEN_POLICY = {
    "BARRAGE_MODERATION_MODE": "off", "BARRAGE_MODERATION_MAX_PER_MINUTE": "0",
    "BARRAGE_MODERATION_MAX_PER_MINUTE_PER_ADDRESS": "0", "BARRAGE_MODERATION_MAX_TEXT_LENGTH": "1000",
}


async def start(tmp_path: Path, nofile: tuple[int, int] | None = None, **env: str) -> ServerProcess:
    server = ServerProcess(tmp_path, env=env, nofile=nofile)
    await server.start()
    return server


def stalled_stream(port: int, last_event_id: int) -> socket.socket:
    """A client that asks for a replay and never reads a byte of it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /stream HTTP/1.1\r\nHost: wall\r\nLast-Event-ID: %d\r\n\r\n" % last_event_id)
    return sock


async def post_many(http: aiohttp.ClientSession, url: str, texts: list[str]) -> list[int]:
    gate = asyncio.Semaphore(32)

    async def one(text: str) -> int:
        async with gate, http.post(f"{url}/api/barrages", json={"text": text}) as resp:
            assert resp.status == 201, await resp.text()
            return (await resp.json())["id"]

    return await asyncio.gather(*(one(text) for text in texts))


async def screens(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(f"{url}/api/stats", headers=AUTH) as resp:
        return (await resp.json())["screens"]


async def wait_for_screens(http: aiohttp.ClientSession, url: str, count: int) -> None:
    async with asyncio.timeout(60):
        while True:  # another process: polling its stats is the only signal there is
            if await screens(http, url) >= count:
                return
            await asyncio.sleep(0.05)


async def read_replay(http: aiohttp.ClientSession, url: str, after: int, until: int) -> list[int]:
    """Barrage ids of a full replay after `after`, read up to the event that names `until`."""
    ids: list[int] = []
    async with http.get(f"{url}/stream", headers={"Last-Event-ID": str(after)},
                        timeout=aiohttp.ClientTimeout(total=120)) as resp:
        kind = b""
        async for line in resp.content:
            if line.startswith(b"event: "):
                kind = line[7:].strip()
            if line.startswith(b"data: ") and kind == b"barrage":
                ids.append(json.loads(line[6:])["id"])
                if ids[-1] == until:
                    return ids
    raise AssertionError("stream ended before the sentinel")


@pytest.mark.parametrize(("count", "text", "clients", "back"), [
    (3000, "漢" * 680, 100, 3000),   # about 2 KB a comment, the bound: from the log
    (3000, "漢" * 680, 100, 900),    # the same, served from the in-memory history
    (1500, "🏳️‍🌈" * 850, 100, 1500),  # about 12 KB a comment (the 3.4 GB finding had 8 clients)
])
async def test_stalled_replays_stay_within_the_memory_bound(
    tmp_path: Path, count: int, text: str, clients: int, back: int,
) -> None:
    server = await start(tmp_path, BARRAGE_STREAM_MAX_PER_ADDRESS="1000", **OPEN_POLICY)
    stalled: list[socket.socket] = []
    try:
        async with aiohttp.ClientSession() as http:
            # Numbered: the same text again would merge into one flown item (×N), not replay as many.
            ids = await post_many(http, server.url, [f"{n} {text}" for n in range(count)])
            baseline = server.status("VmRSS")
            resume = max(1, max(ids) - back)
            stalled = [stalled_stream(server.port, resume) for _ in range(clients)]
            await wait_for_screens(http, server.url, clients)
            [sentinel] = await post_many(http, server.url, ["sentinel"])
            # Event 1 is main's `room` event (written at the first start), 2 the first comment's.
            replay = await read_replay(http, server.url, 2, sentinel)
            grown = server.status("VmHWM") - baseline
        print(f"{clients} stalled replays of {back} × {len(text.encode())} B: "
              f"RSS {baseline / MB:.0f} MB, peak +{grown / MB:.0f} MB")
        # A reader still gets the whole replay, in order, once: all but the first comment.
        assert replay == sorted(replay) and len(set(replay)) == len(replay) == count
        assert replay[-1] == sentinel
        assert grown <= RSS_BOUND
    finally:
        for sock in stalled:
            sock.close()
        await server.stop()


def first_line(sock: socket.socket) -> bytes:
    received = b""
    while b"\r\n" not in received and (chunk := sock.recv(256)):
        received += chunk
    return received.split(b"\r\n", 1)[0]


async def test_the_descriptor_limit_is_raised_and_a_shortfall_warned(tmp_path: Path) -> None:
    server = await start(tmp_path, nofile=(1024, 4096))
    try:
        assert server.open_files_limit() == 4096
    finally:
        await server.stop()
    assert "descriptor limit is 4096, below stream.max_streams (20000)" in server.log_text()


async def test_streams_past_the_cap_leave_descriptors_for_everything_else(tmp_path: Path) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # this test's client side
    server = await start(tmp_path, nofile=(1024, 1024), BARRAGE_STREAM_MAX_STREAMS="900",
                         BARRAGE_STREAM_MAX_PER_ADDRESS="5000", **OPEN_POLICY)
    streams = [stalled_stream(server.port, 0) for _ in range(1000)]
    try:
        statuses = [first_line(sock) for sock in streams]
        assert statuses.count(b"HTTP/1.1 200 OK") == 900
        assert statuses.count(b"HTTP/1.1 503 Service Unavailable") == 100
        async with aiohttp.ClientSession() as http:
            assert (await post_many(http, server.url, ["still accepting"]))
            async with http.get(f"{server.url}/healthz") as resp:
                assert resp.status == 200
    finally:
        for sock in streams:
            sock.close()
        await server.stop()
