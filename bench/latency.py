"""Issue 14: the submit path against both baselines, side by side in one run.

    python -m bench.latency [--runs 3] [--sizes 100,1000] [--rate 20] [--seconds 5]
    python -m bench.latency --saturation [--runs 3] [--streams 10000]

Three servers, one process each, on SQLite and `memory://` with moderation off: `barrage
serve`, the bare baseline (bench/baseline.py: encode once, write to every stream) and the
persisting baseline (the same plus one raw sqlite3 insert and commit per submission before
publishing: WAL, synchronous=NORMAL). Each size runs `runs` rounds, the three servers
interleaved within a round, so a slow minute of the machine falls on all three. Prints one
JSON line per run, then per size the medians over the rounds and the ratios: p50 submit →
first client (of all the streams, the earliest receipt of each submission), p50 and p99 submit
→ receipt (every client's receipt), and the server's CPU per delivery.

--saturation: how many deliveries a second one process sustains with 10,000 streams, ours
against the bare baseline, interleaved round by round: 20 submissions/s for 3 s (200,000
deliveries/s asked, more than either makes), deliveries/s = receipts ÷ the time from the first
submission to the last receipt.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench import fanout
from bench.run import raise_fd_limit, with_server
from bench.servers import start_barrage, start_baseline


def cpu_per_delivery_us(row: dict[str, Any]) -> float:
    """Server CPU µs per delivered event, over the publishing window (fanout.fan_out's)."""
    return round(row["cpu_percent"] / 100 / max(row["deliveries_per_s"], 1) * 1e6, 2)


async def rounds(sizes: list[int], runs: int, rate: float, seconds: float) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        starts = {"barrage": lambda: start_barrage(work / "ours"),
                  "baseline": start_baseline,
                  "persisting": lambda: start_baseline(work / f"persist-{len(rows)}.db")}
        (work / "ours").mkdir()
        for streams in sizes:
            for run in range(1, runs + 1):
                for name, start in starts.items():
                    row = await with_server(start, lambda s, n=streams: fanout.fan_out(s, n, rate, seconds))
                    row.update(run=run, server=name, cpu_us_per_delivery=cpu_per_delivery_us(row))
                    print(json.dumps(row), flush=True)
                    rows.append(row)
    return rows


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for streams in sorted({row["streams"] for row in rows}):
        med = {name: {key: statistics.median(r[key] for r in rows
                                             if r["streams"] == streams and r["server"] == name)
                      for key in ("first_p50_ms", "p50_ms", "p99_ms", "cpu_us_per_delivery")}
               for name in ("barrage", "baseline", "persisting")}
        ours, persisting = med["barrage"], med["persisting"]
        out.append({"streams": streams, **{f"{name}_{key}": round(value, 2) for name, m in med.items()
                                            for key, value in m.items()},
                    "p50_minus_persisting_ms": round(ours["p50_ms"] - persisting["p50_ms"], 2),
                    "first_p50_minus_persisting_ms":
                        round(ours["first_p50_ms"] - persisting["first_p50_ms"], 3),
                    "p99_ratio_bare": round(med["barrage"]["p99_ms"] / med["baseline"]["p99_ms"], 2),
                    "p99_ratio_persisting": round(med["barrage"]["p99_ms"] / med["persisting"]["p99_ms"], 2),
                    "cpu_ratio_bare": round(med["barrage"]["cpu_us_per_delivery"]
                                            / med["baseline"]["cpu_us_per_delivery"], 2)})
    return out


SATURATION_RATE, SATURATION_SECONDS, SATURATION_TIMEOUT = 20, 3, 120


async def saturation(streams: int, runs: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        starts = {"barrage": lambda: start_barrage(Path(tmp)), "baseline": start_baseline}
        for run in range(1, runs + 1):
            for name, start in starts.items():
                row = await with_server(start, lambda s: fanout.fan_out(
                    s, streams, SATURATION_RATE, SATURATION_SECONDS, timeout=SATURATION_TIMEOUT))
                row.update(run=run, server=name, cpu_us_per_delivery=cpu_per_delivery_us(row))
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def saturation_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    med = {name: statistics.median(r["deliveries_per_s"] for r in rows if r["server"] == name)
           for name in ("barrage", "baseline")}
    return {"streams": rows[0]["streams"], "barrage_deliveries_per_s": med["barrage"],
            "baseline_deliveries_per_s": med["baseline"],
            "ratio": round(med["barrage"] / med["baseline"], 3),
            "complete": all(r["complete"] for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.latency")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--saturation", action="store_true", help="deliveries/s at saturation")
    parser.add_argument("--streams", type=int, default=10_000, help="with --saturation")
    args = parser.parse_args()
    raise_fd_limit()
    if args.saturation:
        print(json.dumps(saturation_summary(asyncio.run(saturation(args.streams, args.runs)))))
        return
    rows = asyncio.run(rounds([int(n) for n in args.sizes.split(",")], args.runs, args.rate, args.seconds))
    for line in summary(rows):
        print(json.dumps(line))


if __name__ == "__main__":
    main()
