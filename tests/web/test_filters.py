"""The filter rules over HTTP (GET/POST/DELETE /api/filters), the seed file, and each mode end
to end: what the sender is told, what /api/my/barrages says, what reaches the screen stream."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from server.config import ConfigError
from tests.conftest import AUTH, ClientFactory, ConfigFactory
from tests.sse import next_event
from tests.web.test_mine import base, http, mine, phone  # noqa: F401 (http: a fixture)
from tests.web.test_stream import wait_for_screens

RULES = [{"pattern": "cunt"}, {"pattern": "spam", "action": "review", "note": "ads"},
         {"pattern": "darn", "action": "replace"}, {"pattern": "scunthorpe", "action": "allow"},
         {"pattern": "b+a+d+w+o+r+d", "kind": "regex"}]


async def add(client: TestClient, **rule: Any) -> dict[str, Any]:
    resp = await client.post("/api/filters", json=rule, headers=AUTH)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def rules(client: TestClient) -> list[dict[str, Any]]:
    resp = await client.get("/api/filters", headers=AUTH)
    assert resp.status == 200
    return (await resp.json())["rules"]


async def submit(client: TestClient, text: str) -> dict[str, Any]:
    resp = await client.post("/api/barrages", json={"text": text})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_add_list_and_delete_rules(client: TestClient) -> None:
    assert await rules(client) == []
    added = [await add(client, **rule) for rule in RULES]
    assert added[0] == {"id": added[0]["id"], "pattern": "cunt", "kind": "word", "action": "block",
                        "note": None}
    assert added[1]["note"] == "ads" and added[4]["kind"] == "regex"
    assert await rules(client) == added
    resp = await client.delete(f"/api/filters/{added[0]['id']}", headers=AUTH)
    assert resp.status == 204
    assert await rules(client) == added[1:]
    assert (await submit(client, "c.u.n.t"))["status"] == "pending"  # deleted: no longer blocks
    resp = await client.delete(f"/api/filters/{added[0]['id']}", headers=AUTH)
    assert resp.status == 404 and "no filter rule" in (await resp.json())["error"]


async def test_the_rules_need_the_admin_token(client: TestClient) -> None:
    for method, path in (("GET", "/api/filters"), ("POST", "/api/filters"), ("DELETE", "/api/filters/1")):
        resp = await client.request(method, path, json={"pattern": "x"})
        assert resp.status == 401


BAD_RULES: list[Any] = [
    {}, {"pattern": ""}, {"pattern": "   "}, {"pattern": "..."}, {"pattern": 5}, {"pattern": None},
    {"pattern": ["x"]}, {"pattern": "x", "action": "delete"}, {"pattern": "x", "action": 1},
    {"pattern": "x", "kind": "glob"}, {"pattern": "x", "kind": ["regex"]}, {"pattern": "x", "note": 3},
    {"pattern": "(a+)+", "kind": "regex"}, {"pattern": "(a|aa)+", "kind": "regex"},
    {"pattern": "(a*)*", "kind": "regex"}, {"pattern": r"(a)\1", "kind": "regex"},
    {"pattern": "[", "kind": "regex"}, {"pattern": "x" * 201}, {"pattern": "x", "note": "n" * 201},
    {"pattern": "b\u200bad"}, {"pattern": "bad\x00"}, {"pattern": "(" * 5000, "kind": "regex"},
    {"pattern": "a{99999999999}", "kind": "regex"}, {"pattern": "x", "moderator": 5},
]
BAD_BODIES = [b"", b"not json", b"[1]", b'"x"', b"null", b"{" * 1000, b'{"pattern": "\\ud800"}']
BAD_IDS = ["abc", "-1", "1.5", "0x1", "%20", "１", "99999999999999999999999", "0", "2147483648"]


async def test_bad_rules_are_400_and_nothing_is_stored(client: TestClient) -> None:
    statuses = []
    for rule in BAD_RULES:
        resp = await client.post("/api/filters", json=rule, headers=AUTH)
        statuses.append(resp.status)
        assert "error" in await resp.json()
    for body in BAD_BODIES:
        resp = await client.post("/api/filters", data=body,
                                 headers={**AUTH, "Content-Type": "application/json"})
        statuses.append(resp.status)
    assert set(statuses) == {400}
    assert await rules(client) == []


async def test_bad_rule_ids(client: TestClient) -> None:
    statuses = {}
    for raw in BAD_IDS:
        resp = await client.delete(f"/api/filters/{raw}", headers=AUTH)
        statuses[raw] = resp.status
    assert all(status < 500 for status in statuses.values())
    assert {raw for raw, status in statuses.items() if status == 400} >= {"abc", "-1", "1.5", "0x1", "１"}
    assert statuses["0"] == statuses["2147483648"] == statuses["99999999999999999999999"] == 404


async def test_a_blocked_text_is_stored_rejected_and_its_sender_told_why(
        client: TestClient, http: aiohttp.ClientSession) -> None:  # noqa: F811
    await add(client, pattern="cunt")
    alice = await phone(http, client)
    body = {"text": "ｃ u.n\u200bt!"}
    async with http.post(f"{base(client)}/api/barrages", json=body, headers=alice) as resp:
        assert resp.status == 201
        receipt = await resp.json()
    assert receipt == {"id": receipt["id"], "status": "rejected", "reason": "blocked word", "screens": 0}
    [item] = await mine(http, base(client), alice)
    assert (item["status"], item["reason"]) == ("rejected", "blocked word")
    listed = await (await client.get("/api/barrages?status=rejected", headers=AUTH)).json()
    [stored] = listed["items"]
    assert stored["flags"] == [f"rule:{(await rules(client))[0]['id']}"] and stored["decided_by"] == "auto"
    undo = await client.post(f"/api/barrages/{receipt['id']}/undo", headers=AUTH)
    assert undo.status == 409  # decided at submission: nothing to undo


async def expect_on_screen(stream: aiohttp.ClientResponse, texts: list[str]) -> None:
    got = [(await next_event(stream)).data["text"] for _ in texts]
    assert got == texts


MODES = {
    # mode: (statuses told for blocked, review, replace, clean), what flies at once
    "off": (("rejected", "approved", "approved", "approved"), ["buy spam", "*** it", "hello"]),
    "auto": (("rejected", "pending", "approved", "approved"), ["*** it", "hello"]),
    "manual": (("rejected", "pending", "pending", "pending"), []),
}


@pytest.mark.parametrize("mode", list(MODES))
async def test_each_mode_end_to_end(make_client: ClientFactory, mode: str) -> None:
    client = await make_client(moderation__mode=mode)
    for rule in RULES:
        await add(client, **rule)
    stream = await client.get("/stream")
    await wait_for_screens(client, 1)
    receipts = [await submit(client, text) for text in ("you C.U.N.T", "buy spam", "darn it", "hello")]
    told, flying = MODES[mode]
    assert tuple(r["status"] for r in receipts) == told
    assert receipts[0]["reason"] == "blocked word"
    assert receipts[1]["reason"] == ("held for review" if mode == "auto" else None)
    pending = await (await client.get("/api/barrages?status=pending", headers=AUTH)).json()
    assert all(item["flags"] == ["rule:2"] for item in pending["items"] if item["text"] == "buy spam")
    # The last word: "the end" approved by hand (or at once) after everything else.
    last = await submit(client, "the end")
    if last["status"] == "pending":
        await client.post(f"/api/barrages/{last['id']}/approve", headers=AUTH)
    await expect_on_screen(stream, [*flying, "the end"])  # the blocked and held ones never flew
    stream.close()


async def test_links_follow_filter_links(make_client: ClientFactory) -> None:
    held = await make_client(moderation__mode="auto")
    assert await submit(held, "see www.example.com") == {
        "id": 1, "status": "pending", "reason": "held for review", "screens": 0}
    [item] = (await (await held.get("/api/barrages", headers=AUTH)).json())["items"]
    assert item["flags"] == ["link"]


async def test_links_blocked(make_client: ClientFactory, tmp_path: Path) -> None:
    blocked = await make_client(moderation__mode="off", filter__links="block")
    assert (await submit(blocked, "see example.com"))["reason"] == "link"


async def test_the_seed_file_seeds_a_new_database_once(make_client: ClientFactory, make_config: ConfigFactory,
                                                         tmp_path: Path) -> None:
    seed = tmp_path / "rules.txt"
    seed.write_text("# the party's list\ncunt\nreview:spam\nallow:scunthorpe\nre:b+a+d\n", encoding="utf-8")
    client = await make_client(filter__seed_file=str(seed), moderation__mode="auto")
    seeded = await rules(client)
    assert [(r["pattern"], r["kind"], r["action"]) for r in seeded] == [
        ("cunt", "word", "block"), ("spam", "word", "review"), ("scunthorpe", "word", "allow"),
        ("b+a+d", "regex", "block")]
    await client.delete(f"/api/filters/{seeded[0]['id']}", headers=AUTH)
    await client.close()
    again = await make_client(filter__seed_file=str(seed))  # the same database: not seeded twice
    assert [r["pattern"] for r in await rules(again)] == ["spam", "scunthorpe", "b+a+d"]
    seed.write_text("fine\nre:(a+)+\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"filter\.seed_file: .*rules\.txt, line 2: regex could backtrack"):
        make_config(filter__seed_file=str(seed))


async def test_mode_auto_over_put_mode(client: TestClient) -> None:
    resp = await client.put("/api/mode", json={"mode": "auto"}, headers=AUTH)
    assert (await resp.json())["mode"] == "auto"
    assert (await submit(client, "hello"))["status"] == "approved"


async def test_a_rule_applies_to_the_next_submission_at_once(client: TestClient) -> None:
    """This process rebuilt before answering; the `filters` event reloads every other."""
    await asyncio.gather(*(add(client, pattern=f"word{n}") for n in range(20)))
    assert len(await rules(client)) == 20
    assert (await submit(client, "W O R D 7"))["status"] == "rejected"
