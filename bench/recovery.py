"""How long after the database returns the wall takes submissions again.

    python -m bench.recovery [--rounds 5] [--bus memory|postgres|both] [--mode fast|immediate]

A scratch PostgreSQL server of its own (tests/scratch_postgres.py: initdb + pg_ctl on a
private port, never the shared one) under a real `barrage serve` with a screen stream open.
Each round stops the server (`pg_ctl stop`), waits until /readyz says 503, starts it again
and measures from `pg_ctl start` returning (the server accepts connections) until:

- the first submission is accepted (201), polled every POLL_SECONDS;
- /readyz answers 200 (its answers are cached for up to a second);
- the open stream shows that submission.

Prints each round and the median and worst of each, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.scratch_postgres import ScratchPostgres
from tests.server_process import ServerProcess
from tests.sse import next_event

POLL_SECONDS = 0.01
BOUND_SECONDS = 60.0
FIGURES = ("submission", "readyz", "stream")


async def _until(check: Any) -> float:
    """Seconds until `await check()` is true, polled every POLL_SECONDS (bounded)."""
    start = time.perf_counter()
    async with asyncio.timeout(BOUND_SECONDS):
        while not await check():
            await asyncio.sleep(POLL_SECONDS)
    return time.perf_counter() - start


async def _status(http: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> int:
    async with http.request(method, url, **kw) as resp:
        await resp.read()
        return resp.status


async def _round(http: aiohttp.ClientSession, server: ServerProcess, postgres: ScratchPostgres,
                 stream: aiohttp.ClientResponse, mode: str, n: int) -> dict[str, float]:
    await postgres.stop(mode)
    await _until(lambda: _down(http, server))
    await postgres.start()
    back = time.perf_counter()
    text = f"round {n}"
    submitted = await _until(lambda: _accepted(http, server, text))
    while (await next_event(stream, BOUND_SECONDS)).data["text"] != text:
        pass
    shown = time.perf_counter() - back
    ready = submitted + await _until(lambda: _ready(http, server))
    return {"submission": submitted * 1000, "readyz": ready * 1000, "stream": shown * 1000}


async def _down(http: aiohttp.ClientSession, server: ServerProcess) -> bool:
    return await _status(http, "GET", f"{server.url}/readyz") == 503


async def _ready(http: aiohttp.ClientSession, server: ServerProcess) -> bool:
    return await _status(http, "GET", f"{server.url}/readyz") == 200


async def _accepted(http: aiohttp.ClientSession, server: ServerProcess, text: str) -> bool:
    status = await _status(http, "POST", f"{server.url}/api/barrages", json={"text": text})
    if status not in (201, 503):
        raise AssertionError(f"a submission got {status}")
    return status == 201


async def run(bus: str, rounds: int, mode: str) -> list[dict[str, float]]:
    async with ScratchPostgres() as postgres:
        with tempfile.TemporaryDirectory() as tmp:
            server = ServerProcess(Path(tmp), env={
                "BARRAGE_DATABASE_URL": postgres.url,
                "BARRAGE_BUS_URL": postgres.admin_url if bus == "postgres" else "memory://",
                "BARRAGE_MODERATION_MODE": "off", "BARRAGE_MODERATION_MAX_PER_MINUTE": "0",
                "BARRAGE_MODERATION_MAX_PER_MINUTE_PER_ADDRESS": "0",
                "BARRAGE_MODERATION_REPEAT_SECONDS": "0",
            })
            await server.start()
            try:
                async with aiohttp.ClientSession() as http, http.get(f"{server.url}/stream") as stream:
                    return [await _round(http, server, postgres, stream, mode, n) for n in range(rounds)]
            finally:
                await server.stop()


def report(bus: str, mode: str, results: list[dict[str, float]]) -> None:
    print(f"bus {bus}, pg_ctl stop -m {mode}: ms from pg_ctl start returning until ...")
    print("  round  " + "  ".join(f"{name:>10}" for name in FIGURES))
    for n, result in enumerate(results):
        print(f"  {n:>5}  " + "  ".join(f"{result[name]:>10.0f}" for name in FIGURES))
    for label, pick in (("median", statistics.median), ("worst", max)):
        print(f"  {label:>6} " + "  ".join(f"{pick(r[name] for r in results):>10.0f}" for name in FIGURES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bus", choices=["memory", "postgres", "both"], default="both")
    parser.add_argument("--mode", choices=["fast", "immediate"], default="fast")
    args = parser.parse_args()
    for bus in ("memory", "postgres") if args.bus == "both" else (args.bus,):
        report(bus, args.mode, asyncio.run(run(bus, args.rounds, args.mode)))


if __name__ == "__main__":
    main()
