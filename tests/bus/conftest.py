"""Real brokers for the bus tests: the shared Redis and PostgreSQL with a channel of this
test's own, and private redis-servers that a test may stop and start again."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import signal
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from server.core.model import Event, EventKind
from server.store import SqlStore

SHARED_REDIS = os.environ.get("BARRAGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def channel() -> str:
    """A channel no other test (or test run) on the shared brokers uses."""
    return f"t{os.getpid()}_{secrets.token_hex(4)}"


def libpq_url(postgres_url: str) -> str:
    """The test database's URL as asyncpg (and bus.url) spell it."""
    return postgres_url.replace("postgresql+asyncpg://", "postgresql://")


def event(event_id: int) -> Event:
    return Event(event_id, EventKind.BARRAGE, {"id": event_id, "text": f"n{event_id}"})


async def eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Until `check()` holds; fails after `timeout` (a bound on a hang, not a timing claim)."""
    async with asyncio.timeout(timeout):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)


def private_port() -> int:
    """A free port below the kernel's ephemeral range (32768+), where nobody else binds at random."""
    while True:
        port = random.randint(20_000, 32_000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


@dataclass
class PrivateRedis:
    """A redis-server of this test's own: stop and start it at will, on the same port."""

    workdir: Path
    port: int = field(default_factory=private_port)
    proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        assert self.proc is None
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = await asyncio.create_subprocess_exec(
            shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        await eventually(self._answers)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def pause(self) -> None:
        """SIGSTOP: connections stay open and the kernel still accepts new ones, but nothing
        answers, as with a broker behind a dead network path."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    async def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            await self.proc.wait()
            self.proc = None


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    """Not started: the test starts it (or first shows what happens while it is down)."""
    server = PrivateRedis(tmp_path / "redis")
    yield server
    await server.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    """An event log in a SQLite file: what the sequencer fills gaps from."""
    log = SqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'log.db'}")
    await log.create_schema()
    yield log
    await log.close()
