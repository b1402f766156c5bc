"""A lean HTTP/1.1 keep-alive POST client for the ingest benchmark, one process per call.

aiohttp's client costs more CPU per request than the server spends handling
it; on a 2-core machine it would measure itself. This one writes the request
bytes and reads the status line and Content-Length, nothing more.
"""

from __future__ import annotations

import asyncio
import json
import time
from multiprocessing.connection import Connection
from typing import Any


def telegram_update(i: int) -> dict[str, Any]:
    chat = {"id": 7, "type": "private", "first_name": "Bench"}
    sender = {"id": 7, "is_bot": False, "first_name": "Bench"}
    return {"update_id": i + 1, "message": {"message_id": i + 1, "date": int(time.time()), "chat": chat,
                                            "from": sender, "text": f"webhook {i}"}}


BODIES = {
    "api": lambda i: {"text": f"ingest {i}", "author": "bench"},
    "telegram": telegram_update,
}


async def _client(port: int, path: str, kind: str, headers: str, deadline: float, offset: int,
                  stride: int, latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    while time.perf_counter() < deadline:
        body = json.dumps(BODIES[kind](i)).encode()
        start = time.perf_counter()
        writer.write(f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n{headers}\r\n".encode() + body)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - start)
        status = int(head.split(b" ", 2)[1])
        statuses[status] = statuses.get(status, 0) + 1
        i += stride
    writer.close()


async def _run(port: int, path: str, kind: str, headers: dict[str, str], concurrency: int,
               seconds: float, worker: int, workers: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    header_lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    deadline = time.perf_counter() + seconds
    stride = concurrency * workers
    first = worker * concurrency
    await asyncio.gather(*(
        _client(port, path, kind, header_lines, deadline, first + c, stride, latencies, statuses)
        for c in range(concurrency)))
    return {"latencies": latencies, "statuses": statuses}


def main(pipe: Connection, port: int, path: str, kind: str, headers: dict[str, str], concurrency: int,
         seconds: float, worker: int, workers: int) -> None:
    import uvloop

    uvloop.install()
    pipe.send(asyncio.run(_run(port, path, kind, headers, concurrency, seconds, worker, workers)))
