"""GET /readyz: 200 only when the database answers and the bus is connected, 503 with the reason
otherwise; checks cached and shared, so a flood of probes is not a flood of queries.

The database stopped for real is tests/test_outage.py's (a `barrage serve` on a scratch server);
here: the real app with a bus whose broker is not there (a closed port), and a scratch PostgreSQL
server stopped and started under the in-process app."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.web.readiness import Readiness, body
from tests.bus.conftest import private_port
from tests.conftest import ClientFactory
from tests.scratch_postgres import ScratchPostgres

BACK_SECONDS = 60.0  # a bound on a hang, not a timing claim


async def ready(client: TestClient) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/readyz")
    assert resp.content_type == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    return resp.status, await resp.json()


async def test_ready_with_the_database_and_bus_up(client: TestClient) -> None:
    assert await ready(client) == (200, {"ready": True, "checks": {"database": "ok", "bus": "ok"}})


@pytest.mark.parametrize("scheme", ["redis", "postgresql"])
async def test_a_bus_whose_broker_is_not_there_is_503_and_healthz_still_200(
    make_client: ClientFactory, scheme: str
) -> None:
    nobody = f"{scheme}://127.0.0.1:{private_port()}" + ("/barrage" if scheme == "postgresql" else "/0")
    client = await make_client(bus__url=nobody)
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"
    assert await resp.json() == {"ready": False, "reason": "bus disconnected",
                                 "checks": {"database": "ok", "bus": "disconnected"}}
    health = await client.get("/healthz")
    assert health.status == 200
    assert (await health.json())["bus_connected"] is False


async def test_the_database_stopped_is_503_and_ready_again_once_it_is_back(
    make_client: ClientFactory, scratch_postgres: ScratchPostgres
) -> None:
    client = await make_client(database__url=scratch_postgres.url)
    assert (await ready(client))[0] == 200
    await scratch_postgres.stop()
    status, answer = await until_ready(client, False)
    assert (status, answer["reason"], answer["checks"]["database"]) == (503, "database unreachable",
                                                                         "unreachable")
    await scratch_postgres.start()
    assert (await until_ready(client, True))[0] == 200


async def until_ready(client: TestClient, expected: bool) -> tuple[int, dict[str, Any]]:
    """Polls (bounded): the last answer may be cached for a second."""
    async with asyncio.timeout(BACK_SECONDS):
        while True:
            status, answer = await ready(client)
            if answer["ready"] is expected:
                return status, answer
            await asyncio.sleep(0.05)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_probes_within_a_second_share_one_run_of_the_checks() -> None:
    runs = itertools.count(1)
    started, release = asyncio.Event(), asyncio.Event()

    async def database() -> str | None:
        next(runs)
        started.set()
        await release.wait()
        return None

    clock = Clock()
    readiness = Readiness({"database": database}, clock=clock)
    probes = [asyncio.create_task(readiness.states()) for _ in range(100)]
    await started.wait()  # one run in flight: every probe waits for it
    release.set()
    assert [await p for p in probes] == [{"database": "ok"}] * 100
    clock.now += 0.9
    await readiness.states()  # cached
    assert next(runs) == 2  # the count's next value: one run so far
    clock.now += 0.2
    await readiness.states()
    assert next(runs) == 4  # a second run, once the answer was a second old


async def test_a_probe_that_hangs_up_does_not_cancel_the_run_others_wait_for() -> None:
    release = asyncio.Event()

    async def database() -> str | None:
        await release.wait()
        return None

    readiness = Readiness({"database": database})
    first = asyncio.create_task(readiness.states())
    second = asyncio.create_task(readiness.states())
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == {"database": "ok"}


async def test_a_check_that_does_not_answer_in_time_fails_and_one_that_raises_is_unreachable() -> None:
    async def silent() -> str | None:
        await asyncio.Event().wait()
        return None

    async def refused() -> str | None:
        raise ConnectionRefusedError

    async def bus() -> str | None:
        return "disconnected"

    states = await Readiness({"database": silent, "bus": bus}, check_seconds=0.05).states()
    assert body(states) == {"ready": False, "reason": "database not answering; bus disconnected",
                            "checks": {"database": "not answering", "bus": "disconnected"}}
    assert await Readiness({"database": refused}).states() == {"database": "unreachable"}
