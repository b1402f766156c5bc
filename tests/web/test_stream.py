"""GET /stream and /api/stream with real HTTP clients reading real SSE."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sqlite3

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.config import ConfigError
from server.web.fanout import Audience
from server.web.keys import CONFIG, FANOUT, VIEWS
from tests.conftest import AUTH, ClientFactory, ConfigFactory
from tests.sse import events, next_block, next_event


async def post(client: TestClient, text: str, **extra: object) -> int:
    resp = await client.post("/api/barrages", json={"text": text, **extra})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["id"]


async def wait_for_screens(client: TestClient, count: int) -> None:
    fanout = client.app[FANOUT]
    for _ in range(500):
        if fanout.count(Audience.SCREEN) == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} screens, have {fanout.count(Audience.SCREEN)}")


async def test_event_format_and_headers(open_client: TestClient) -> None:
    stream = await open_client.get("/stream", headers={"Accept-Encoding": "gzip, br"})
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    assert stream.headers["X-Accel-Buffering"] == "no"
    assert "no-cache" in stream.headers["Cache-Control"]
    assert "Content-Encoding" not in stream.headers
    first = await next_block(stream)
    assert 2000 <= first.retry <= 3000
    await wait_for_screens(open_client, 1)
    bid = await post(open_client, "héllo <b>", author="Ann", color="#0F0", size="small")
    message = await next_event(stream)
    assert message.event == "barrage" and int(message.id) > 0
    assert message.data == {
        "id": bid, "text": "héllo <b>", "author": "Ann", "color": "#00ff00", "size": "small",
        "source": "web", "created_at": message.data["created_at"], "room": "main", "count": 1,
    }
    stream.close()


async def test_only_approved_barrages_reach_the_screen(client: TestClient) -> None:
    stream = await client.get("/stream")
    await wait_for_screens(client, 1)
    rejected = await post(client, "no")
    approved = await post(client, "yes")
    await client.post(f"/api/barrages/{rejected}/reject", headers=AUTH)
    await client.post(f"/api/barrages/{approved}/approve", headers=AUTH)
    message = await next_event(stream)
    assert message.data["id"] == approved and "decided_by" not in message.data
    stream.close()


async def test_no_last_event_id_starts_live(open_client: TestClient) -> None:
    await post(open_client, "old")
    stream = await open_client.get("/stream")
    await wait_for_screens(open_client, 1)
    await post(open_client, "new")
    assert (await next_event(stream)).data["text"] == "new"
    stream.close()


@pytest.mark.parametrize("how", ["header", "query"])
async def test_replay_after_last_event_id(open_client: TestClient, how: str) -> None:
    live = await open_client.get("/stream")
    await wait_for_screens(open_client, 1)
    for text in ("one", "two", "three"):
        await post(open_client, text)
    seen = await events(live, 3)
    first_id = seen[0].id
    if how == "header":
        replay = await open_client.get("/stream", headers={"Last-Event-ID": first_id})
    else:
        replay = await open_client.get(f"/stream?last_event_id={first_id}")
    got = await events(replay, 2)
    assert [m.data["text"] for m in got] == ["two", "three"]
    assert [m.id for m in got] == [seen[1].id, seen[2].id]
    live.close()
    replay.close()


async def test_replay_live_handover_loses_and_doubles_nothing(open_client: TestClient) -> None:
    """Resume mid-burst, many times: every stream gets each later event exactly once, in order."""
    watcher = await open_client.get("/stream")
    await wait_for_screens(open_client, 1)
    total = 120
    producer = asyncio.gather(*(post(open_client, f"m{i}") for i in range(total)))
    all_ids = [int(m.id) for m in await events(watcher, 10)]
    resumers = []
    for _ in range(6):  # reconnect at different points while the burst is running
        resume = await open_client.get("/stream", headers={"Last-Event-ID": str(all_ids[-1])})
        resumers.append((all_ids[-1], resume))
        all_ids += [int(m.id) for m in await events(watcher, 5)]
    await producer
    all_ids += [int(m.id) for m in await events(watcher, total - len(all_ids))]
    assert all_ids == sorted(set(all_ids)) and len(all_ids) == total
    for after, stream in resumers:
        expected = [i for i in all_ids if i > after]
        got = [int(m.id) for m in await events(stream, len(expected))]
        assert got == expected
        stream.close()
    watcher.close()


async def test_heartbeat(make_client: ClientFactory) -> None:
    client = await make_client(stream__heartbeat_seconds=0.2)
    stream = await client.get("/stream")
    await next_block(stream)  # retry + connected
    assert (await next_block(stream)).event == "state"
    beat = await next_block(stream, timeout=5)
    assert beat.comments == ["ping"] and not beat.is_event
    stream.close()


async def skip_state(stream: aiohttp.ClientResponse, path: str) -> None:
    """A screen's stream opens with its room's `state` (no id); the moderators' does not."""
    if path == "/stream":
        assert (await next_block(stream)).event == "state"


