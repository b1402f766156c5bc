"""SSE load generator: one process holding many raw asyncio connections.

Driven by the orchestrator (bench/run.py) through a multiprocessing pipe.
Each connection parses just enough of the stream: the SSE id (gaps and
duplicates) and the submit time embedded in the text ("bench <seq> <unix
time>", latency). Latencies go into a fixed histogram (0.1 ms
buckets), so memory stays flat whatever the number of receipts.

Commands: ("connect", n) → connected count; ("stats",) → dict;
("reset",) clears counters; ("storm",) drops every connection and reconnects
it with Last-Event-ID; ("stall", n) adds n connections that never read;
("close",) ends the process.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from multiprocessing.connection import Connection
from typing import Any

BUCKET = 0.0001  # seconds
BUCKETS = 100_000  # up to 10 s; later receipts land in the last bucket
MAX_FIRSTS = 200_000  # events whose first receipt is kept (submit → first client); later ones are not
EVENT = re.compile(rb"id: (\d+)\nevent: barrage\ndata: [^\n]*?\"text\":\"bench (\d+) ([\d.]+)")


class Stats:
    def __init__(self) -> None:
        self.hist = [0] * BUCKETS
        self.receipts = 0
        self.gaps = 0
        self.duplicates = 0
        self.max_latency = 0.0
        self.firsts: dict[int, float] = {}  # by the submission's seq: its earliest receipt here

    def record(self, latency: float, seq: int) -> None:
        self.receipts += 1
        self.max_latency = max(self.max_latency, latency)
        self.hist[min(int(latency / BUCKET), BUCKETS - 1)] += 1
        first = self.firsts.get(seq)
        if (len(self.firsts) < MAX_FIRSTS) if first is None else latency < first:
            self.firsts[seq] = latency

    def export(self) -> dict[str, Any]:
        sparse = {i: c for i, c in enumerate(self.hist) if c}
        return {"hist": sparse, "receipts": self.receipts, "gaps": self.gaps,
                "duplicates": self.duplicates, "max_latency": self.max_latency, "firsts": self.firsts}


class Stream(asyncio.Protocol):
    def __init__(self, owner: Generator) -> None:
        self.owner = owner
        self.buffer = b""
        self.last_id = 0
        self.transport: asyncio.Transport | None = None
        self.headers_done = False
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self.buffer + data
        if not self.headers_done:
            if b"\r\n\r\n" not in buffer:
                self.buffer = buffer
                return
            self.headers_done = True
            self.owner.on_ready(self)
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self.buffer = buffer
            return
        self.buffer = buffer[end + 2:]
        for match in EVENT.finditer(buffer, 0, end + 2):
            self.on_event(int(match[1]), int(match[2]), float(match[3]), now)

    def on_event(self, event_id: int, seq: int, sent: float, now: float) -> None:
        # Every event on these streams is a barrage (mode off), so SSE ids are
        # consecutive: a jump is a gap, a step back is a duplicate. (Publisher
        # sequence numbers are not: concurrent POSTs may commit out of order.)
        stats = self.owner.stats
        if self.last_id:
            if event_id <= self.last_id:
                stats.duplicates += 1
                return
            stats.gaps += event_id - self.last_id - 1
        self.last_id = event_id
        stats.record(now - sent, seq)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self.owner.on_lost(self)


class Generator:
    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.stats = Stats()
        self.streams: set[Stream] = set()
        self.ready = 0
        self.lost_unexpectedly = 0
        self.storming = False
        self.stalled: list[socket.socket] = []

    def on_ready(self, _stream: Stream) -> None:
        self.ready += 1

    def on_lost(self, stream: Stream) -> None:
        if stream in self.streams and not self.storming:
            self.lost_unexpectedly += 1
        self.streams.discard(stream)

    async def open(self, last_id: int = 0) -> Stream:
        loop = asyncio.get_running_loop()
        for attempt in range(50):
            try:
                _, stream = await loop.create_connection(lambda: Stream(self), self.host, self.port)
                break
            except OSError:
                await asyncio.sleep(0.05 * (attempt + 1))
        else:
            raise ConnectionError("cannot connect")
        stream.last_id = last_id
        resume = f"Last-Event-ID: {last_id}\r\n" if last_id else ""
        stream.transport.write(f"GET {self.path} HTTP/1.1\r\nHost: bench\r\n{resume}\r\n".encode())
        self.streams.add(stream)
        return stream

    async def connect(self, count: int) -> int:
        target = self.ready + count
        gate = asyncio.Semaphore(100)  # do not flood the accept queue

        async def one() -> None:
            async with gate:
                await self.open()

        await asyncio.gather(*(one() for _ in range(count)))
        await self._wait_ready(target)
        return self.ready

    async def _wait_ready(self, target: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.ready < target and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def storm(self) -> dict[str, Any]:
        """Drop every stream at once and reconnect each with its Last-Event-ID."""
        old = list(self.streams)
        self.storming = True
        for stream in old:
            stream.transport.close()
        await asyncio.gather(*(s.lost for s in old))
        self.storming = False
        started = time.time()
        self.ready = 0
        gate = asyncio.Semaphore(1000)  # connects in flight per generator; the rest queue here

        async def reopen(stream: Stream) -> None:
            async with gate:
                await self.open(stream.last_id)

        await asyncio.gather(*(reopen(s) for s in old))
        await self._wait_ready(len(old))
        return {"resumed": self.ready, "seconds": time.time() - started, "started": started}

    def stall(self, count: int) -> None:
        for _ in range(count):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((self.host, self.port))
            sock.sendall(f"GET {self.path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            self.stalled.append(sock)  # and never read

    def report(self) -> dict[str, Any]:
        return {**self.stats.export(), "streams": len(self.streams), "lost": self.lost_unexpectedly,
                "last_ids": [s.last_id for s in self.streams]}


async def serve(pipe: Connection, host: str, port: int, path: str) -> None:
    gen = Generator(host, port, path)
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        name = command[0]
        if name == "connect":
            pipe.send(await gen.connect(command[1]))
        elif name == "stats":
            pipe.send(gen.report())
        elif name == "reset":
            gen.stats = Stats()
            pipe.send(True)
        elif name == "storm":
            pipe.send(await gen.storm())
        elif name == "stall":
            gen.stall(command[1])
            pipe.send(True)
        elif name == "close":
            for stream in list(gen.streams):
                stream.transport.close()
            for sock in gen.stalled:
                sock.close()
            pipe.send(True)
            return


def main(pipe: Connection, host: str, port: int, path: str = "/stream") -> None:
    try:
        import uvloop  # optional: a faster client
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(pipe, host, port, path))
