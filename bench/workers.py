"""10,000 streams on one process against the same 10,000 split over `serve --workers 2`.

    python -m bench.workers [--streams 10000] [--rate 2] [--seconds 20] [--rounds 2]

Both on SQLite (WAL); the workers share a Redis bus on a channel of their own. The
kernel spreads the streams over the workers (SO_REUSEPORT), so each event reaches one
worker through the bus and the other directly. Reported per configuration: gaps and
duplicates seen by the clients, p50/p99 submit → receipt, deliveries/s, and server CPU
(parent and workers) per delivery; then the ratio workers / one process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.fanout import Generators, publish, wait_receipts
from bench.run import raise_fd_limit
from bench.servers import Server, start_barrage

REDIS = "redis://127.0.0.1:6379/0"
SETTLE_SECONDS = 2.0  # after the last connect, for every stream to be registered


async def measure(server: Server, streams: int, rate: float, seconds: float) -> dict[str, Any]:
    gens = Generators(server.port)
    try:
        held = await gens.connect(streams)
        await asyncio.sleep(SETTLE_SECONDS)
        cpu_start, wall_start = server.cpu_seconds(), time.perf_counter()
        sent = await publish(server, rate, seconds)
        stats = await wait_receipts(gens, sent["ok"] * streams, timeout=60)
        wall = time.perf_counter() - wall_start
        cpu = server.cpu_seconds() - cpu_start
    finally:
        await gens.close()
    return {"streams": streams, "held": held, "published": sent["ok"], "receipts": stats["receipts"],
            "gaps": stats["gaps"], "duplicates": stats["duplicates"],
            "p50_ms": stats["p50_ms"], "p99_ms": stats["p99_ms"],
            "deliveries_per_s": round(stats["receipts"] / wall),
            "cpu_us_per_delivery": round(1e6 * cpu / max(stats["receipts"], 1), 2),
            "complete": stats["receipts"] == sent["ok"] * streams}


async def one_run(workdir: Path, workers: int, streams: int, rate: float, seconds: float) -> dict[str, Any]:
    env = {}
    args: tuple[str, ...] = ()
    if workers > 1:
        args = ("--workers", str(workers))
        env = {"BARRAGE_BUS_URL": REDIS, "BARRAGE_BUS_CHANNEL": f"bench_{secrets.token_hex(4)}"}
    server = await start_barrage(workdir, args=args, **env)
    try:
        row = await measure(server, streams, rate, seconds)
    finally:
        await server.stop()
    return {"workers": workers, **row}


async def main(streams: int, rate: float, seconds: float, rounds: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(1, rounds + 1):
            for workers in (1, 2):
                workdir = Path(tmp) / f"{run}-{workers}"
                workdir.mkdir()
                row = {"run": run, **await one_run(workdir, workers, streams, rate, seconds)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    for run in range(1, rounds + 1):
        one, two = (r for r in rows if r["run"] == run)
        print(f"run {run}: CPU per delivery, 2 workers / 1 process = "
              f"{two['cpu_us_per_delivery'] / one['cpu_us_per_delivery']:.2f}")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    raise_fd_limit()
    asyncio.run(main(options.streams, options.rate, options.seconds, options.rounds))