@pytest.mark.parametrize("path", ["/stream", "/api/stream"])
async def test_heartbeats_stay_comments_unless_asked_for(make_client: ClientFactory, path: str) -> None:
    client = await make_client(stream__heartbeat_seconds=0.1)
    stream = await client.get(path, headers=AUTH)
    await next_block(stream)  # retry + connected
    await skip_state(stream, path)
    for _ in range(2):
        beat = await next_block(stream)
        assert beat.comments == ["ping"] and not beat.is_event
    stream.close()


@pytest.mark.parametrize("path", ["/stream", "/api/stream"])
async def test_heartbeat_events_when_asked_for(make_client: ClientFactory, path: str) -> None:
    """`event: heartbeat` with an empty data line (EventSource dispatches nothing without
    one) and no `id:`, so a browser's Last-Event-ID stays the last real event's."""
    client = await make_client(stream__heartbeat_seconds=0.1, moderation__mode="off")
    stream = await client.get(f"{path}?heartbeat=event", headers=AUTH)
    await next_block(stream)
    await skip_state(stream, path)
    first = await next_block(stream)  # a heartbeat: it comes only once the stream is live
    assert first.event == "heartbeat" and first.data_lines == [""] and first.id is None
    assert first.comments == []
    bid = await post(client, "between beats")
    while (message := await next_block(stream)).event == "heartbeat":
        assert message.id is None
    assert message.event == "barrage" and message.data["id"] == bid
    raw = await stream.content.readuntil(b"\n\n")
    assert raw == b"event: heartbeat\ndata: \n\n"  # the frame, byte for byte
    stream.close()


async def test_heartbeat_events_resume_like_comments(make_client: ClientFactory) -> None:
    """Replay first, then heartbeats: the opt-in changes nothing else."""
    client = await make_client(stream__heartbeat_seconds=0.1, moderation__mode="off")
    await post(client, "one")
    await post(client, "two")
    # Event 1 is main's `room` event (written at start), 2 is "one": resume after it.
    stream = await client.get("/stream?heartbeat=event&last_event_id=2")
    await next_block(stream)
    replayed = await next_event(stream)  # after the `state` block
    assert (replayed.id, replayed.event, replayed.data["text"]) == ("3", "barrage", "two")
    beat = await next_block(stream)
    assert beat.event == "heartbeat" and beat.id is None
    stream.close()


@pytest.mark.parametrize("value", ["", "events", "EVENT", "1"])
async def test_an_unknown_heartbeat_kind_is_400(client: TestClient, value: str) -> None:
    resp = await client.get(f"/stream?heartbeat={value}")
    assert resp.status == 400 and "heartbeat" in (await resp.json())["error"]


async def test_heartbeat_comment_is_the_default_spelled_out(make_client: ClientFactory) -> None:
    client = await make_client(stream__heartbeat_seconds=0.1)
    stream = await client.get("/stream?heartbeat=comment")
    await next_block(stream)
    await skip_state(stream, "/stream")
    assert (await next_block(stream)).comments == ["ping"]
    stream.close()


async def test_bad_last_event_id_is_400(client: TestClient) -> None:
    for value in ("abc", "-1", "1.5", "9" * 40):
        resp = await client.get("/stream", headers={"Last-Event-ID": value})
        assert resp.status == 400 and "error" in await resp.json()


