"""Screen rendering in headless Chromium: frame times with 150 comments in flight,
and the time from SSE receipt to the comment's element in the DOM."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from bench.servers import start_barrage

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
BURST = 150
QUERY = "scale=0.4&duration=20"  # small lanes, slow crossing: as many on screen at once as fit
WINDOW_MS = 12000

# Runs before the page's own script (init scripts are not subject to its CSP):
# note when each barrage arrives, and when its element lands in the stage.
PROBE = """
window.__received = {}; window.__measured = {}; window.__launched = {};
const Native = window.EventSource;
window.EventSource = function (url, options) {
  const source = new Native(url, options);
  source.addEventListener('barrage', (ev) => {
    window.__received[JSON.parse(ev.data).id] = performance.now();
  });
  return source;
};
window.EventSource.prototype = Native.prototype;
window.EventSource.CLOSED = Native.CLOSED;
new MutationObserver((records) => {
  for (const r of records) for (const n of r.addedNodes) {
    const id = n.dataset && n.dataset.barrageId;
    if (!id) continue;
    // the page attaches a node once to measure it, then again when it flies
    if (id in window.__measured) window.__launched[id] = performance.now();
    else window.__measured[id] = performance.now();
  }
}).observe(document, { childList: true, subtree: true });
"""

FRAMES = """
async (ms) => {
  const deltas = [];
  let last = performance.now();
  const end = last + ms;
  await new Promise((done) => {
    const tick = (now) => {
      deltas.push(now - last);
      last = now;
      if (now < end) requestAnimationFrame(tick); else done();
    };
    requestAnimationFrame(tick);
  });
  return deltas;
}
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else float("nan")


async def measure(workdir: Path, chromium: str = "/usr/bin/chromium") -> dict[str, Any]:
    server = await start_barrage(workdir, mode="off")
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1920, "height": 1080})
            await page.add_init_script(PROBE)
            await page.goto(f"{server.url}/screen?{QUERY}")
            await server.wait_streams(1)
            frames = asyncio.create_task(page.evaluate(FRAMES, WINDOW_MS))
            await asyncio.sleep(0.3)
            await asyncio.gather(*(server.publish({"text": f"comment {i} 🎉", "author": f"g{i}"})
                                   for i in range(BURST)))
            peak = await _peak_on_screen(page, frames)
            deltas = (await frames)[1:]
            probe = await page.evaluate("[window.__received, window.__measured, window.__launched]")
            await browser.close()
    finally:
        await server.stop()
    return _report(deltas, peak, *probe)


async def _peak_on_screen(page: Any, frames: asyncio.Task[Any]) -> int:
    peak = 0
    while not frames.done():
        peak = max(peak, await page.locator(".barrage").count())
        await asyncio.sleep(0.25)
    return peak


def _report(deltas: list[float], peak: int, received: dict[str, float], measured: dict[str, float],
            launched: dict[str, float]) -> dict[str, Any]:
    order = sorted(received, key=received.get)
    to_dom = [measured[k] - received[k] for k in order if k in measured]
    # the first comments find free lanes: their delay is the page's own reaction time
    first = [launched[k] - received[k] for k in order[:20] if k in launched]
    return {"comments": BURST, "query": QUERY, "frames": len(deltas), "frame_p50_ms": pct(deltas, 0.5),
            "frame_p95_ms": pct(deltas, 0.95), "frame_max_ms": round(max(deltas), 2),
            "received": len(received), "peak_on_screen": peak, "flown": len(launched),
            "receipt_to_dom_p50_ms": pct(to_dom, 0.5), "receipt_to_dom_p95_ms": pct(to_dom, 0.95),
            "free_lane_receipt_to_flight_p50_ms": pct(first, 0.5),
            "free_lane_receipt_to_flight_max_ms": round(max(first), 2) if first else None}
