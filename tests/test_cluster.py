"""Failure scenarios of a real cluster (tests/cluster.py): `barrage serve` processes on one
fresh PostgreSQL database and one broker, once with each bus backend. Whatever happens,
every client ends with every committed event exactly once, in id order, none skipped;
the event log in the database is what each client's record is compared with.

- across nodes: decided on a, shown on b; the mode switched on a holds on b;
- concurrent writers: both nodes submit and decide (racing each other) for WRITE_SECONDS
  while a desk and a screen on each node read from the start;
- a node killed (SIGKILL) mid-stream behind the shipped nginx: its screens reconnect
  through nginx with Last-Event-ID and land on the survivor;
- a node added mid-stream: clients on it from the start, and live;
- the broker lost mid-stream: a private Redis killed and restarted, or PostgreSQL ending
  the LISTEN sessions; written on one node, read on the other;
- a node killed between a commit and its publish, the room quiet after;
- a node frozen (SIGSTOP) while it holds the event log's lock.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import redis.asyncio

from server.bus.postgres import APPLICATION_NAME
from tests.bus.conftest import PrivateRedis
from tests.cluster import (
    BUSES,
    Cluster,
    Flow,
    Follower,
    Logged,
    event_log,
    eventually,
    libpq,
    stream_counts,
)
from tests.nginx import NGINX
from tests.server_process import AUTH, ServerProcess
from tests.sse import next_event
from tests.store.test_event_order import waiting_for_locks

WRITE_SECONDS = 10.0
WRITERS_PER_NODE = 3


def assert_exactly(seen: Sequence[int], expected: Sequence[int], who: str) -> None:
    """Equal lists, with a short account of the difference (thousands of ids fill a screen)."""
    if list(seen) == list(expected):
        return
    repeated = len(seen) - len(set(seen))
    missing = sorted(set(expected) - set(seen))
    first = next((i for i, (a, b) in enumerate(zip(seen, expected, strict=False)) if a != b),
                 min(len(seen), len(expected)))
    raise AssertionError(f"{who}: {len(seen)} ids, {len(expected)} expected; {repeated} repeated, "
                         f"missing {missing[:10]}; first difference at {first}: "
                         f"{list(seen[first:first + 5])} vs {list(expected[first:first + 5])}")


def barrage_ids(log: Sequence[Logged]) -> list[int]:
    return [event.id for event in log if event.kind == "barrage"]


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, str] | None = None,
               admin: bool = False) -> tuple[int, dict[str, object]]:
    async with http.post(url, json=body or {}, headers=AUTH if admin else None) as resp:
        return resp.status, await resp.json()


# -- Across nodes ----------------------------------------------------------------------------


@pytest.mark.parametrize("bus", BUSES)
async def test_a_mode_switched_on_one_node_holds_on_the_other_once_its_stream_shows_it(
    bus: str, tmp_path: Path, fresh_postgres_url: str
) -> None:
    env = {"BARRAGE_MODERATION_MODE": "manual"}
    async with Cluster(tmp_path, fresh_postgres_url, bus, env=env) as cluster, \
            aiohttp.ClientSession() as http:
        a, b = cluster.nodes
        # From the start of the log: main's `room` event (written at the first start) is replayed
        # first; once it is read the replay is over, so the mode event comes live, after B's
        # service has it (read from the log, it could come before).
        async with http.get(f"{b.url}/api/stream", headers={**AUTH, "Last-Event-ID": "0"}) as desk:
            assert (await next_event(desk, 15)).event == "room"
            async with http.put(f"{a.url}/api/mode", json={"mode": "off"}, headers=AUTH) as resp:
                assert resp.status == 200
            switched = await next_event(desk, 15)
            assert (switched.event, switched.data["mode"]) == ("mode", "off")
            # B's service hears the event before B's streams do: a sender who saw it meets it.
            status, submitted = await post(http, f"{b.url}/api/barrages", {"text": "no review now"})
            assert (status, submitted["status"]) == (201, "approved")
            async with http.get(f"{b.url}/api/mode", headers=AUTH) as resp:
                assert (await resp.json())["mode"] == "off"


@pytest.mark.parametrize("bus", BUSES)
async def test_a_barrage_approved_on_one_node_reaches_streams_on_the_other(
    bus: str, tmp_path: Path, fresh_postgres_url: str
) -> None:
    async with Cluster(tmp_path, fresh_postgres_url, bus) as cluster, aiohttp.ClientSession() as http:
        a, b = cluster.nodes
        text = "across nodes"
        async with http.get(f"{b.url}/stream") as screen, \
                http.get(f"{b.url}/api/stream", headers=AUTH) as desk:
            await b.wait_for_streams(1)
            async with http.put(f"{a.url}/api/mode", json={"mode": "manual"}, headers=AUTH) as resp:
                assert resp.status == 200
            status, submitted = await post(http, f"{a.url}/api/barrages", {"text": text})
            assert (status, submitted["status"]) == (201, "pending")
            status, _ = await post(http, f"{a.url}/api/barrages/{submitted['id']}/approve", admin=True)
            assert status == 200
            shown = await next_event(screen, 15)
            assert (shown.event, shown.data["text"], shown.data["id"]) == ("barrage", text, submitted["id"])
            seen = [await next_event(desk, 15)]  # the mode switch (if it wrote one), pending, barrage
            while seen[-1].event != "barrage":
                seen.append(await next_event(desk, 15))
        assert [m.event for m in seen[-2:]] == ["pending", "barrage"]
        ids = [int(m.id or 0) for m in seen]
        assert ids == list(range(ids[0], ids[0] + len(ids)))  # in order, none skipped
        assert await bus_connected([b], True)


# -- Concurrent writers ---------------------------------------------------------------------


class Writer:
    """Submits on one node and has it decided on both at once (one wins, the other gets 409);
    every fourth is undone on the other node and decided again. `made` is what the API
    answered: per barrage, the kinds of the events its successful requests wrote."""

    def __init__(self, http: aiohttp.ClientSession, here: ServerProcess, there: ServerProcess,
                 name: str, made: dict[int, list[str]]) -> None:
        self.http, self.here, self.there, self.name, self.made = http, here, there, name, made

    async def run(self, deadline: float) -> None:
        for n in itertools.count():
            if asyncio.get_running_loop().time() >= deadline:
                return
            text = f"{self.name} {n}"
            status, body = await post(self.http, f"{self.here.url}/api/barrages", {"text": text})
            assert (status, body["status"]) == (201, "pending"), body
            barrage_id = int(str(body["id"]))
            self.made[barrage_id] = ["pending", await self.race(barrage_id)]
            if n % 4 == 0:
                await self.undo_and_approve(barrage_id)

    async def race(self, barrage_id: int) -> str:
        approve, reject = await asyncio.gather(
            post(self.http, f"{self.here.url}/api/barrages/{barrage_id}/approve", {"moderator": "a"}, True),
            post(self.http, f"{self.there.url}/api/barrages/{barrage_id}/reject", {"moderator": "b"}, True))
        assert sorted([approve[0], reject[0]]) == [200, 409], (approve, reject)
        return "barrage" if approve[0] == 200 else "rejected"

    async def undo_and_approve(self, barrage_id: int) -> None:
        status, body = await post(self.http, f"{self.there.url}/api/barrages/{barrage_id}/undo", admin=True)
        assert status == 200, body
        status, body = await post(self.http, f"{self.here.url}/api/barrages/{barrage_id}/approve", admin=True)
        assert status == 200, body
        self.made[barrage_id] += ["pending", "barrage"]


@pytest.mark.parametrize("bus", BUSES)
async def test_concurrent_writers_on_two_nodes_every_client_gets_every_event_once_in_order(
    bus: str, tmp_path: Path, fresh_postgres_url: str
) -> None:
    env = {"BARRAGE_MODERATION_MODE": "manual"}
    async with Cluster(tmp_path, fresh_postgres_url, bus, env=env) as cluster, AsyncExitStack() as stack:
        a, b = cluster.nodes
        desks = [await stack.enter_async_context(Follower(f"{n.url}/api/stream", admin=True, last_id=0))
                 for n in (a, b)]
        screens = [await stack.enter_async_context(Follower(f"{n.url}/stream", last_id=0)) for n in (a, b)]
        made: dict[int, list[str]] = {}
        deadline = asyncio.get_running_loop().time() + WRITE_SECONDS
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(Writer(http, here, there, f"{here.port}-{w}", made).run(deadline)
                                   for here, there in ((a, b), (b, a)) for w in range(WRITERS_PER_NODE)))
        log = await event_log(fresh_postgres_url)  # every request is answered: this is all of it
        for each in (*desks, *screens):
            await each.until_id(barrage_ids(log)[-1] if each in screens else log[-1].id)
    assert_exactly([e.id for e in log], range(1, len(log) + 1), "the log")
    for node, desk in zip("ab", desks, strict=True):
        assert_exactly(desk.ids, [e.id for e in log], f"/api/stream on {node}")
        assert [m.event for m in desk.events] == [e.kind for e in log]
    for node, screen in zip("ab", screens, strict=True):
        assert_exactly(screen.ids, barrage_ids(log), f"/stream on {node}")
    assert writes_by_barrage(log) == made  # every answered request is in the log, and nothing else
    assert len(made) > 2 * WRITERS_PER_NODE  # each writer got through at least once


def writes_by_barrage(log: Sequence[Logged]) -> dict[int, list[str]]:
    kinds: dict[int, list[str]] = {}
    for event in log:
        if event.kind not in ("mode", "room"):
            kinds.setdefault(int(event.payload["id"]), []).append(event.kind)
    return kinds


# -- A node killed behind nginx -------------------------------------------------------------

SCREENS = 6
FLOWS = 4


def texts(log: Sequence[Logged]) -> set[str]:
    return {str(event.payload["text"]) for event in log if event.kind == "barrage"}


@pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is installed by `make test`")
@pytest.mark.parametrize("bus", BUSES)
async def test_a_node_killed_mid_stream_behind_nginx_its_screens_resume_on_the_other(
    bus: str, tmp_path: Path, fresh_postgres_url: str
) -> None:
    env = {"BARRAGE_MODERATION_MODE": "off"}
    async with Cluster(tmp_path, fresh_postgres_url, bus, env=env, nginx=True) as cluster, \
            AsyncExitStack() as stack:
        victim, survivor = cluster.nodes
        screens = [await stack.enter_async_context(Follower(f"{cluster.url}/stream")) for _ in range(SCREENS)]
        await eventually(lambda: counted(cluster.nodes, SCREENS))
        held = (await stream_counts([victim]))[0]
        assert 0 < held < SCREENS  # nginx took turns: some screens on each node
        # Several flows at once, so that the kill finds writes in flight on the victim.
        flows = [Flow(cluster.url, f"flow{i}") for i in range(FLOWS)]
        async with AsyncExitStack() as flowing:
            for flow in flows:
                await flowing.enter_async_context(flow)
            await flows[0].more(20)  # mid-stream
            await victim.kill()  # SIGKILL: no goodbye to anyone
            await eventually(lambda: counted([survivor], SCREENS))  # the victim's screens came over
            for flow in flows:
                await flow.more(10)
        log = await event_log(fresh_postgres_url)
        for screen in screens:
            await screen.until_id(barrage_ids(log)[-1])
    for i, screen in enumerate(screens):
        assert_exactly(screen.ids, barrage_ids(log), f"screen {i}")
    assert sum(screen.connects > 1 for screen in screens) >= held
    assert {text for flow in flows for text in flow.created} <= texts(log)  # a 201 only after the commit


async def counted(nodes: Sequence[ServerProcess], expected: int) -> bool:
    return sum(await stream_counts(nodes)) == expected


# -- A node added mid-stream ----------------------------------------------------------------


@pytest.mark.parametrize("bus", BUSES)
async def test_a_node_added_mid_stream_serves_every_event_once(
    bus: str, tmp_path: Path, fresh_postgres_url: str
) -> None:
    env = {"BARRAGE_MODERATION_MODE": "off"}
    async with Cluster(tmp_path, fresh_postgres_url, bus, nodes=1, env=env) as cluster, \
            AsyncExitStack() as stack:
        async with Flow(cluster.nodes[0].url) as flow:
            await flow.more(20)
            late = await cluster.add_node()  # starts at the log's end while events keep coming
            desk = await stack.enter_async_context(Follower(f"{late.url}/api/stream", admin=True, last_id=0))
            screen = await stack.enter_async_context(Follower(f"{late.url}/stream", last_id=0))
            live = await stack.enter_async_context(Follower(f"{late.url}/stream"))  # a fresh page
            await late.wait_for_streams(2)
            await flow.more(20)
        log = await event_log(fresh_postgres_url)
        await desk.until_id(log[-1].id)
        for each in (screen, live):
            await each.until_id(barrage_ids(log)[-1])
    assert_exactly(desk.ids, [e.id for e in log], "/api/stream from 0")
    assert_exactly(screen.ids, barrage_ids(log), "/stream from 0")
    assert live.ids and live.ids == barrage_ids(log)[-len(live.ids):], "/stream live: a gapless tail"


# -- The broker lost mid-stream -------------------------------------------------------------


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    yield server
    await server.stop()


async def bus_connected(nodes: Sequence[ServerProcess], expected: bool) -> bool:
    async with aiohttp.ClientSession() as http:
        for node in nodes:
            async with http.get(f"{node.url}/healthz") as resp:
                if (await resp.json())["bus_connected"] is not expected:
                    return False
    return True


async def listeners(database_url: str) -> set[int]:
    """The backend pids of the nodes' LISTEN connections in this test's database."""
    conn = await asyncpg.connect(libpq(database_url))
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1 "
                                "AND datname = current_database()", APPLICATION_NAME)
    finally:
        await conn.close()
    return {row["pid"] for row in rows}


async def end_listeners(database_url: str) -> set[int]:
    conn = await asyncpg.connect(libpq(database_url))
    try:
        rows = await conn.fetch("SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE application_name = $1 AND datname = current_database()",
                                APPLICATION_NAME)
    finally:
        await conn.close()
    return {row["pid"] for row in rows}


@pytest.mark.parametrize("bus", BUSES)
async def test_the_broker_lost_mid_stream_loses_nothing_across_nodes(
    bus: str, tmp_path: Path, fresh_postgres_url: str, private_redis: PrivateRedis
) -> None:
    """Written on node a, read on node b, while the broker goes away and comes back: a private
    redis-server killed and started again, or the LISTEN sessions ended by PostgreSQL."""
    if bus == "redis":
        await private_redis.start()
    broker = private_redis.url if bus == "redis" else bus
    env = {"BARRAGE_MODERATION_MODE": "off"}
    async with Cluster(tmp_path, fresh_postgres_url, broker, env=env) as cluster, AsyncExitStack() as stack:
        a, b = cluster.nodes
        desk = await stack.enter_async_context(Follower(f"{b.url}/api/stream", admin=True, last_id=0))
        screen = await stack.enter_async_context(Follower(f"{b.url}/stream"))
        await b.wait_for_streams(1)
        async with Flow(a.url) as flow:
            await flow.more(10)
            if bus == "redis":
                await private_redis.stop()
                await eventually(lambda: bus_connected(cluster.nodes, False))
                await flow.more(10)  # while the broker is away
                await private_redis.start()
            else:
                ended = await end_listeners(fresh_postgres_url)
                assert len(ended) == 2
                await eventually(lambda: listening_anew(fresh_postgres_url, ended))
            await eventually(lambda: bus_connected(cluster.nodes, True))
            await flow.more(10)
        log = await event_log(fresh_postgres_url)
        await desk.until_id(log[-1].id)
        await screen.until_id(barrage_ids(log)[-1])
    assert_exactly(desk.ids, [e.id for e in log], "/api/stream on b")
    assert_exactly(screen.ids, barrage_ids(log), "/stream on b")
    assert set(flow.created) <= texts(log)


async def listening_anew(database_url: str, ended: set[int]) -> bool:
    now = await listeners(database_url)
    return len(now) == 2 and not now & ended


async def test_an_event_whose_node_died_before_publishing_it_still_reaches_the_other_node(
    tmp_path: Path, fresh_postgres_url: str, private_redis: PrivateRedis
) -> None:
    """kill -9 between a commit and its publish: the event is in the log (its sender got a 201)
    but no message about it will ever come, and the room may then stay quiet."""
    await private_redis.start()
    env = {"BARRAGE_MODERATION_MODE": "off"}
    async with Cluster(tmp_path, fresh_postgres_url, private_redis.url, env=env) as cluster, \
            Follower(f"{cluster.nodes[1].url}/stream") as screen, \
            redis.asyncio.from_url(private_redis.url) as admin:
        a, b = cluster.nodes
        await b.wait_for_streams(1)
        await a.submit("before")
        await screen.until_id(barrage_ids(await event_log(fresh_postgres_url))[-1])
        await admin.client_pause(60_000, all=False)  # WRITE: a PUBLISH waits, b's subscription stays
        await a.submit("last words")  # committed and answered; its publish is held in Redis
        await a.kill()
        await admin.client_unpause()
        log = await event_log(fresh_postgres_url)
        await screen.until_id(barrage_ids(log)[-1])
    assert [m.data["text"] for m in screen.events] == ["before", "last words"]


# -- A node frozen while it holds the event log's lock ----------------------------------------

HOLD = """CREATE FUNCTION hold() RETURNS trigger AS $$ BEGIN
    IF NEW.payload LIKE '%hold me%' THEN PERFORM pg_advisory_xact_lock_shared(4242); END IF;
    RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER hold AFTER INSERT ON event FOR EACH ROW EXECUTE FUNCTION hold()"""


async def test_a_node_frozen_holding_the_log_lock_does_not_stop_the_others_writing(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    """SIGSTOP (a VM paused, a process swapped out) right after a node's insert, before its
    commit: the transaction stays open, and with it the lock every append takes."""
    env = {"BARRAGE_MODERATION_MODE": "off"}
    async with Cluster(tmp_path, fresh_postgres_url, "redis", env=env) as cluster, \
            aiohttp.ClientSession() as http:
        frozen, other = cluster.nodes
        gate = await asyncpg.connect(libpq(fresh_postgres_url))
        assert frozen.proc is not None
        try:
            await gate.execute(HOLD)  # an insert of "hold me" waits for the gate's lock
            await gate.execute("SELECT pg_advisory_lock(4242)")
            held = asyncio.create_task(post(http, f"{frozen.url}/api/barrages", {"text": "hold me"}))
            await waiting_for_locks(gate, 1)  # its insert is in, under the event log's lock
            frozen.proc.send_signal(signal.SIGSTOP)
            await gate.execute("SELECT pg_advisory_unlock(4242)")  # the insert ends; no commit comes
            async with asyncio.timeout(60):  # a bound on a hang
                status, _ = await post(http, f"{other.url}/api/barrages", {"text": "meanwhile"})
            assert status == 201
        finally:
            frozen.proc.send_signal(signal.SIGCONT)
            await gate.close()
        held_status, _ = await held
        status, _ = await post(http, f"{frozen.url}/api/barrages", {"text": "thawed"})
        assert status == 201  # the node writes again, on a fresh connection
    log = await event_log(fresh_postgres_url)
    assert held_status == 503 and texts(log) == {"meanwhile", "thawed"}  # "hold me" never committed