async def test_last_event_id_beyond_the_log_starts_live(open_client: TestClient) -> None:
    await post(open_client, "before")
    stream = await open_client.get("/stream?last_event_id=999999")
    await wait_for_screens(open_client, 1)
    await post(open_client, "after")
    assert (await next_event(stream)).data["text"] == "after"
    stream.close()


async def test_an_event_committed_while_a_resume_beyond_the_log_reads_its_end_is_delivered(
    open_client: TestClient,
) -> None:
    """The stream is attached before the log's end is read: an event that commits in between
    is held for it, and the end it reads must not pass over it (it resumes from where the
    fan-out stood when it attached)."""
    views = open_client.app[VIEWS]
    reading, go = asyncio.Event(), asyncio.Event()
    real_end = views.last_event_id

    async def end_read_late() -> int:
        reading.set()
        await go.wait()
        return await real_end()

    views.last_event_id = end_read_late  # the real read, only later
    await post(open_client, "before")
    stream = await open_client.get("/stream?last_event_id=999999")
    await reading.wait()
    await post(open_client, "after")
    go.set()
    assert (await next_event(stream)).data["text"] == "after"
    stream.close()


async def test_admin_stream_needs_token_and_sees_everything(client: TestClient) -> None:
    assert (await client.get("/api/stream")).status == 401
    stream = await client.get("/api/stream", headers=AUTH)
    for _ in range(500):
        if client.app[FANOUT].count(Audience.ADMIN) == 1:
            break
        await asyncio.sleep(0.01)
    bid = await post(client, "check me")
    pending = await next_event(stream)
    assert pending.event == "pending" and pending.data["id"] == bid
    await client.post(f"/api/barrages/{bid}/reject", json={"moderator": "Bo"}, headers=AUTH)
    rejected = await next_event(stream)
    assert rejected.event == "rejected" and rejected.data["decided_by"] == "Bo"
    await client.put("/api/mode", json={"mode": "off"}, headers=AUTH)
    assert (await next_event(stream)).data["mode"] == "off"
    stream.close()


def stalled_stream(client: TestClient) -> socket.socket:
    """A screen that asks for /stream with a small receive buffer and never reads again."""
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect((client.host, client.port))
    stalled.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    return stalled


async def test_stalled_client_is_dropped_and_others_get_everything(make_client: ClientFactory) -> None:
    client = await make_client(
        moderation__mode="off", moderation__max_text_length=1000, stream__max_buffer_bytes=1024
    )
    reader = await client.get("/stream")
    await next_block(reader)
    stalled = stalled_stream(client)
    await wait_for_screens(client, 2)
    count = 150
    for i in range(count):
        await post(client, f"{i:04d}" + "字" * 900)
    got = await events(reader, count)
    assert [m.data["text"][:4] for m in got] == [f"{i:04d}" for i in range(count)]
    await wait_for_screens(client, 1)
    assert client.app[FANOUT].dropped == 1
    stalled.close()
    reader.close()


async def test_shutdown_closes_every_stream(make_config: ConfigFactory) -> None:
    server = TestServer(create_app(make_config()))
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        streams = [await session.get(server.make_url("/stream")) for _ in range(50)]
        for stream in streams:
            await next_block(stream)
            await next_block(stream)  # state
        await server.close()
        for stream in streams:
            with pytest.raises((EOFError, aiohttp.ClientPayloadError)):
                await next_block(stream, timeout=10)


async def read_chunked_body(reader: asyncio.StreamReader) -> list[bytes]:
    """HTTP/1.1 chunks up to and including the terminating `0\\r\\n\\r\\n`; EOF before it fails."""
    chunks = []
    while (chunk := await read_chunk(reader)) is not None:
        chunks.append(chunk)
    return chunks


async def read_chunks_until(reader: asyncio.StreamReader, needle: bytes) -> list[bytes]:
    """Whole chunks up to the first that holds `needle`."""
    chunks: list[bytes] = []
    while not chunks or needle not in chunks[-1]:
        chunk = await read_chunk(reader)
        assert chunk is not None, f"the response ended before {needle!r}"
        chunks.append(chunk)
    return chunks


