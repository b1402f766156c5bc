"""The pages: served, with a CSP, and never parsing user text as HTML."""

from __future__ import annotations

import re

import pytest
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


async def test_static_does_not_escape_its_folder(client: TestClient) -> None:
    resp = await client.get("/static/../../server/config.py")
    assert resp.status in (403, 404)


def test_no_page_uses_an_html_sink() -> None:
    for path in PAGES_DIR.rglob("*"):
        if path.suffix in (".js", ".html"):
            assert not HTML_SINKS.search(path.read_text()), path


def test_no_inline_script_or_style_in_pages() -> None:
    for path in PAGES_DIR.glob("*.html"):
        html = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert "<style" not in html and " style=" not in html and " on" + "click=" not in html, path


def test_screen_builds_comments_with_text_nodes() -> None:
    script = (PAGES_DIR / "static" / "screen.js").read_text()
    assert "textContent" in script and "createTextNode" in script
    assert "dataset.barrageId" in script
