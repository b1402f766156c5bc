"""How long `barrage serve` takes to stop with N open SSE streams.

    python -m bench.shutdown [--streams 1000]

Starts a real server process on a temporary SQLite file, opens N raw streams
on loopback, waits until the server counts them all, sends SIGINT and times
the exit. Bounded: N connections, one signal, 60 s at most.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import sys
import tempfile
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


async def open_stream(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /stream HTTP/1.1\r\nHost: bench\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")
    # The writer is kept: once collected, it closes the socket, and the "open"
    # stream the server counts would already be gone.
    return reader, writer


def streams_held(port: int, token: str) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/stats",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.load(resp)["screens"]


async def run(streams: int) -> dict[str, float]:
    raise_fd_limit(streams * 2 + 256)
    port, token = free_port(), "bench-shutdown-token"  # 16+ characters, as the config requires
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BARRAGE_SERVER_ADMIN_TOKEN": token,
               "BARRAGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db",
               "BARRAGE_STREAM_MAX_PER_ADDRESS": "20000"}  # every stream is from loopback
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server", "serve", "--port", str(port), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            preexec_fn=lambda: raise_fd_limit(streams * 2 + 256),
        )
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), 30)
        streams_open = [await open_stream(port) for _ in range(streams)]
        while streams_held(port, token) < streams:
            await asyncio.sleep(0.1)
        start = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 60)
        stopped = time.perf_counter() - start
        ends = [await _end(reader) for reader, _ in streams_open]
        for _, writer in streams_open:
            writer.close()
    return {"streams": streams, "shutdown_seconds": round(stopped, 3),
            "streams_closed": sum(e != "open" for e in ends), "streams_complete": ends.count("complete")}


async def _end(reader: asyncio.StreamReader) -> str:
    """complete (the last chunk, then EOF), broken (EOF or a reset without it), or open."""
    tail = b""
    try:
        while data := await asyncio.wait_for(reader.read(65536), 5):
            tail = (tail + data)[-5:]
    except ConnectionError:
        return "broken"
    except TimeoutError:
        return "open"  # shutdown did not end it
    return "complete" if tail == b"0\r\n\r\n" else "broken"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=1000)
    print(json.dumps(asyncio.run(run(parser.parse_args().streams))))


if __name__ == "__main__":
    main()
