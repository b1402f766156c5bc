"""The database stopped mid-event under a real `barrage serve`, and started again.

A scratch PostgreSQL server of the test's own (tests/scratch_postgres.py, never the shared
one) is stopped with `pg_ctl stop` while a screen holds its stream (a real SSE client): /readyz
says 503 and why, submissions get 503 with a JSON error (never 500), /healthz stays 200 and
the open stream keeps its heartbeats. Started again, with no restart of the wall: a
submission succeeds (polled, bounded), /readyz is 200 and the stream shows the new barrage.
Once on the memory bus, once on the PostgreSQL bus (LISTEN/NOTIFY on the same server, which
goes away with it). bench/recovery.py times the return.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.scratch_postgres import ScratchPostgres
from tests.server_process import ServerProcess
from tests.sse import next_block, next_event

HEARTBEAT_SECONDS = 0.2
BACK_SECONDS = 60.0  # a bound on a hang, not a timing claim
HEARTBEATS_WHILE_DOWN = 5


def wall(workdir: Path, postgres: ScratchPostgres, bus: str) -> ServerProcess:
    return ServerProcess(workdir, env={
        "BARRAGE_DATABASE_URL": postgres.url,
        "BARRAGE_BUS_URL": postgres.admin_url if bus == "postgres" else "memory://",
        "BARRAGE_MODERATION_MODE": "off", "BARRAGE_MODERATION_MAX_PER_MINUTE": "0",
        "BARRAGE_MODERATION_REPEAT_SECONDS": "0",
        "BARRAGE_STREAM_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
    })


async def submit(http: aiohttp.ClientSession, server: ServerProcess, text: str) -> tuple[int, Any]:
    async with http.post(f"{server.url}/api/barrages", json={"text": text}) as resp:
        assert resp.content_type == "application/json"
        return resp.status, await resp.json()


async def readyz(http: aiohttp.ClientSession, server: ServerProcess) -> tuple[int, Any]:
    async with http.get(f"{server.url}/readyz") as resp:
        return resp.status, await resp.json()


async def until(check: Any) -> Any:
    """Polls `await check()` until it returns something true (bounded)."""
    async with asyncio.timeout(BACK_SECONDS):
        while True:
            if found := await check():
                return found
            await asyncio.sleep(0.05)


async def heartbeats(stream: aiohttp.ClientResponse, count: int) -> None:
    """`count` heartbeats (`: ping` comments) on the open stream, whatever else comes."""
    seen = 0
    while seen < count:
        block = await next_block(stream, timeout=BACK_SECONDS)
        seen += "ping" in block.comments


@pytest.mark.parametrize("bus", ["memory", "postgres"])
async def test_the_database_stopped_mid_event_is_503_and_all_recovers_without_a_restart(
    tmp_path: Path, scratch_postgres: ScratchPostgres, bus: str
) -> None:
    server = wall(tmp_path / "wall", scratch_postgres, bus)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/stream") as stream:
            assert (await submit(http, server, "before"))[0] == 201
            assert (await next_event(stream, BACK_SECONDS)).data["text"] == "before"

            await scratch_postgres.stop()
            status, answer = await until(lambda: not_ready(http, server))
            assert status == 503 and "database unreachable" in answer["reason"], answer
            for i in range(20):
                status, body = await submit(http, server, f"while down {i}")
                assert status == 503, body
                assert "try again" in body["error"]
            async with http.get(f"{server.url}/healthz") as resp:
                assert resp.status == 200
            await heartbeats(stream, HEARTBEATS_WHILE_DOWN)  # the screen's stream is still open

            await scratch_postgres.start()
            status, body = await until(lambda: accepted(http, server, "after"))
            assert (await until(lambda: is_ready(http, server)))["ready"] is True
            assert (await next_event(stream, BACK_SECONDS)).data["text"] == "after"
        assert "Traceback" not in server.log_text()
    finally:
        await server.stop()


async def not_ready(http: aiohttp.ClientSession, server: ServerProcess) -> tuple[int, Any] | None:
    status, answer = await readyz(http, server)
    return (status, answer) if status != 200 else None


async def is_ready(http: aiohttp.ClientSession, server: ServerProcess) -> Any:
    status, answer = await readyz(http, server)
    return answer if status == 200 else None


async def accepted(http: aiohttp.ClientSession, server: ServerProcess, text: str) -> tuple[int, Any] | None:
    status, body = await submit(http, server, text)
    assert status in (201, 503), (status, body)  # never a 500, on the way back either
    return (status, body) if status == 201 else None
