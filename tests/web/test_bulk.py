"""POST /api/barrages/bulk: several decisions in one request, each the same compare-and-set as a
single one (its own event), answered in the order given; bad input is a 400 that decides nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.core.model import MAX_ID
from tests.conftest import AUTH
from tests.sse import next_event


async def submit(client: TestClient, *texts: str) -> list[int]:
    ids = []
    for text in texts:
        resp = await client.post("/api/barrages", json={"text": text})
        assert resp.status == 201
        ids.append((await resp.json())["id"])
    return ids


async def bulk(client: TestClient, body: Any, status: int = 200) -> Any:
    resp = await client.post("/api/barrages/bulk", data=json.dumps(body),
                             headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status == status, await resp.text()
    return await resp.json()


async def statuses(client: TestClient) -> dict[int, str]:
    items = (await (await client.get("/api/barrages", headers=AUTH)).json())["items"]
    return {item["id"]: item["status"] for item in items}


async def test_mixed_ids_are_answered_in_the_order_given(client: TestClient) -> None:
    first, second, taken = await submit(client, "one", "two", "taken")
    resp = await client.post(f"/api/barrages/{taken}/reject", json={"moderator": "Alice"}, headers=AUTH)
    assert resp.status == 200
    admin = await client.get("/api/stream", headers={**AUTH, "Last-Event-ID": "0"})
    answer = await bulk(client, {"ids": [second, 999, taken, first], "verdict": "approve",
                                 "moderator": "Bob"})
    assert answer == {"results": [
        {"id": second, "status": "approved"},
        {"id": 999, "error": "not found"},
        {"id": taken, "error": "already rejected by Alice"},
        {"id": first, "status": "approved"},
    ]}
    # One event per decision, as a single decision writes, in the order decided.
    seen = []
    while len(seen) < 2:
        message = await next_event(admin)
        if message.event == "barrage":
            seen.append((message.data["id"], message.data["decided_by"]))
    assert seen == [(second, "Bob"), (first, "Bob")]
    admin.close()


async def test_reject_and_the_default_moderator(client: TestClient) -> None:
    [one] = await submit(client, "one")
    assert await bulk(client, {"ids": [one], "verdict": "reject"}) == {
        "results": [{"id": one, "status": "rejected"}]}
    [item] = (await (await client.get("/api/barrages?status=rejected", headers=AUTH)).json())["items"]
    assert item["decided_by"] == "web moderator"
    # The same moderator's repeat is no conflict, as for a single decision (a double click).
    assert await bulk(client, {"ids": [one], "verdict": "reject"}) == {
        "results": [{"id": one, "status": "rejected"}]}


async def test_500_ids_are_decided_and_501_are_refused_with_nothing_decided(client: TestClient) -> None:
    [one] = await submit(client, "one")
    answer = await bulk(client, {"ids": [one, *range(MAX_ID - 498, MAX_ID + 1)], "verdict": "approve"})
    assert len(answer["results"]) == 500 and answer["results"][0] == {"id": one, "status": "approved"}
    [two] = await submit(client, "two")
    refused = await bulk(client, {"ids": [two, *range(1_000_000, 1_000_500)], "verdict": "approve"}, 400)
    assert "500" in refused["error"]
    assert (await statuses(client))[two] == "pending"


A = "approve"
BAD_BODIES: list[Any] = [
    {}, {"ids": [1]}, {"verdict": A}, {"ids": [], "verdict": A},
    {"ids": [1], "verdict": "maybe"}, {"ids": [1], "verdict": "APPROVE"}, {"ids": [1], "verdict": None},
    {"ids": [1], "verdict": [A]}, {"ids": [1], "verdict": 1},
    {"ids": "1", "verdict": A}, {"ids": 1, "verdict": A}, {"ids": None, "verdict": A},
    {"ids": ["1"], "verdict": A}, {"ids": [1.0], "verdict": A}, {"ids": [True], "verdict": A},
    {"ids": [None], "verdict": A}, {"ids": [[1]], "verdict": A}, {"ids": [{"id": 1}], "verdict": A},
    {"ids": [1, 1], "verdict": A}, {"ids": {"0": 1}, "verdict": A},
    {"ids": [1], "verdict": A, "moderator": 7}, {"ids": [1], "verdict": A, "moderator": ["x"]},
    [1, 2], A, 3, None,
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_bad_input_is_400_and_decides_nothing(client: TestClient, body: Any) -> None:
    await submit(client, "id 1, named by the bodies")
    [good] = await submit(client, "a good id in front")
    if isinstance(body, dict) and isinstance(body.get("ids"), list) and body["ids"]:
        body = {**body, "ids": [good, *body["ids"]]}
    answer = await bulk(client, body, 400)
    assert set(answer) == {"error"}
    assert set((await statuses(client)).values()) == {"pending"}


RAW_BODIES = [b"", b"{", b"[", b'{"ids": [1], "verdict": "approve"', b"\xff\xfe",
              b'{"ids": [1e999], "verdict": "approve"}',
              b'{"ids": [' + b"9" * 5000 + b'], "verdict": "approve"}', b"[" * 10000]


@pytest.mark.parametrize("raw", RAW_BODIES)
async def test_malformed_bodies_are_4xx_never_5xx(client: TestClient, raw: bytes) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    resp = await client.post("/api/barrages/bulk", data=raw, headers=headers)
    assert 400 <= resp.status < 500, await resp.text()


async def test_huge_integers_are_not_found_not_a_crash(client: TestClient) -> None:
    answer = await bulk(client, {"ids": [0, -1, MAX_ID + 1, 10**30], "verdict": "reject"})
    assert [r["error"] for r in answer["results"]] == ["not found"] * 4


async def test_the_admin_token_is_required(client: TestClient) -> None:
    [one] = await submit(client, "one")
    resp = await client.post("/api/barrages/bulk", json={"ids": [one], "verdict": "approve"})
    assert resp.status == 401
    assert (await statuses(client))[one] == "pending"
