"""The pages: served, with a CSP, and never parsing user text as HTML."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.web.pages import PAGES_DIR

HTML_SINKS = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\.html\(|eval\(|new Function"
)


@pytest.mark.parametrize("path", ["/", "/screen", "/send", "/moderate"])
async def test_pages_are_served_with_a_csp(client: TestClient, path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 200 and resp.content_type == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "object-src 'none'" in csp and "unsafe-inline" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/", "/send", "/moderate"])
async def test_pages_may_not_be_framed(client: TestClient, path: str) -> None:
    resp = await client.get(path)
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


async def test_the_screen_may_be_framed(client: TestClient) -> None:
    """OBS and overlay tools embed the screen."""
    resp = await client.get("/screen")
    assert "X-Frame-Options" not in resp.headers
    assert "frame-ancestors" not in resp.headers["Content-Security-Policy"]


async def test_static_assets_are_served(client: TestClient) -> None:
    for name in ("screen.js", "send.js", "moderate.js", "screen.css", "common.css"):
        resp = await client.get(f"/static/{name}")
        assert resp.status == 200, name


TRAVERSALS = [
    "/static/../../server/config.py",
    "/static/%2e%2e/%2e%2e/server/config.py",
    "/static/%2E%2E/%2E%2E/server/config.py",
    "/static/..%2f..%2fserver/config.py",
    "/static/..%5c..%5cserver%5cconfig.py",
    "/static/%252e%252e/%252e%252e/server/config.py",
]
SECRET_LOOKING = b"def load_config"  # a line of server/config.py


async def raw_get(host: str, port: int, target: str) -> tuple[int, bytes]:
    """A request line sent as written: an HTTP client library would tidy the `..` away."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    return int(response.split(b" ", 2)[1]), response


@pytest.mark.parametrize("target", TRAVERSALS)
async def test_static_does_not_escape_its_folder(client: TestClient, target: str) -> None:
    status, response = await raw_get(client.host, client.port, target)
    assert status in (400, 403, 404), response[:200]
    assert SECRET_LOOKING not in response


async def test_the_traversal_probe_sees_a_leak_when_there_is_one(aiohttp_client: Any) -> None:
    """The check above can fail: against a server that does serve files by path, it sees the file."""

    async def careless(request: web.Request) -> web.FileResponse:  # joins the path, checks nothing
        return web.FileResponse(PAGES_DIR / "static" / request.match_info["tail"])

    app = web.Application()
    app.router.add_get("/static/{tail:.*}", careless)
    leaky = await aiohttp_client(app)
    status, response = await raw_get(leaky.host, leaky.port, TRAVERSALS[0])
    assert status == 200 and SECRET_LOOKING in response


def test_no_page_uses_an_html_sink() -> None:
    for path in PAGES_DIR.rglob("*"):
        if path.suffix in (".js", ".html"):
            assert not HTML_SINKS.search(path.read_text()), path


def test_no_inline_script_or_style_in_pages() -> None:
    for path in PAGES_DIR.glob("*.html"):
        html = path.read_text()
        # a JSON data block (the page's texts, server/web/pages.py) is data, never run
        assert not re.search(r"<script(?![^>]*\b(src=|type=\"application/json\"))", html), path
        assert "<style" not in html and " style=" not in html and " on" + "click=" not in html, path


def test_screen_builds_comments_with_text_nodes() -> None:
    script = (PAGES_DIR / "static" / "screen.js").read_text()
    assert "textContent" in script and "createTextNode" in script
    assert "dataset.barrageId" in script
