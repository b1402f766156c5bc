"""The bare baseline: the least an aiohttp SSE broadcaster can do.

No database, no event log, no replay: POST /publish encodes the event once
and writes the same bytes straight to every open stream. Run with
`python -m bench.baseline PORT`.

The persisting baseline (issue 14), `python -m bench.baseline PORT --persist FILE`: the same,
plus one raw `sqlite3` insert and commit per submission, made before publishing and before
the 201 (WAL, `synchronous=NORMAL`, as `barrage serve` runs SQLite). It is the physical limit
of "persist, then publish" on this stack: no ORM, no thread hop, no group commit.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time

from aiohttp import web

streams: set[tuple[asyncio.Transport, asyncio.Future[None]]] = set()
counter = 0
database: sqlite3.Connection | None = None  # --persist


def open_database(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT below
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS barrage (id INTEGER PRIMARY KEY, text TEXT NOT NULL, "
                 "created_at REAL NOT NULL)")
    return conn


def persist(text: str) -> int:
    """One insert and its commit, on the loop's thread: the least a durable submission costs."""
    assert database is not None
    database.execute("BEGIN")
    row = database.execute("INSERT INTO barrage (text, created_at) VALUES (?, ?)", (text, time.time()))
    database.execute("COMMIT")
    return int(row.lastrowid or 0)


async def stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b": hi\n\n")  # flushes the headers; later chunks go to the transport
    entry = (request.transport, asyncio.get_running_loop().create_future())
    streams.add(entry)
    await entry[1]
    return response


async def publish(request: web.Request) -> web.Response:
    global counter
    body = await request.json()
    counter = persist(body["text"]) if database is not None else counter + 1
    data = json.dumps({"id": counter, "text": body["text"]}, separators=(",", ":"))
    event = f"id: {counter}\nevent: barrage\ndata: {data}\n\n".encode()
    chunk = b"%x\r\n%b\r\n" % (len(event), event)
    for transport, done in tuple(streams):
        if transport.is_closing():
            streams.discard((transport, done))
            done.set_result(None)
        else:
            transport.write(chunk)
    return web.json_response({"id": counter}, status=201)


async def count(_request: web.Request) -> web.Response:
    return web.json_response({"screens": len(streams)})


async def end_streams(_app: web.Application) -> None:
    for _transport, done in streams:
        if not done.done():
            done.set_result(None)


app = web.Application()
app.on_shutdown.append(end_streams)
app.router.add_get("/stream", stream)
app.router.add_post("/publish", publish)
app.router.add_get("/count", count)

if __name__ == "__main__":
    import uvloop  # the same event loop as `barrage serve`: compare like with like

    uvloop.install()
    if len(sys.argv) > 3 and sys.argv[2] == "--persist":
        database = open_database(sys.argv[3])
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), backlog=4096, access_log=None, print=None,
                shutdown_timeout=1)
