"""Fan-out scenarios: latency at N streams, a stalled client, a reconnect storm."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from typing import Any

from bench import loadgen
from bench.servers import Server

GENERATORS = 2


class Generators:
    """A pool of load-generator processes, each holding a share of the streams."""

    def __init__(self, port: int, processes: int = GENERATORS) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes = []
        self.procs = []
        for _ in range(processes):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=loadgen.main, args=(theirs, "127.0.0.1", port), daemon=True)
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)

    async def ask(self, *command: Any, per_process: list[Any] | None = None) -> list[Any]:
        loop = asyncio.get_running_loop()
        for index, pipe in enumerate(self.pipes):
            pipe.send(command if per_process is None else (*command, per_process[index]))
        return list(await asyncio.gather(*(loop.run_in_executor(None, p.recv) for p in self.pipes)))

    async def ask_one(self, index: int, *command: Any) -> Any:
        self.pipes[index].send(command)
        return await asyncio.get_running_loop().run_in_executor(None, self.pipes[index].recv)

    async def connect(self, total: int) -> int:
        shares = [total // len(self.pipes) + (i < total % len(self.pipes)) for i in range(len(self.pipes))]
        return sum(await self.ask("connect", per_process=shares))

    async def stats(self) -> dict[str, Any]:
        return merge(await self.ask("stats"))

    async def close(self) -> None:
        await self.ask("close")
        for proc in self.procs:
            proc.join(10)


def merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    hist: dict[int, int] = {}
    for report in reports:
        for bucket, count in report["hist"].items():
            hist[int(bucket)] = hist.get(int(bucket), 0) + count
    total = sum(r["receipts"] for r in reports)
    firsts = first_receipts(reports)
    return {
        "receipts": total, "gaps": sum(r["gaps"] for r in reports),
        "duplicates": sum(r["duplicates"] for r in reports), "lost": sum(r["lost"] for r in reports),
        "streams": sum(r["streams"] for r in reports),
        "p50_ms": percentile(hist, total, 0.50), "p99_ms": percentile(hist, total, 0.99),
        # submit → the first client to receive it (of every stream, in any generator)
        "first_p50_ms": quantile_ms(firsts, 0.50), "first_p99_ms": quantile_ms(firsts, 0.99),
        "max_ms": round(max((r["max_latency"] for r in reports), default=0) * 1000, 2),
        "last_ids": [i for r in reports for i in r["last_ids"]],
    }


def first_receipts(reports: list[dict[str, Any]]) -> list[float]:
    """Per submission, its earliest receipt over every generator's streams (seconds)."""
    firsts: dict[int, float] = {}
    for report in reports:
        for seq, latency in report["firsts"].items():
            firsts[seq] = min(latency, firsts.get(seq, latency))
    return sorted(firsts.values())


def quantile_ms(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)


def percentile(hist: dict[int, int], total: int, q: float) -> float:
    if total == 0:
        return float("nan")
    rank, seen = q * total, 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return round((bucket + 1) * loadgen.BUCKET * 1000, 2)
    return float("nan")


async def publish(server: Server, rate: float, seconds: float, first_seq: int = 1) -> dict[str, Any]:
    """Publish on a fixed schedule, never waiting for a delivery (or a response) before the next."""
    count = int(rate * seconds)
    start = time.perf_counter()
    tasks = []
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        body = {"text": f"bench {first_seq + i} {time.time():.6f}"}
        tasks.append(asyncio.create_task(server.publish(body)))
    results = await asyncio.gather(*tasks)
    return {"published": count, "ok": sum(1 for status, _ in results if status == 201),
            "seconds": time.perf_counter() - start, "next_seq": first_seq + count}


async def wait_receipts(gens: Generators, expected: int, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stats = await gens.stats()
        if stats["receipts"] >= expected or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.2)


