"""A cluster of real `barrage serve` processes: new multi-process features use this.

    async with Cluster(tmp_path, fresh_postgres_url, bus="redis", nginx=True) as cluster:
        async with Follower(cluster.url + "/stream") as screen:   # a reconnecting SSE client
            await cluster.nodes[0].submit("hello")
            await screen.until_id(...)
        log = await event_log(fresh_postgres_url)                  # the truth to compare with

- `Cluster`: N `ServerProcess` nodes (tests/server_process.py) on one PostgreSQL database
  (give it a fresh one: the `fresh_postgres_url` fixture in tests/conftest.py) and one bus.
  `bus` is "redis" (the shared Redis), "postgres" (LISTEN/NOTIFY on the same database),
  or any bus URL (a private redis-server, memory://). Every cluster gets a channel
  (`BARRAGE_BUS_CHANNEL`) of its own, so runs sharing a broker never cross. The nodes
  start together, as a deployment's do (the schema is made under a lock). Rate limits
  and "already sent" are off unless `env` sets them. `nginx=True` puts the shipped
  deploy/nginx/barrage.conf (tests/nginx.py) in front, one upstream line per node;
  `cluster.url` is then nginx. `add_node()` starts one more (not behind nginx).
  Parametrize a test with `BUSES` to run it once with each broker.
- `Follower`: an SSE client that reconnects as a browser's EventSource does: when a
  stream ends or breaks, it connects again after a moment with `Last-Event-ID` set to
  the last id it saw, so what it records across connections must be every event once.
- `Flow`: a steady flow of submissions through one URL, in the background.
- `event_log`: every row of the event log, in id order, read with plain SQL.
- `stream_counts`: how many screen streams each node holds (its /healthz).
- `eventually`: wait for a positive signal (a sync or async check), bounded against hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from tests.nginx import Nginx
from tests.server_process import AUTH, ServerProcess
from tests.sse import Message, next_event

SHARED_REDIS = os.environ.get("BARRAGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BUSES = ["redis", "postgres"]  # pytest params: once with each broker
# Above the longest heartbeat (15 s): a stream this quiet is stuck, and is reconnected.
READ_TIMEOUT = 40.0
RECONNECT_SECONDS = 0.1
WAIT_SECONDS = 60.0  # a bound on a hang, not a timing claim


def libpq(url: str) -> str:
    """A SQLAlchemy URL as asyncpg and bus.url spell it."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


def bus_url_for(bus: str, database_url: str) -> str:
    return {"redis": SHARED_REDIS, "postgres": libpq(database_url)}.get(bus, bus)


class Cluster:
    def __init__(self, workdir: Path, database_url: str, bus: str = "redis", nodes: int = 2,
                 env: dict[str, str] | None = None, nginx: bool = False) -> None:
        self.database_url = database_url
        self.bus_url = bus_url_for(bus, database_url)
        self.channel = f"t{os.getpid()}_{secrets.token_hex(4)}"
        self.env = {
            "BARRAGE_DATABASE_URL": database_url, "BARRAGE_BUS_URL": self.bus_url,
            "BARRAGE_BUS_CHANNEL": self.channel,
            "BARRAGE_MODERATION_MAX_PER_MINUTE": "0", "BARRAGE_MODERATION_MAX_PER_MINUTE_PER_ADDRESS": "0",
            "BARRAGE_MODERATION_REPEAT_SECONDS": "0",
            # Behind nginx every request comes from 127.0.0.1; the sender is in X-Forwarded-For.
            **({"BARRAGE_SERVER_FORWARDED_HOPS": "1"} if nginx else {}),
            **(env or {}),
        }
        self.nodes = [ServerProcess(workdir / f"node{i}", env=self.env) for i in range(nodes)]
        self.proxy = Nginx(workdir / "nginx", [node.port for node in self.nodes]) if nginx else None

    @property
    def url(self) -> str:
        """Where a client goes: nginx when it is in front, else the first node."""
        return self.proxy.url if self.proxy else self.nodes[0].url

    async def __aenter__(self) -> Cluster:
        try:
            await asyncio.gather(*(node.start() for node in self.nodes))
            if self.proxy:
                await self.proxy.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def add_node(self) -> ServerProcess:
        """One more node, started, as an operator adds one to a running wall (not behind nginx)."""
        node = ServerProcess(self.nodes[0].workdir.parent / f"node{len(self.nodes)}", env=self.env)
        self.nodes.append(node)
        await node.start()
        return node

    async def stop(self) -> None:
        """nginx, then every node still running (SIGINT, as an operator stops one)."""
        if self.proxy:
            await self.proxy.stop()
        running = [node for node in self.nodes if node.proc is not None and node.proc.returncode is None]
        codes = await asyncio.gather(*(node.stop() for node in running))
        for node, code in zip(running, codes, strict=True):  # a stop that hung or failed is a defect
            assert code == 0, f"node {node.port} stopped with exit code {code}:\n{node.log_text()}"


