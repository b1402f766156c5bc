"""A real `python -m server serve` process, for tests that stop and restart the wall.

Configured through the environment only (a temp SQLite file, a known admin
token, any `BARRAGE_*` overrides). `start()` returns once /healthz answers;
`stop()` sends SIGINT, as Ctrl+C does, and returns the exit code.

Given a `ForkServer`, the process is forked from one that has imported barrage
already (tests/forkserver.py): the same `server.cli.main` in a process of its
own, without ~2 s of imports per start, for tests that start dozens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
ADMIN_TOKEN = "server-process-token"  # 16+ characters, as the config requires
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ForkServer:
    """tests/forkserver.py, driven over its pipes; `async with ForkServer() as forks`."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._started: asyncio.Queue[int] = asyncio.Queue()
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._spawning = asyncio.Lock()

    async def __aenter__(self) -> ForkServer:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.forkserver", cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        ready = json.loads(await asyncio.wait_for(self._proc.stdout.readline(), START_TIMEOUT))
        assert "ready" in ready, ready
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        for pid, exited in self._exits.items():
            if not exited.done():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._proc.stdin.close()
        await self._proc.wait()
        if self._reader:
            self._reader.cancel()

    async def spawn(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> int:
        assert self._proc is not None and self._proc.stdin is not None
        async with self._spawning:  # answers come in request order
            request = {"argv": argv, "env": env, "cwd": str(cwd), "log": str(log)}
            self._proc.stdin.write((json.dumps(request) + "\n").encode())
            return await self._started.get()

    def exit_code(self, pid: int) -> asyncio.Future[int]:
        return self._exits[pid]

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while line := await self._proc.stdout.readline():
            message = json.loads(line)
            if "started" in message:  # always before its "exited"
                self._exits[message["started"]] = asyncio.get_running_loop().create_future()
                self._started.put_nowait(message["started"])
            else:
                self._exits[message["exited"]].set_result(message["code"])


class _Forked:
    """A forked server, with the bits of asyncio's Process that ServerProcess uses."""

    def __init__(self, pid: int, exit_code: asyncio.Future[int]) -> None:
        self.pid = pid
        self._exit_code = exit_code

    @property
    def returncode(self) -> int | None:
        return self._exit_code.result() if self._exit_code.done() else None

    def send_signal(self, signum: int) -> None:
        if not self._exit_code.done():
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        return await asyncio.shield(self._exit_code)


@dataclass
class ServerProcess:
    """One server on `port`; start it again after a stop for a restart on the same port and file."""

    workdir: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    forks: ForkServer | None = None
    nofile: tuple[int, int] | None = None  # (soft, hard) descriptor limits to start with
    args: list[str] = field(default_factory=list)  # after `serve --port P`
    proc: asyncio.subprocess.Process | _Forked | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "server.log"

    def environment(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("BARRAGE_")}
        return {**base, "BARRAGE_SERVER_ADMIN_TOKEN": ADMIN_TOKEN,
                "BARRAGE_DATABASE_URL": f"sqlite+aiosqlite:///{self.workdir / 'barrage.db'}",
                **self.env}

    async def start(self) -> None:
        assert self.proc is None or self.proc.returncode is not None, "already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = ["serve", "--port", str(self.port), *self.args]
        if self.forks is not None:
            pid = await self.forks.spawn(argv, self.environment(), self.workdir, self.log)
            self.proc = _Forked(pid, self.forks.exit_code(pid))
        else:
            with self.log.open("ab") as log:  # a file, not a pipe: a chatty server never blocks on it
                self.proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "server", *argv,
                    cwd=self.workdir, env=self.environment(), stdout=log, stderr=log,
                    preexec_fn=self._limits(),
                )
        await asyncio.wait_for(self._healthy(), START_TIMEOUT)

    def _limits(self) -> Callable[[], None] | None:
        nofile = self.nofile
        if nofile is None:
            return None
        return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile)

    async def _healthy(self) -> None:
        async with aiohttp.ClientSession() as http:
            while True:
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log_text()}")
                try:
                    async with http.get(f"{self.url}/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)

    async def stop(self, timeout: float = 60.0) -> int:
        """SIGINT, as Ctrl+C; the exit code. A process still up after `timeout` is killed: a hang."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            hang = f"server still running {timeout} s after SIGINT:\n{self.log_text()}"
            raise AssertionError(hang) from None

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def submit(self, *texts: str) -> None:
        """POST each text in order (moderation off puts them on the screen)."""
        async with aiohttp.ClientSession() as http:
            for text in texts:
                async with http.post(f"{self.url}/api/barrages", json={"text": text}) as resp:
                    assert resp.status == 201, await resp.text()

    async def wait_for_streams(self, count: int) -> None:
        """Until /healthz counts `count` open screen streams."""
        async with aiohttp.ClientSession() as http:
            while True:
                async with http.get(f"{self.url}/healthz") as resp:
                    if (await resp.json())["streams"] == count:
                        return
                await asyncio.sleep(0.02)

    def status(self, name: str) -> int:
        """A /proc/<pid>/status size in bytes, e.g. VmRSS (now) or VmHWM (peak)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1]) * 1024
        raise KeyError(name)

    def open_files_limit(self) -> int:
        """The process's soft descriptor limit, as the kernel sees it now."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
        raise KeyError("Max open files")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-5000:] if self.log.exists() else ""
