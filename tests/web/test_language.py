"""The pages' language over real HTTP: Accept-Language under ui.language = "auto", the config
otherwise; `lang`, the page's words and its script's texts match; caches are told it varies."""

from __future__ import annotations

import json
import re

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import ClientFactory
from tests.sse import next_block

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}
# One text each page shows in its HTML, per language.
KNOWN = {
    "/": {"en": "A comment wall for live events", "zh-CN": "活动现场的弹幕墙"},
    "/send": {"en": "Send to the wall", "zh-CN": "发送到弹幕墙"},
    "/moderate": {"en": "Manual review", "zh-CN": "人工审核"},
    "/screen": {"en": "QR code to join", "zh-CN": "扫码上墙的二维码"},
}


def lang_of(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)">', html)
    assert match, html[:200]
    return match.group(1)


def script_texts(html: str) -> dict[str, str]:
    match = re.search(r'<script type="application/json" id="i18n">(.*?)</script>', html, re.S)
    assert match, "no #i18n data block"
    texts: dict[str, str] = json.loads(match.group(1))
    return texts


@pytest.mark.parametrize("path", list(KNOWN))
@pytest.mark.parametrize(("headers", "language"), [
    (CHINESE, "zh-CN"), ({"Accept-Language": "zh-TW"}, "zh-CN"), ({"Accept-Language": "zh-Hans-SG"}, "zh-CN"),
    (ENGLISH, "en"), ({}, "en"), ({"Accept-Language": "fr-FR, de;q=0.5"}, "en"),
])
async def test_under_auto_a_page_speaks_the_readers_language(
    client: TestClient, path: str, headers: dict[str, str], language: str
) -> None:
    resp = await client.get(path, headers=headers)
    html = await resp.text()
    assert resp.status == 200 and resp.charset == "utf-8"
    assert lang_of(html) == language and KNOWN[path][language] in html
    assert resp.headers["Vary"] == "Accept-Language" and resp.headers["Content-Language"] == language
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "no-cache" and resp.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(("setting", "headers", "language"), [
    ("zh-CN", ENGLISH, "zh-CN"), ("zh-CN", {}, "zh-CN"), ("en", CHINESE, "en"),
])
async def test_a_configured_language_is_everyones(
    make_client: ClientFactory, setting: str, headers: dict[str, str], language: str
) -> None:
    client = await make_client(ui__language=setting)
    for path in KNOWN:
        resp = await client.get(path, headers=headers)
        html = await resp.text()
        assert lang_of(html) == language and KNOWN[path][language] in html, path
        assert resp.headers["Vary"] == "Accept-Language"


async def test_a_pages_script_gets_its_own_texts_in_its_language(client: TestClient) -> None:
    zh = script_texts(await (await client.get("/moderate", headers=CHINESE)).text())
    en = script_texts(await (await client.get("/moderate", headers=ENGLISH)).text())
    assert (zh["moderate.card.approve"], zh["moderate.card.reject"]) == ("✅ 通过", "❌ 拒绝")
    assert (en["moderate.card.approve"], en["moderate.card.reject"]) == ("Approve", "Reject")
    assert set(zh) == set(en) and all(key.startswith("moderate.") for key in zh)
    send = script_texts(await (await client.get("/send", headers=CHINESE)).text())
    assert send["send.mine.pending"] == "等待审核" and send["send.mine.approved"] == "已上墙"
    assert send["send.mine.rejected"] == "未通过"


async def test_the_data_block_cannot_end_its_element(client: TestClient) -> None:
    """Nothing in the texts can close the <script> or open a comment: <, > and & are escaped."""
    html = await (await client.get("/moderate", headers=ENGLISH)).text()
    block = re.search(r'id="i18n">(.*?)</script>', html, re.S)
    assert block and not re.search(r"[<>&]", block.group(1))
    assert "“{text}”" in script_texts(html)["moderate.card.select"]


async def test_a_revalidation_is_answered_per_language(client: TestClient) -> None:
    first = await client.get("/send", headers=CHINESE)
    etag = first.headers["ETag"]
    again = await client.get("/send", headers={**CHINESE, "If-None-Match": etag})
    assert again.status == 304 and again.headers["Vary"] == "Accept-Language"
    other = await client.get("/send", headers={**ENGLISH, "If-None-Match": etag})
    assert other.status == 200 and lang_of(await other.text()) == "en"


async def test_a_strangers_header_costs_a_bounded_parse(client: TestClient) -> None:
    for header in ("zh;" * 2000, "x" * 7000, ",,;;q=;q==,", "zh;q=nan, en;q=inf"):
        resp = await client.get("/send", headers={"Accept-Language": header})
        assert resp.status == 200, header[:40]
    weighed = await client.get("/", headers={"Accept-Language": "en;q=0.1, zh;q=0.2"})
    assert lang_of(await weighed.text()) == "zh-CN"


async def test_the_default_join_text_is_in_the_readers_language(make_client: ClientFactory) -> None:
    client = await make_client(server__public_url="https://wall.example.org")
    zh = await client.get("/api/screen-config", headers=CHINESE)
    assert (await zh.json())["join_text"] == "扫码发弹幕：https://wall.example.org/send"
    assert zh.headers["Vary"] == "Accept-Language"
    en = await client.get("/api/screen-config", headers=ENGLISH)
    assert (await en.json())["join_text"] == "Join the wall: https://wall.example.org/send"
    async with client.get("/stream", headers=CHINESE) as stream:
        assert "connected" in (await next_block(stream)).comments
        state = await next_block(stream)
        assert state.event == "state" and state.data["join_text"].startswith("扫码发弹幕：")


async def test_an_organizers_own_join_text_is_shown_as_written(make_client: ClientFactory) -> None:
    client = await make_client(screen__join_text="Scan me / 扫我")
    for headers in (CHINESE, ENGLISH):
        config = await (await client.get("/api/screen-config", headers=headers)).json()
        assert config["join_text"] == "Scan me / 扫我"


async def test_an_unknown_room_is_told_in_the_readers_language(client: TestClient) -> None:
    zh = await client.get("/send?room=nowhere", headers=CHINESE)
    assert zh.status == 404 and "没有这个会场" in await zh.text()
    assert zh.headers["Vary"] == "Accept-Language" and zh.headers["Content-Language"] == "zh-CN"
    en = await client.get("/screen?room=nowhere", headers=ENGLISH)
    assert en.status == 404 and await en.text() == "404: there is no such room on this wall\n"