async def read_chunk(reader: asyncio.StreamReader) -> bytes | None:
    """One HTTP/1.1 chunk's data; None for the terminating one."""
    size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
    chunk = await reader.readexactly(size + 2)
    assert chunk.endswith(b"\r\n"), chunk
    return chunk[:-2] if size else None


async def raw_stream(server: TestServer, last_event_id: int | None = None
                     ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
    writer.write(f"GET /stream HTTP/1.1\r\nHost: wall\r\n{resume}\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower(), head
    return reader, writer


async def test_shutdown_ends_each_stream_with_a_complete_chunked_response(
    make_config: ConfigFactory
) -> None:
    """A client must see the end of the response (then it reconnects), not a broken one."""
    server = TestServer(create_app(make_config(moderation__mode="off")), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        post_url = server.make_url("/api/barrages")
        async with http.post(post_url, json={"text": "before"}) as resp:
            assert resp.status == 201
        live, resumed = await raw_stream(server), await raw_stream(server, last_event_id=0)
        writers = [live[1], resumed[1]]
        for _ in range(500):
            if server.app[FANOUT].count(Audience.SCREEN) == 2:
                break
            await asyncio.sleep(0.01)
        # Its replay done (it reads the log: a start-up event is older than the history),
        # or the shutdown below could end it first.
        replayed = await asyncio.wait_for(read_chunks_until(resumed[0], b"before"), 10)
        async with http.post(post_url, json={"text": "live"}) as resp:
            assert resp.status == 201
    closing = asyncio.create_task(server.close())
    try:
        for (reader, _), early, texts in ((live, [], [b"live"]), (resumed, replayed, [b"before", b"live"])):
            body = b"".join(early + await asyncio.wait_for(read_chunked_body(reader), 10))
            assert body.startswith(b"retry: ") and [t for t in texts if t in body] == texts
            assert await reader.read() == b""  # and then the connection ends
    finally:
        await closing
        for writer in writers:
            writer.close()


async def test_replay_after_a_restart_reads_the_log(
    make_client: ClientFactory, make_config: ConfigFactory
) -> None:
    """A fresh process holds no history: an older Last-Event-ID is served from the database."""
    config = make_config(moderation__mode="off")
    first = await make_client(config)
    ids = [await post(first, f"before {i}") for i in range(3)]
    await first.close()
    second = await make_client(config)
    live = await second.get("/stream")
    await wait_for_screens(second, 1)
    await post(second, "after")
    latest = (await next_event(live)).id
    replay = await second.get("/stream", headers={"Last-Event-ID": "0"})
    got = await events(replay, 4)
    assert [m.data["id"] for m in got[:3]] == ids and got[3].id == latest
    live.close()
    replay.close()


async def refused_stream(client: TestClient, path: str = "/stream", **headers: str) -> None:
    resp = await client.get(path, headers=headers)
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "30"
    assert resp.headers["Connection"] == "close"  # a refused retry holds no descriptor
    assert "streams" in (await resp.json())["error"]


async def test_streams_from_one_address_are_capped(make_client: ClientFactory) -> None:
    client = await make_client(stream__max_per_address=2, stream__heartbeat_seconds=0.1)
    first, second = await client.get("/stream"), await client.get("/stream")
    await wait_for_screens(client, 2)
    await refused_stream(client)
    await refused_stream(client, "/api/stream", **AUTH)  # moderators' streams count too
    first.close()
    await wait_for_screens(client, 1)  # the heartbeat finds the closed one: its slot is free
    third = await client.get("/stream")
    assert third.status == 200
    second.close()
    third.close()


async def test_an_ipv6_client_is_one_address_across_its_64(make_client: ClientFactory) -> None:
    client = await make_client(stream__max_per_address=1, server__forwarded_hops=1)
    first = await client.get("/stream", headers={"X-Forwarded-For": "2001:db8:1:2::1"})
    await wait_for_screens(client, 1)
    await refused_stream(client, **{"X-Forwarded-For": "2001:db8:1:2:ffff::9"})
    other = await client.get("/stream", headers={"X-Forwarded-For": "2001:db8:1:3::1"})
    assert other.status == 200
    first.close()
    other.close()


async def test_streams_in_all_are_capped(make_client: ClientFactory) -> None:
    client = await make_client(stream__max_streams=2, server__forwarded_hops=1)
    streams = [await client.get("/stream", headers={"X-Forwarded-For": f"198.51.100.{i}"})
               for i in (1, 2)]
    await wait_for_screens(client, 2)
    await refused_stream(client, **{"X-Forwarded-For": "198.51.100.3"})
    for stream in streams:
        stream.close()


@pytest.mark.parametrize("key", ["max_per_address", "max_streams"])
def test_stream_caps_must_be_at_least_one(make_config: ConfigFactory, key: str) -> None:
    with pytest.raises(ConfigError, match=f"stream.{key}"):
        make_config(**{f"stream__{key}": 0})


async def test_a_replay_nobody_reads_is_dropped_after_two_heartbeats(make_client: ClientFactory) -> None:
    client = await make_client(moderation__mode="off", moderation__max_text_length=1000,
                               stream__heartbeat_seconds=0.2)
    for i in range(100):  # far more than the kernel's buffers on both ends
        await post(client, f"{i:04d}" + "字" * 900)
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect((client.host, client.port))
    stalled.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 0\r\n\r\n")
    await wait_for_screens(client, 1)
    await wait_for_screens(client, 0)  # no new event came: the stall itself ended it
    assert client.app[FANOUT].dropped == 1
    stalled.close()


async def test_a_replay_in_many_slices_hands_over_to_live_exactly_once(make_client: ClientFactory) -> None:
    client = await make_client(moderation__mode="off", stream__max_buffer_bytes=1024)
    before = [await post(client, f"old {i} " + "x" * 60) for i in range(300)]
    resumed = await client.get("/stream", headers={"Last-Event-ID": "0"})
    during = asyncio.gather(*(post(client, f"new {i}") for i in range(100)))
    got = [m.data["id"] for m in await events(resumed, 400, timeout=30)]
    assert got == before + sorted(await during)
    resumed.close()


def add_events(client: TestClient, payloads: list[str]) -> None:
    """Rows straight into the event log's file, as another process (or a bad migration) might.
    Run it in a thread: the app shares the test's event loop and must stay free to commit."""
    database = client.app[CONFIG].database.url.removeprefix("sqlite+aiosqlite:///")
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as db, db:
        db.executemany("INSERT INTO event (kind, barrage_id, payload, created_at) VALUES "
                       "('mode', NULL, ?, '2026-01-01 00:00:00.000000')", [(p,) for p in payloads])


async def wait_for_admin_streams(client: TestClient, count: int) -> None:
    for _ in range(1000):
        if client.app[FANOUT].count(Audience.ADMIN) == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} admin streams")


async def test_a_bug_during_replay_is_logged_not_taken_for_a_client_leaving(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A RuntimeError (here a RecursionError from a row nested too deep to decode) is a bug
    to see in the log; only the connection errors of a client going away are quiet."""
    await asyncio.to_thread(add_events, client, ["[" * 100_000 + "]" * 100_000])
    stream = await client.get("/api/stream", headers={**AUTH, "Last-Event-ID": "0"})
    with pytest.raises(EOFError):  # the stream ends, so the client retries
        while True:
            await next_block(stream)
    assert any(r.getMessage().startswith("replay failed") and r.exc_info
               and isinstance(r.exc_info[1], RecursionError) for r in caplog.records)


async def test_a_client_leaving_mid_replay_is_not_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    big = ['{"mode": "off", "note": "%s"}' % ("x" * 1000)] * 20_000  # ~20 MB to replay
    await asyncio.to_thread(add_events, client, big)
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(f"GET /api/stream HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH['Authorization']}\r\n"
                 "Last-Event-ID: 0\r\n\r\n".encode())
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    await wait_for_admin_streams(client, 1)
    writer.transport.abort()  # mid-replay: the kernel buffers hold far less than 20 MB
    await wait_for_admin_streams(client, 0)  # the handler has ended
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info] == []
