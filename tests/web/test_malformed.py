"""Malformed requests are 4xx with one log line and no traceback (issue 8, findings 7-10)."""

from __future__ import annotations

import asyncio
import gzip
import logging
import zlib

import pytest
from aiohttp.test_utils import TestClient

from server.logs import LINES_PER_WINDOW
from tests.conftest import AUTH, ClientFactory


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


ENCODED = [
    ("gzip", b'{"text": "not compressed"}'),
    ("deflate", b'{"text": "not compressed"}'),
    ("gzip", gzip.compress(b'{"text": "really gzip"}', mtime=0)),
    ("deflate", zlib.compress(b'{"text": "really deflate"}')),
    ("br", b'{"text": "x"}'),
    ("gzip, identity", b'{"text": "x"}'),
    ("x-unknown", b'{"text": "x"}'),
]


@pytest.mark.parametrize(("encoding", "body"), ENCODED)
async def test_encoded_bodies_are_415_without_a_traceback(
    client: TestClient, caplog: pytest.LogCaptureFixture, encoding: str, body: bytes
) -> None:
    """The app refuses Content-Encoding on request bodies itself: aiohttp would otherwise
    decompress in its parser and log a traceback for a body that is not what it claims."""
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
    resp = await client.post("/api/barrages", data=body, headers=headers)
    assert resp.status == 415, await resp.text()
    assert "error" in await resp.json() and resp.headers["Accept-Encoding"] == "identity"
    resp = await client.put("/api/mode", data=body, headers={**headers, **AUTH})
    assert resp.status == 415
    resp = await client.post("/api/barrages/1/approve", data=body, headers={**headers, **AUTH})
    assert resp.status == 415
    assert (await client.get("/api/barrages", headers=AUTH)).status == 200  # the connection is fine
    assert (await (await client.get("/api/barrages", headers=AUTH)).json())["items"] == []
    assert tracebacks(caplog) == []


async def test_identity_encoding_is_accepted(client: TestClient) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "identity"}
    resp = await client.post("/api/barrages", data=b'{"text": "plain"}', headers=headers)
    assert resp.status == 201


async def test_a_malformed_request_logs_one_line(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    resp = await client.post("/api/barrages", data=b"{nope", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    lines = [r for r in caplog.records if r.name == "server.web.errors"]
    assert len(lines) == 1 and not lines[0].exc_info
    assert "POST /api/barrages" in lines[0].getMessage() and "400" in lines[0].getMessage()


async def test_messages_the_parser_refuses_cost_a_few_lines_a_minute(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp logs each one at ERROR with its traceback: a stranger's flood of them is
    rate-limited as our own refusals are."""
    caplog.set_level(logging.INFO)
    for _ in range(LINES_PER_WINDOW * 3):
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n")
        assert b" 400 " in await reader.readline()
        await reader.read()
        writer.close()
        await writer.wait_closed()
    lines = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert len(lines) == LINES_PER_WINDOW and sum(1 for r in lines if r.exc_info) == 1


@pytest.mark.parametrize(
    "raw", ["\u200b", "\u3164\u3164", "\u2800", "\U000e0041\U000e0042", "\ue000", "\ufeff "])
async def test_blank_text_is_400_and_a_blank_author_is_anonymous(client: TestClient, raw: str) -> None:
    resp = await client.post("/api/barrages", json={"text": raw})
    assert resp.status == 400 and "empty" in (await resp.json())["error"]
    resp = await client.post("/api/barrages", json={"text": "hi", "author": raw})
    assert resp.status == 201
    [item] = (await (await client.get("/api/barrages", headers=AUTH)).json())["items"]
    assert item["author"] == "Anonymous"


async def test_giant_clusters_are_400(client: TestClient) -> None:
    for text in ("\u1100" * 3000, "\u200d".join(["❤️"] * 2000), "👨\u200d👩\u200d👧\u200d👦" * 60):
        resp = await client.post("/api/barrages", json={"text": text})
        assert resp.status == 400, text[:10]
    assert (await (await client.get("/api/barrages", headers=AUTH)).json())["items"] == []


BIG = "2147483648"  # one past PostgreSQL's integer


@pytest.fixture(params=["sqlite", "postgres"])
async def any_db_client(request: pytest.FixtureRequest, make_client: ClientFactory) -> TestClient:
    if request.param == "sqlite":
        return await make_client()
    return await make_client(database__url=request.getfixturevalue("postgres_url"))


async def test_ids_past_the_integer_range_are_never_500(
    any_db_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = any_db_client
    for query in (f"after={BIG}", "after=9999999999", f"limit={BIG}", f"after={BIG}&limit={BIG}",
                  "after=2147483647"):
        resp = await client.get(f"/api/barrages?{query}", headers=AUTH)
        assert resp.status == 200, (query, await resp.text())
        if "after" in query:  # the shared PostgreSQL may hold other tests' rows
            assert (await resp.json())["items"] == []
    for verb in ("approve", "reject"):
        for raw in (BIG, "9999999999", "99999999999999999999", "0"):
            resp = await client.post(f"/api/barrages/{raw}/{verb}", headers=AUTH)
            assert resp.status == 404, (raw, resp.status)
    for path in ("/stream", "/api/stream"):
        for last in (BIG, "999999999999999999"):
            resp = await client.get(path, headers={**AUTH, "Last-Event-ID": last})
            assert resp.status == 200
            resp.close()
    assert tracebacks(caplog) == []
