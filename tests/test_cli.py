"""The real console entry point, as a separate process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT):
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", *args, cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def test_bad_config_stops_startup_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[moderation]\nmode = "sometimes"\n')
    proc = await run_cli("serve", "--config", str(path))
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"moderation.mode" in err


async def test_env_override_is_validated_too(tmp_path: Path) -> None:
    proc = await run_cli("serve", env={"BARRAGE_SERVER_PORT": "eighty"}, cwd=tmp_path)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and b"server.port" in err


async def test_each_validator_exits_2_naming_its_key(tmp_path: Path) -> None:
    cases = [
        ({"BARRAGE_SERVER_ADMIN_TOKEN": "short"}, b"server.admin_token"),
        ({"BARRAGE_TELEGRAM_POLL_TIMEOUT_SECONDS": "-5"}, b"telegram.poll_timeout_seconds"),
        ({"BARRAGE_SLACK_MEMBER_CACHE_SECONDS": "-5"}, b"slack.member_cache_seconds"),
        ({"BARRAGE_SLACK_MODERATORS": "[1, 2]"}, b"slack.moderators"),
        ({"BARRAGE_TELEGRAM_ENABLED": "true", "BARRAGE_TELEGRAM_MODE": "webhook",
          "BARRAGE_TELEGRAM_TOKEN": "1:x", "BARRAGE_TELEGRAM_WEBHOOK_SECRET": "abc"}, b"server.public_url"),
        ({"BARRAGE_DATABASE_SQLITE_SYNCHRONOUS": "off"}, b"database.sqlite_synchronous"),
    ]
    procs = [await run_cli("serve", env=env, cwd=tmp_path) for env, _ in cases]
    for proc, (_, key) in zip(procs, cases, strict=True):
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 2 and b"config error: " + key + b":" in err, err


async def test_serve_prints_urls_serves_pages_and_stops_on_sigint(tmp_path: Path) -> None:
    port = free_port()
    env = {"BARRAGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
           "BARRAGE_CONFIG": str(ROOT / "config.toml")}
    proc = await run_cli("serve", "--port", str(port), env=env)
    assert proc.stdout is not None
    lines = [(await asyncio.wait_for(proc.stdout.readline(), 30)).decode() for _ in range(5)]
    assert f"http://127.0.0.1:{port}/screen" in lines[1]
    assert "/moderate#token=" in lines[3]
    token = lines[3].split("#token=")[1].strip()
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
        for path in ("/", "/screen", "/send", "/moderate", "/healthz"):
            async with http.get(path) as resp:  # released: a dangling one warns later, elsewhere
                assert resp.status == 200, path
        async with http.get("/api/stats", headers={"Authorization": f"Bearer {token}"}) as stats:
            assert stats.status == 200
    proc.send_signal(signal.SIGINT)
    await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode == 0
