"""The desk's filter rules and flags in real Chromium: a rule added on /moderate blocks at once,
the API's refusal is shown, a rule added elsewhere appears, a removed one stops blocking; cards
show what the filter saw."""

from __future__ import annotations

import aiohttp
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Locator, Page

from tests.browser.test_moderate import open_desk
from tests.conftest import AUTH


async def api(wall: TestServer, method: str, path: str, **kwargs: object) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        resp = await http.request(method, wall.make_url(path), **kwargs)
        return resp.status, await resp.json(content_type=None) if resp.status != 204 else {}


async def sent(wall: TestServer, text: str) -> dict:
    status, body = await api(wall, "POST", "/api/barrages", json={"text": text})
    assert status == 201, body
    return body


def row(page: Page, pattern: str) -> Locator:
    return page.locator("#rule-rows tr", has=page.locator("td.rule-pattern", has_text=pattern))


async def test_add_a_rule_see_it_block_then_remove_it(browser: Browser, wall: TestServer) -> None:
    desk = await open_desk(browser, wall)
    await desk.click("#filters summary")
    await desk.locator("#rules-empty:not([hidden])").wait_for()
    await desk.fill("#rule-pattern", "Bad Word")
    await desk.fill("#rule-note", "from the desk")
    await desk.click("#rule-add")
    added = row(desk, "Bad Word")
    await added.wait_for(timeout=5000)
    cells = await added.locator("td").all_inner_texts()
    assert cells == ["1", "Bad Word", "word", "block", "from the desk", "Remove"]
    _, rules = await api(wall, "GET", "/api/filters", headers=AUTH)
    assert rules["rules"] == [{"id": 1, "pattern": "Bad Word", "kind": "word", "action": "block",
                               "note": "from the desk"}]
    refused = await sent(wall, "what a b.a.d W0RD")
    assert (refused["status"], refused["reason"]) == ("rejected", "blocked word")

    # The API's 400 is shown as it says it; nothing is added.
    await desk.fill("#rule-pattern", "(a+)+")
    await desk.select_option("#rule-kind", "regex")
    await desk.click("#rule-add")
    refusal = desk.locator("#rule-error", has_text="Regex could backtrack catastrophically")
    await refusal.wait_for(timeout=5000)
    assert await desk.input_value("#rule-pattern") == "(a+)+"  # kept, to be corrected

    # A rule added elsewhere (a chat's /block, another desk) arrives by its `filters` event.
    status, _ = await api(wall, "POST", "/api/filters", json={"pattern": "spam", "action": "review"},
                          headers=AUTH)
    assert status == 201
    await row(desk, "spam").wait_for(timeout=5000)
    assert await desk.locator("#rules-count").inner_text() == "(2)"

    await added.get_by_role("button", name="Remove rule 1 (block Bad Word)").click()
    await added.wait_for(state="detached", timeout=5000)
    await desk.locator("#notice.ok", has_text="Rule 1 removed").wait_for()
    passed = await sent(wall, "what a b.a.d W0RD")
    assert (passed["status"], passed["reason"]) == ("pending", None)
    assert desk.errors == []  # type: ignore[attr-defined]


async def test_cards_show_the_filters_flags(browser: Browser, wall: TestServer) -> None:
    """Manual mode, filter.links = "review" (the defaults): a link and a review rule are flagged."""
    status, rule = await api(wall, "POST", "/api/filters", json={"pattern": "spam", "action": "review"},
                             headers=AUTH)
    assert status == 201
    link = await sent(wall, "see www.example.com")
    both = await sent(wall, "spam at https://example.org")
    plain = await sent(wall, "hello")
    desk = await open_desk(browser, wall)

    async def flags(barrage: dict) -> list[str]:
        card = desk.locator(f'.card[data-barrage-id="{barrage["id"]}"]')
        await card.wait_for(timeout=5000)
        return await card.locator(".flag").all_inner_texts()

    assert await flags(link) == ["⚠ link"]
    assert await flags(both) == [f"⚠ rule {rule['id']}", "⚠ link"]
    assert await flags(plain) == []
    live = await sent(wall, "more spam")  # arriving live, over the stream
    assert await flags(live) == [f"⚠ rule {rule['id']}"]
