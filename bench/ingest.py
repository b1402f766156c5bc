"""Ingest: submissions persisted per second, through the HTTP API and the Telegram webhook.

    python -m bench.ingest postgres [--seconds 5] [--mode off] [--server postgresql://…/test]

runs `postgres_ingest`: two `barrage serve` processes on one fresh PostgreSQL database
(memory:// bus: no stream is involved), both hammered at once. The other functions
run from bench/run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

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


POSTGRES_SERVER = os.environ.get("BARRAGE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def postgres_ingest(workdir: Path, mode: str, seconds: float, server_url: str = POSTGRES_SERVER,
                          nodes: int = 2) -> dict[str, Any]:
    """`nodes` server processes on one fresh database, each hammered by its own clients."""
    name = f"barrage_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = server_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    servers: list[Server] = []
    try:
        for _ in range(nodes):  # one after the other: both creating the schema at once is a race
            servers.append(await start_barrage(workdir, mode=mode, BARRAGE_DATABASE_URL=url))
        results = await asyncio.gather(*(hammer(each, seconds, "/api/barrages", "api") for each in servers))
        stored = await persisted(servers[0])
    finally:
        for each in servers:
            await each.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    ok = sum(r["requests"] - r["failures"] for r in results)
    return {"path": f"POST /api/barrages (mode {mode}, PostgreSQL, {nodes} processes)",
            "requests": sum(r["requests"] for r in results), "failures": sum(r["failures"] for r in results),
            "seconds": seconds, "server_cpu_percent": [r["server_cpu_percent"] for r in results],
            "p50_ms": [r["p50_ms"] for r in results], "p99_ms": [r["p99_ms"] for r in results],
            "persisted": stored, "persisted_per_s": round(stored / seconds), "all_persisted": stored == ok}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest")
    parser.add_argument("target", choices=["postgres"])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--mode", choices=["off", "manual"], default="off")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--server", default=POSTGRES_SERVER, help="any database on the PostgreSQL server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        result = asyncio.run(postgres_ingest(Path(workdir), args.mode, args.seconds, args.server, args.nodes))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
