"""Ingest: submissions persisted per second, through the HTTP API and the Telegram webhook."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path
from typing import Any

from bench import ingestgen
from bench.servers import TOKEN, Server, start_barrage

CONCURRENCY = 64


async def hammer(server: Server, seconds: float, path: str, kind: str,
                 headers: dict[str, str] | None = None, processes: int = 1) -> dict[str, Any]:
    """CONCURRENCY keep-alive clients over `processes` processes, posting back to back."""
    ctx = multiprocessing.get_context("spawn")
    pipes, procs = [], []
    for worker in range(processes):
        ours, theirs = ctx.Pipe()
        args = (theirs, server.port, path, kind, headers or {}, CONCURRENCY // processes, seconds,
                worker, processes)
        procs.append(ctx.Process(target=ingestgen.main, args=args, daemon=True))
        pipes.append(ours)
    for proc in procs:
        proc.start()
    cpu_start = server.cpu_seconds()
    loop = asyncio.get_running_loop()
    results = await asyncio.gather(*(loop.run_in_executor(None, p.recv) for p in pipes))
    cpu = server.cpu_seconds() - cpu_start
    for proc in procs:
        proc.join(10)
    latencies = sorted(x for r in results for x in r["latencies"])
    ok = sum(r["statuses"].get(201 if kind == "api" else 200, 0) for r in results)
    return {"requests": len(latencies), "failures": len(latencies) - ok, "seconds": seconds,
            "server_cpu_percent": round(100 * cpu / seconds),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2)}


async def persisted(server: Server) -> int:
    assert server.session is not None
    total, after = 0, 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    while True:
        async with server.session.get(f"{server.url}/api/barrages?after={after}&limit=1000",
                                      headers=headers) as resp:
            items = (await resp.json())["items"]
        if not items:
            return total
        total, after = total + len(items), items[-1]["id"]


async def api_ingest(workdir: Path, mode: str, seconds: float) -> dict[str, Any]:
    server = await start_barrage(workdir, mode=mode)
    try:
        result = await hammer(server, seconds, "/api/barrages", "api")
        stored = await persisted(server)
    finally:
        await server.stop()
    ok = result["requests"] - result["failures"]
    return {"path": f"POST /api/barrages (mode {mode})", **result, "persisted": stored,
            "persisted_per_s": round(stored / result["seconds"]), "all_persisted": stored == ok}


async def webhook_ingest(workdir: Path, seconds: float) -> dict[str, Any]:
    from tests.fakes.telegram_api import FakeTelegram  # the tests' fake Bot API

    fake = FakeTelegram()
    await fake.start()
    secret = "bench-secret"
    server = await start_barrage(
        workdir, mode="manual", BARRAGE_TELEGRAM_ENABLED="true", BARRAGE_TELEGRAM_TOKEN="1:bench",
        BARRAGE_TELEGRAM_MODE="webhook", BARRAGE_TELEGRAM_WEBHOOK_SECRET=secret,
        BARRAGE_SERVER_PUBLIC_URL="http://127.0.0.1",  # webhook mode needs one; the fake takes http
        BARRAGE_TELEGRAM_API_BASE_URL=fake.base_url)
    try:
        await fake.wait_for("getMe", timeout=30)
        await asyncio.sleep(0.5)
        result = await hammer(server, seconds, "/telegram/webhook", "telegram",
                              {"X-Telegram-Bot-Api-Secret-Token": secret})
        stored = await persisted(server)
    finally:
        await server.stop()
        await fake.close()
    return {"path": "POST /telegram/webhook (webhook mode, fake Bot API)", **result, "persisted": stored,
            "persisted_per_s": round(stored / result["seconds"]),
            "all_persisted": stored == result["requests"] - result["failures"]}
