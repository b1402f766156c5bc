"""Profile `barrage serve` under one benchmark scenario with py-spy.

    python -m bench.profile fanout|ingest|storm [--native]

Prints the top frames by own time (main thread). py-spy slows the server
while it samples: read the shares, not the latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench import fanout, ingest
from bench.servers import Server, start_barrage

SCENARIOS = {
    "fanout": lambda s: fanout.fan_out(s, 10_000, 2, 8),
    "ingest": lambda s: ingest.hammer(s, 8, "/api/barrages", "api"),
    "storm": lambda s: fanout.storm(s, 10_000, 5),
    # issue 14: the submit path, at the latency benchmark's 100 streams, faster for samples
    "submit": lambda s: fanout.fan_out(s, 100, 20, 30),
}


def top(raw: Path, count: int = 15) -> list[tuple[float, str]]:
    own: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if "Thread._bootstrap" not in stack:  # the main thread: the event loop
            own[stack.split(";")[-1]] += int(samples)
    total = sum(own.values()) or 1
    return [(round(100 * n / total, 1), frame) for frame, n in own.most_common(count)]


async def run(scenario: str, native: bool, keep: Path | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server: Server = await start_barrage(Path(tmp))
        raw = Path(tmp) / "profile.txt"
        spy = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(server.proc.pid),
            "-f", "raw", "-o", str(raw), "-r", "200", *(["--native"] if native else []),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            await SCENARIOS[scenario](server)
        finally:
            spy.send_signal(signal.SIGINT)
            await asyncio.wait_for(spy.wait(), 30)
            await server.stop()
        for share, frame in top(raw):
            print(f"{share:5.1f}%  {frame}")
        if keep:
            shutil.copyfile(raw, keep)


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.profile")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--native", action="store_true", help="include C frames (syscalls)")
    parser.add_argument("--keep", type=Path, help="keep py-spy's raw stacks in this file")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(run(args.scenario, args.native, args.keep))


if __name__ == "__main__":
    main()