async def stream_counts(nodes: Sequence[ServerProcess]) -> list[int]:
    async with aiohttp.ClientSession() as http:
        counts = []
        for node in nodes:
            async with http.get(f"{node.url}/healthz") as resp:
                counts.append((await resp.json())["streams"])
        return counts


async def eventually(check: Callable[[], Any], timeout: float = WAIT_SECONDS) -> None:
    """Until the (sync or async) `check()` is true; a bound on a hang, not a timing claim."""
    async with asyncio.timeout(timeout):
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.05)


@dataclass(frozen=True)
class Logged:
    id: int
    kind: str
    payload: dict[str, Any]


async def event_log(database_url: str) -> list[Logged]:
    conn = await asyncpg.connect(libpq(database_url))
    try:
        rows = await conn.fetch("SELECT id, kind, payload FROM event ORDER BY id")
    finally:
        await conn.close()
    return [Logged(row["id"], row["kind"], json.loads(row["payload"])) for row in rows]


class Follower:
    """A reconnecting SSE reader of one URL; `async with` runs it in the background.

    `last_id=None` starts live (a fresh page), `0` replays the whole log first. Every
    event is kept in `events`; `connects` counts the streams it opened. A refused
    connection (a 502 from nginx, a node going away) is retried like a dropped stream.
    """

    def __init__(self, url: str, admin: bool = False, last_id: int | None = None) -> None:
        self.url = url
        self.headers = dict(AUTH) if admin else {}
        self.last_id = last_id
        self.events: list[Message] = []
        self.connects = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def ids(self) -> list[int]:
        return [int(event.id or 0) for event in self.events]

    async def __aenter__(self) -> Follower:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def until_id(self, event_id: int) -> None:
        """Until it has seen `event_id` or later; fails if its reader stopped."""
        def reached() -> bool:
            assert self._task is not None and not self._task.done(), self._task
            return self.last_id is not None and self.last_id >= event_id

        await eventually(reached)

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=READ_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                with contextlib.suppress(aiohttp.ClientError, EOFError, TimeoutError, ConnectionError):
                    await self._read(http)
                await asyncio.sleep(RECONNECT_SECONDS)

    async def _read(self, http: aiohttp.ClientSession) -> None:
        headers = dict(self.headers)
        if self.last_id is not None:
            headers["Last-Event-ID"] = str(self.last_id)
        async with http.get(self.url, headers=headers) as stream:
            if stream.status != 200:
                return
            self.connects += 1
            while True:
                event = await next_event(stream, READ_TIMEOUT)
                self.events.append(event)
                self.last_id = int(event.id or 0)


class Flow:
    """Submissions through `url`, one after another, until the `async with` ends: a steady
    stream of comments (moderation off puts each on the screen). `created` holds the texts
    answered 201; anything else (a 502 while a node dies) is counted in `failed`."""

    def __init__(self, url: str, name: str = "flow") -> None:
        self.url, self.name = url, name
        self.created: list[str] = []
        self.failed = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Flow:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._stopping.set()
        await self._task

    async def more(self, count: int) -> None:
        """Until `count` more submissions have been answered 201."""
        target = len(self.created) + count

        def reached() -> bool:
            assert self._task is not None and not self._task.done(), self._task
            return len(self.created) >= target

        await eventually(reached)

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as http:
            for n in itertools.count():
                if self._stopping.is_set():
                    return
                text = f"{self.name} {n}"
                try:
                    async with http.post(f"{self.url}/api/barrages", json={"text": text}) as resp:
                        if resp.status == 201:
                            self.created.append(text)
                        else:
                            self.failed += 1
                except aiohttp.ClientError:
                    self.failed += 1
                await asyncio.sleep(0.01)