async def slow_consumer(server: Server, streams: int, rate: float, seconds: float) -> dict[str, Any]:
    """One server, the same streams: others' p99 without, with, and again without one client
    that stopped reading. The delta is against the mean of the two windows without, so a
    drift of the machine over the run does not pass for an effect."""
    gens = Generators(server.port)
    windows = []
    try:
        await gens.connect(streams)
        await server.wait_streams(streams)
        seq = (await publish(server, rate, 1.0))["next_seq"]  # warm-up, not counted
        for stalled in (False, True, False):
            await asyncio.sleep(0.5)  # let the previous window's last deliveries land
            await gens.ask("reset")
            if stalled:
                await gens.ask_one(0, "stall", 1)
                await server.wait_streams(streams + 1)
            sent = await publish(server, rate, seconds, seq)
            seq = sent["next_seq"]
            windows.append(await wait_receipts(gens, sent["ok"] * streams))
    finally:
        await gens.close()
    without = (windows[0]["p99_ms"] + windows[2]["p99_ms"]) / 2
    return {"streams": streams, "rate": rate, "p99_without_ms": round(without, 2),
            "p99_with_ms": windows[1]["p99_ms"], "p99_delta_ms": round(windows[1]["p99_ms"] - without, 2),
            "p99_windows_ms": [w["p99_ms"] for w in windows],
            "gaps": sum(w["gaps"] for w in windows), "duplicates": sum(w["duplicates"] for w in windows)}


async def fan_out(server: Server, streams: int, rate: float, seconds: float,
                  stalled: int = 0, timeout: float = 20) -> dict[str, Any]:
    """N streams, a fixed publishing schedule; latency per receipt, CPU, RSS."""
    rss_before = server.rss_kb()
    gens = Generators(server.port)
    try:
        await gens.connect(streams)
        if stalled:
            await gens.ask("stall", stalled)
        held = await server.wait_streams(streams + stalled)
        await asyncio.sleep(1)
        rss_idle = server.rss_kb()
        cpu_start, wall_start = server.cpu_seconds(), time.perf_counter()
        sent = await publish(server, rate, seconds)
        stats = await wait_receipts(gens, sent["ok"] * streams, timeout)
        wall = time.perf_counter() - wall_start
        cpu = server.cpu_seconds() - cpu_start
    finally:
        await gens.close()
    stats.pop("last_ids")
    return {
        "server": server.name, "streams": streams, "stalled": stalled, "held": held,
        "rate": rate, "published": sent["ok"], **stats,
        "deliveries_per_s": round(stats["receipts"] / wall),
        "cpu_percent": round(100 * cpu / wall, 1),
        "rss_mb": round(server.rss_kb() / 1024, 1),
        "rss_per_idle_stream_kb": round((rss_idle - rss_before) / max(streams, 1), 2),
        "complete": stats["receipts"] == sent["ok"] * streams,
    }


async def storm(server: Server, streams: int, rate: float) -> dict[str, Any]:
    """All streams drop and reconnect with Last-Event-ID while publishing goes on."""
    gens = Generators(server.port)
    try:
        await gens.connect(streams)
        await server.wait_streams(streams)
        warm = await publish(server, rate, 1.0)
        await wait_receipts(gens, warm["ok"] * streams)
        during = asyncio.create_task(publish(server, rate, 3.0, warm["next_seq"]))
        await asyncio.sleep(0.5)
        storms = await gens.ask("storm")
        sent = await during
        after = await publish(server, rate, 1.0, sent["next_seq"])
        stats = await wait_receipts(gens, (warm["ok"] + sent["ok"] + after["ok"]) * streams)
    finally:
        await gens.close()
    final_id = max(stats["last_ids"], default=0)
    behind = sum(1 for last_id in stats["last_ids"] if last_id != final_id)
    return {
        "server": server.name, "streams": streams, "rate": rate,
        "resumed": sum(s["resumed"] for s in storms),
        "all_resumed_seconds": round(max(s["seconds"] for s in storms), 3),
        "gaps": stats["gaps"], "duplicates": stats["duplicates"], "streams_behind": behind,
        "p99_ms": stats["p99_ms"], "receipts": stats["receipts"],
    }
