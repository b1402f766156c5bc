"""A real `barrage serve` stopped with SIGINT and started again (same port, same SQLite file):
an SSE client from outside the project resumes with nothing lost and nothing repeated."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
from aiohttp_sse_client.client import EventSource

from tests.server_process import ServerProcess

COUNT = 50
TEXTS = [f"comment {i:02d}" for i in range(COUNT)]
END = "the end"  # posted last: once it arrives, anything doubled or lost would show


def restartable_wall(tmp_path: Path) -> ServerProcess:
    return ServerProcess(tmp_path, env={
        "BARRAGE_MODERATION_MODE": "off",
        "BARRAGE_MODERATION_MAX_PER_MINUTE": "0",
        "BARRAGE_STREAM_RETRY_MS": "100",  # the shortest allowed, so clients come back quickly
    })


async def restart_mid_stream(server: ServerProcess, up: asyncio.Event | None = None) -> None:
    """Half the comments, a stop and a start, the other half: the stream the client holds
    ends at the stop, and what comes before it reconnects is replayed from Last-Event-ID."""
    await server.wait_for_streams(1)
    await server.submit(*TEXTS[: COUNT // 2])
    if up is not None:
        up.clear()
    assert await server.stop() == 0
    await server.start()
    if up is not None:
        up.set()
    await server.submit(*TEXTS[COUNT // 2:], END)


async def read_until_end(source: EventSource) -> list[str]:
    seen = []
    async for message in source:
        if message.type == "barrage":
            seen.append(json.loads(message.data)["text"])
            if seen[-1] == END:
                return seen
    raise AssertionError(f"stream gave up after {seen}")


async def test_aiohttp_sse_client_resumes_across_a_restart(tmp_path: Path) -> None:
    server = restartable_wall(tmp_path)
    await server.start()
    # The client reconnects after `retry` (100-150 ms, doubled by this client) and tries
    # once; hold its reconnect until the new process listens, as a restart quicker than
    # `retry` would. aiohttp awaits on_request_start before it connects.
    up = asyncio.Event()
    up.set()
    trace = aiohttp.TraceConfig()

    async def wait_until_up(*_: object) -> None:
        await up.wait()

    trace.on_request_start.append(wait_until_up)
    try:
        async with aiohttp.ClientSession(trace_configs=[trace]) as session, \
                EventSource(f"{server.url}/stream", session=session) as source:
            reading = asyncio.create_task(read_until_end(source))
            await restart_mid_stream(server, up)
            seen = await asyncio.wait_for(reading, 60)
    finally:
        await server.kill()
    assert seen == [*TEXTS, END]
