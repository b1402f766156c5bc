"""The servers under test, as real processes: `barrage serve` and the bare baseline."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

TOKEN = "bench-admin-token"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    port: int
    proc: asyncio.subprocess.Process
    publish_path: str
    count_path: str
    session: aiohttp.ClientSession | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        """The process's CPU time, with its worker processes' (`--workers N`)."""
        return sum(_cpu_seconds(pid) for pid in (self.proc.pid, *_children(self.proc.pid)))

    async def streams(self) -> int:
        assert self.session is not None
        async with self.session.get(self.url + self.count_path,
                                    headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
            return (await resp.json())["screens"]

    async def wait_streams(self, count: int, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while (held := await self.streams()) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return held

    async def publish(self, body: dict[str, Any]) -> tuple[int, float]:
        assert self.session is not None
        start = time.perf_counter()
        async with self.session.post(self.url + self.publish_path, json=body) as resp:
            await resp.read()
            return resp.status, time.perf_counter() - start

    async def stop(self) -> None:
        if self.session:
            await self.session.close()
        if self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 30)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


async def _wait_up(server: Server) -> Server:
    server.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
    for _ in range(300):
        try:
            async with server.session.get(server.url + "/healthz" if server.name == "barrage"
                                          else server.url + "/count") as resp:
                if resp.status == 200:
                    return server
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{server.name} did not start")


async def start_barrage(workdir: Path, mode: str = "off", args: tuple[str, ...] = (), **env: str) -> Server:
    port = free_port()
    full_env = {**os.environ, "BARRAGE_SERVER_ADMIN_TOKEN": TOKEN, "BARRAGE_MODERATION_MODE": mode,
                "BARRAGE_MODERATION_MAX_PER_MINUTE": "0",
                # the load comes from one address: the per-address backstop would cap it
                "BARRAGE_MODERATION_MAX_PER_MINUTE_PER_ADDRESS": "0",
                # ... and so do the streams: room for the largest run, on one address
                "BARRAGE_STREAM_MAX_PER_ADDRESS": "20000",
                "BARRAGE_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / f'bench-{port}.db'}", **env}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "serve", "--port", str(port), *args, env=full_env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return await _wait_up(Server("barrage", port, proc, "/api/barrages", "/api/stats", env=env))


async def start_baseline(persist: Path | None = None) -> Server:
    """The bare baseline; with `persist`, the persisting one (a sqlite3 commit per submission
    in that file, before publishing)."""
    port = free_port()
    extra = ["--persist", str(persist)] if persist is not None else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.baseline", str(port), *extra,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    name = "persisting" if persist is not None else "baseline"
    return await _wait_up(Server(name, port, proc, "/publish", "/count"))
