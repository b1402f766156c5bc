"""deploy/nginx/barrage.conf in the real nginx, in front of real `barrage serve` nodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.nginx import NGINX, Nginx
from tests.server_process import ServerProcess
from tests.sse import next_block, next_event

pytestmark = pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is installed by `make test`")


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess(tmp_path / "node", env={"BARRAGE_MODERATION_MODE": "off",
                                                   "BARRAGE_SERVER_FORWARDED_HOPS": "1"})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def proxy(tmp_path: Path, node: ServerProcess) -> AsyncIterator[Nginx]:
    nginx = Nginx(tmp_path / "nginx", [node.port])
    await nginx.start()
    yield nginx
    await nginx.stop()


async def test_the_site_file_passes_nginx_own_check(tmp_path: Path, proxy: Nginx) -> None:
    check = await asyncio.create_subprocess_exec(
        NGINX, "-t", "-p", str(proxy.workdir), "-c", str(proxy.workdir / "nginx.conf"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output = (await check.communicate())[0].decode()
    assert check.returncode == 0, output


async def test_a_stream_through_nginx_gets_each_event_as_sent(proxy: Nginx, node: ServerProcess) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{proxy.url}/stream") as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            # The preamble arrives before any event: nginx passes bytes on as they come.
            assert "connected" in (await next_block(stream)).comments
            async with http.post(f"{proxy.url}/api/barrages", json={"text": "via nginx"}) as resp:
                assert resp.status == 201
            first = await next_event(stream)
            assert first.data["text"] == "via nginx"
            await node.submit("second")
            second = await next_event(stream)
        # Resuming through nginx replays what came after Last-Event-ID, once.
        await node.submit("third")
        async with http.get(f"{proxy.url}/stream", headers={"Last-Event-ID": first.id or ""}) as again:
            replayed = [await next_event(again), await next_event(again)]
    assert [m.data["text"] for m in replayed] == ["second", "third"]
    assert replayed[0].id == second.id


async def test_the_page_and_api_pass_through(proxy: Nginx) -> None:
    status, body = await proxy.get("/healthz")
    assert status == 200 and '"status"' in body
    status, _ = await proxy.get("/screen")
    assert status == 200
