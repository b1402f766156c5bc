"""Cross-process latency: a comment submitted on node A (mode off) until an SSE client on
node B reads it, with Redis and with PostgreSQL as the bus, against one process (memory://)
where the same client reads from the node it submits to. Every run on its own fresh
PostgreSQL database and bus channel; the configurations interleave round by round.

    python -m bench.cluster [--seconds 20] [--rate 50] [--rounds 2] [--buses single,redis,postgres]

Latency is from just before the POST to the client reading the event; submissions run on
a fixed schedule and never wait for deliveries. The first WARMUP of each run are not counted.
CPU per event is node A's (it takes the submissions) and node B's (it only relays the
bus to the stream; none for "single"), from the kernel's per-thread run time, which
moves less than the latency when other work shares the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.servers import Server, start_barrage

POSTGRES = os.environ.get("BARRAGE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BARRAGE_BENCH_REDIS", "redis://127.0.0.1:6379/0")
WARMUP = 20


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    name = f"barrage_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(POSTGRES)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextlib.asynccontextmanager
async def nodes(kind: str, workdir: Path) -> AsyncIterator[tuple[Server, Server]]:
    """(submit here, read there): one server twice for "single", else two on one database."""
    async with fresh_database() as database:
        env = {"BARRAGE_DATABASE_URL": database.replace("postgresql://", "postgresql+asyncpg://"),
               "BARRAGE_BUS_URL": {"single": "memory://", "redis": REDIS, "postgres": database}[kind],
               "BARRAGE_BUS_CHANNEL": f"bench_{secrets.token_hex(4)}"}
        a = await start_barrage(workdir, **env)
        b = a if kind == "single" else await start_barrage(workdir, **env)
        try:
            yield a, b
        finally:
            await a.stop()
            if b is not a:
                await b.stop()


def cpu_seconds(server: Server) -> float:
    """Run time of every thread of the process, from /proc in ns (not clock ticks)."""
    tasks = Path(f"/proc/{server.proc.pid}/task").glob("*/schedstat")
    return sum(int(stat.read_text().split()[0]) for stat in tasks) / 1e9


async def read(resp: aiohttp.ClientResponse, sent: dict[int, float], seen: dict[int, float],
               expected: int) -> None:
    async for line in resp.content:
        if line.startswith(b"data: "):
            now = time.perf_counter()
            data = json.loads(line[6:])
            if "text" not in data:
                continue  # the stream's opening `state`, not a comment
            seq = int(data["text"].split()[1])
            if seq in sent and seq not in seen:
                seen[seq] = now - sent[seq]
            if len(seen) == expected:
                return


async def run(kind: str, seconds: float, rate: float, workdir: Path) -> dict[str, Any]:
    total = int(seconds * rate)
    sent: dict[int, float] = {}
    seen: dict[int, float] = {}
    async with nodes(kind, workdir) as (a, b), aiohttp.ClientSession() as http, \
            http.get(f"{b.url}/stream", timeout=aiohttp.ClientTimeout(total=None)) as stream:
        while await b.streams() < 1:
            await asyncio.sleep(0.05)
        reader = asyncio.create_task(read(stream, sent, seen, total))
        cpu = [cpu_seconds(a), cpu_seconds(b)]
        start = time.perf_counter()
        posts = []
        for seq in range(total):
            await asyncio.sleep(max(0.0, start + seq / rate - time.perf_counter()))
            sent[seq] = time.perf_counter()
            posts.append(asyncio.create_task(a.publish({"text": f"seq {seq}"})))
        statuses = [status for status, _ in await asyncio.gather(*posts)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader, 30)
        cpu = [cpu_seconds(a) - cpu[0], cpu_seconds(b) - cpu[1] if b is not a else 0.0]
    counted = sorted(latency for seq, latency in seen.items() if seq >= WARMUP)
    return {"bus": kind, "sent": total, "failed": sum(s != 201 for s in statuses),
            "received": len(seen), "p50_ms": round(counted[len(counted) // 2] * 1000, 2),
            "p99_ms": round(counted[int(len(counted) * 0.99)] * 1000, 2),
            "max_ms": round(counted[-1] * 1000, 2),
            "cpu_a_us": round(cpu[0] / total * 1e6, 1), "cpu_b_us": round(cpu[1] / total * 1e6, 1)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--buses", default="single,redis,postgres", help="comma-separated, single first")
    args = parser.parse_args()
    kinds = args.buses.split(",")
    with tempfile.TemporaryDirectory() as workdir:
        rows = [await run(kind, args.seconds, args.rate, Path(workdir))
                for _ in range(args.rounds) for kind in kinds]
    print("| bus | round | sent | failed | received | p50 ms | p99 ms | max ms | CPU µs per event, A / B |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for i, row in enumerate(rows):
        print(f"| {row['bus']} | {i // len(kinds) + 1} | {row['sent']} | {row['failed']} | {row['received']} "
              f"| {row['p50_ms']} | {row['p99_ms']} | {row['max_ms']} "
              f"| {row['cpu_a_us']} / {row['cpu_b_us']} |")
    best = {kind: min(r["p99_ms"] for r in rows if r["bus"] == kind) for kind in kinds}
    for kind in kinds[1:]:
        print(f"{kind}: best p99 {best[kind]} ms, {best[kind] - best[kinds[0]]:+.2f} ms against {kinds[0]}")


if __name__ == "__main__":
    asyncio.run(main())
