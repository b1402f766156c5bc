"""`make bench` (full run, < 10 min) and `make bench-smoke` (< 30 s).

    python -m bench.run [--smoke] [--out bench]

Everything runs on loopback against real server processes, bounded in count
and time. Writes results.json and RESULTS.md (full run) or prints the smoke
verdict (exit 1 on any gap or duplicate).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from bench import fanout, ingest, report, screen, shutdown
from bench.servers import Server, start_barrage, start_baseline

# (streams, barrages per second, seconds). At 10,000 streams 20/s would ask the
# two cores for 200,000 deliveries/s plus parsing them; 2/s keeps the same
# 20,000 deliveries/s as the 1,000-stream row, so the rows compare fan-out width.
FAN_OUT = [(100, 20, 5), (1000, 20, 5), (10_000, 2, 10)]
SMOKE = (500, 100, 5)


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def environment() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "cpu_model": model,
            "cpu_count": len(os.sched_getaffinity(0)),
            "python": platform.python_version(), "aiohttp": aiohttp.__version__,
            "uvloop": uvloop.__version__, "command": " ".join([Path(sys.executable).name, "-m", "bench.run",
                                                               *sys.argv[1:]])}


async def with_server(start: Any, work: Any) -> Any:
    server: Server = await start()
    try:
        return await work(server)
    finally:
        await server.stop()


async def fan_out_rows(workdir: Path) -> list[dict[str, Any]]:
    """Each size twice, ours and the baseline interleaved; the table keeps every run."""
    rows = []
    for streams, rate, seconds in FAN_OUT:
        for run in (1, 2):
            for start in (lambda: start_barrage(workdir), start_baseline):
                row = await with_server(start, lambda s, n=streams, r=rate, t=seconds:
                                        fanout.fan_out(s, n, r, t))
                row["run"] = run
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


async def full(out: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"environment": environment()}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        results["fan_out"] = await fan_out_rows(workdir)
        results["slow_consumer"] = await with_server(
            lambda: start_barrage(workdir), lambda s: fanout.slow_consumer(s, 1000, 20, 5))
        results["storm"] = await with_server(lambda: start_barrage(workdir),
                                             lambda s: fanout.storm(s, 10_000, 5))
        results["ingest"] = [await ingest.api_ingest(workdir, "manual", 5),
                             await ingest.api_ingest(workdir, "off", 5),
                             await ingest.webhook_ingest(workdir, 5)]
        results["screen"] = await screen.measure(workdir)
        results["shutdown"] = await shutdown.run(1000)
    results["environment"]["seconds"] = round(time.perf_counter() - started)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "RESULTS.md").write_text(report.render(results))
    return results


async def smoke() -> dict[str, Any]:
    streams, rate, seconds = SMOKE
    with tempfile.TemporaryDirectory() as tmp:
        return await with_server(lambda: start_barrage(Path(tmp)),
                                 lambda s: fanout.fan_out(s, streams, rate, seconds))


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--smoke", action="store_true", help="500 streams, 100/s for 5 s; gaps must be 0")
    parser.add_argument("--out", default=str(Path(__file__).parent))
    args = parser.parse_args()
    raise_fd_limit()
    if args.smoke:
        row = asyncio.run(smoke())
        ok = row["gaps"] == 0 and row["duplicates"] == 0 and row["complete"]
        print(f"smoke: {row['streams']} streams, {row['published']} barrages, {row['receipts']} receipts, "
              f"p99 {row['p99_ms']} ms, gaps {row['gaps']}, duplicates {row['duplicates']}: "
              f"{'PASS' if ok else 'FAIL'}")
        return 0 if ok else 1
    asyncio.run(full(Path(args.out)))
    print(f"wrote {args.out}/RESULTS.md and results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
