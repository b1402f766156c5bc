"""The screen from the back of the hall, in real Chromium at 1920×1080, scale 1: the smallest
comment text is at least 40 px, its author label and the join corner at least 32 px, and a
white comment keeps a dark outline over a light background (OBS mode, `?bg=transparent`,
over a white scene)."""

from __future__ import annotations

import io

from aiohttp.test_utils import TestServer
from PIL import Image
from playwright.async_api import Browser, Page

from tests.browser.test_screen import api
from tests.conftest import AUTH

MIN_TEXT_PX = 40
MIN_LABEL_PX = 32
# Over white, a white comment is readable only through its outline: this share of its box
# must be dark (luminance ≤ 0.25), and the darkest pixels must be near black (WCAG contrast
# with white ≥ 7:1). Measured: the outline (1 px black and a 6 px shadow) covers 14 % of a
# small comment's box, contrast 21:1; with no text-shadow, 0 % (the test fails).
MIN_DARK_SHARE = 0.07
DARK = 0.25


def luminance(rgb: tuple[int, ...]) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


async def px(page: Page, selector: str) -> float:
    size = await page.locator(selector).first.evaluate("el => getComputedStyle(el).fontSize")
    return float(size.removesuffix("px"))


async def flying_small(browser: Browser, wall: TestServer) -> Page:
    page = await browser.new_page(viewport={"width": 1920, "height": 1080}, device_scale_factor=1)
    await page.goto(str(wall.make_url("/screen?bg=transparent")))
    await page.locator("#join-text:not(:empty)").wait_for(timeout=5000)
    for _ in range(200):  # the stream is open once the server counts the screen
        if (await api(wall, "GET", "/api/stats", headers=AUTH))["screens"] >= 1:
            break
        await page.wait_for_timeout(20)
    comment = {"text": "Happy New Year 新年快乐", "author": "Ann", "size": "small", "color": "#ffffff"}
    item = await api(wall, "POST", "/api/barrages", json=comment)
    await api(wall, "POST", f"/api/barrages/{item['id']}/approve", headers=AUTH)
    shown = page.locator(f'[data-barrage-id="{item["id"]}"]')
    await shown.wait_for(state="attached", timeout=5000)
    return page


async def test_the_smallest_text_and_the_labels_are_large_enough(browser: Browser, wall: TestServer) -> None:
    page = await flying_small(browser, wall)
    assert await px(page, ".barrage.size-small") >= MIN_TEXT_PX
    assert await px(page, ".barrage.size-small .who") >= MIN_LABEL_PX
    assert await px(page, "#join-text") >= MIN_LABEL_PX


async def test_a_white_comment_stays_readable_over_a_white_scene(browser: Browser, wall: TestServer) -> None:
    page = await flying_small(browser, wall)
    item = page.locator(".barrage.size-small").first
    for _ in range(500):  # until it has fully entered from the right
        box = await item.bounding_box()
        if box is not None and box["x"] + box["width"] < 1900:
            break
        await page.wait_for_timeout(10)
    await page.evaluate("document.getAnimations().forEach(a => a.pause())")
    box = await item.bounding_box()
    assert box is not None
    left = max(box["x"], 0)
    clip = {"x": left, "y": box["y"], "width": min(box["x"] + box["width"], 1920) - left,
            "height": box["height"]}
    assert clip["width"] > 100, "the comment is not on the screen"
    # The page is transparent: Chromium paints it over white, the light scene OBS would show.
    shot = Image.open(io.BytesIO(await page.screenshot(clip=clip))).convert("RGB")
    lum = sorted(luminance(p) for p in shot.get_flattened_data())
    dark_share = sum(1 for value in lum if value <= DARK) / len(lum)
    darkest = lum[: max(1, len(lum) // 100)]
    contrast = 1.05 / (sum(darkest) / len(darkest) + 0.05)
    assert dark_share >= MIN_DARK_SHARE, f"outline covers {dark_share:.1%} of the comment's box"
    assert contrast >= 7, f"the outline's contrast with white is {contrast:.1f}:1"
