"""`barrage serve --workers N` (server/workers.py), as real processes."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
from pathlib import Path

import aiohttp

from tests.sse import next_event
from tests.test_cli import free_port, run_cli


async def test_several_workers_refuse_the_memory_bus_naming_bus_url(tmp_path: Path) -> None:
    proc = await run_cli("serve", "--workers", "2", cwd=tmp_path)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"config error: bus.url:" in err and b"memory://" in err


async def test_a_worker_count_that_is_no_positive_number_is_refused(tmp_path: Path) -> None:
    for bad in ("0", "-1", "two", "65"):
        proc = await run_cli("serve", "--workers", bad, cwd=tmp_path)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 2 and b"--workers" in err, (bad, err)


async def test_workers_share_one_port_and_all_stop_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {"BARRAGE_BUS_URL": "redis://127.0.0.1:6379/0", "BARRAGE_BUS_CHANNEL": f"t_{secrets.token_hex(6)}",
           "BARRAGE_MODERATION_MODE": "off", "BARRAGE_SERVER_ADMIN_TOKEN": "workers-test-token",
           "BARRAGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"}
    proc = await run_cli("serve", "--workers", "2", "--port", str(port), env=env, cwd=tmp_path)
    try:
        # Worker 0 prints the banner once it listens; /healthz alone may be worker 1 answering
        # while worker 0 is still starting, and SIGTERM would then stop it before its banner.
        assert proc.stdout is not None
        first = await asyncio.wait_for(proc.stdout.readuntil(b"barrage is up"), 60)
        await wait_healthy(port)
        workers = children_of(proc.pid)
        assert len(workers) == 2
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/stream") as stream:
            # Each POST on a new connection: the kernel spreads them over both workers,
            # and every one reaches this stream, whichever worker holds it.
            for i in range(6):
                async with aiohttp.ClientSession() as poster, poster.post(
                        f"http://127.0.0.1:{port}/api/barrages", json={"text": f"w{i}"}) as resp:
                    assert resp.status == 201
            texts = [(await next_event(stream, timeout=10)).data["text"] for _ in range(6)]
        assert texts == [f"w{i}" for i in range(6)]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, err
    assert (first + out).count(b"barrage is up") == 1  # one banner, not one per worker
    assert not running(workers)


async def wait_healthy(port: int) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            with contextlib.suppress(aiohttp.ClientConnectionError):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise AssertionError("never healthy")


def children_of(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def running(pids: list[int]) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]
