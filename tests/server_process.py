"""A real `barrage serve` process for tests that need one: memory, descriptors, signals.

Configured through BARRAGE_<SECTION>_<KEY> variables only, started from an empty
directory (so no ./config.toml is read), stopped with SIGINT like Ctrl+C.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    def __init__(self, workdir: Path, port: int | None = None,
                 nofile: tuple[int, int] | None = None, **settings: str | int) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._nofile = nofile
        self._env = {
            "BARRAGE_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'barrage.db'}",
            "BARRAGE_SERVER_ADMIN_TOKEN": TOKEN,
            "BARRAGE_SERVER_PORT": str(self.port),
            **{f"BARRAGE_{key.upper()}": str(value) for key, value in settings.items()},
        }
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr = b""

    async def start(self, timeout: float = 30.0) -> ServerProcess:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server", "serve", cwd=self.workdir,
            env={**os.environ, "PYTHONPATH": str(ROOT), **self._env},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            preexec_fn=self._limits(),
        )
        self._stderr_task = asyncio.create_task(self._collect_stderr())
        async with asyncio.timeout(timeout):
            while not await self._healthy():
                if self.proc.returncode is not None:
                    raise AssertionError(f"server exited: {self.stderr.decode()[-2000:]}")
                await asyncio.sleep(0.1)
        return self

    def _limits(self) -> Callable[[], None] | None:
        nofile = self._nofile
        if nofile is None:
            return None
        return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile)

    async def _collect_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.stderr += line

    async def _healthy(self) -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{self.url}/healthz") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    def status(self, field: str) -> int:
        """A /proc/<pid>/status size in bytes, e.g. VmRSS (now) or VmHWM (peak)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
        raise KeyError(field)

    def open_files_limit(self) -> int:
        """The process's soft descriptor limit, as the kernel sees it now."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
        raise KeyError("Max open files")

    async def stop(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(timeout):
            code = await self.proc.wait()
            await self._stderr_task
        return code
