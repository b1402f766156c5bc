"""The export (CSV and JSON, streamed) and a room's digest, over real HTTP."""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp.test_utils import TestClient

from server.core.model import Source, Verdict
from server.web import reports
from server.web.keys import SERVICE
from tests.conftest import AUTH
from tests.web.test_lottery import send
from tests.web.test_rooms import make_room

FIELDS = ["id", "room", "created_at", "decided_at", "status", "reason", "author", "sender", "source",
          "text", "moderator"]


async def export(client: TestClient, query: str = "") -> tuple[Any, bytes]:
    resp = await client.get(f"/api/barrages/export{query}", headers=AUTH)
    assert resp.status == 200, await resp.text()
    return resp, await resp.read()


async def seed(client: TestClient) -> None:
    await make_room(client, slug="hall")
    await send(client, "telegram:1", "年会快乐 🎉", "小明", verdict=Verdict.APPROVE)
    await send(client, "slack:T:U2", "=HYPERLINK(\"http://evil\")", "@eve", source=Source.SLACK,
               verdict=Verdict.REJECT)
    await send(client, "web:3", "-1+2", "+plus", source=Source.WEB)
    await send(client, "telegram:4", 'a "quoted", line', "Hall guest", room="hall")


async def test_the_csv_parses_back_to_the_stored_rows(client: TestClient) -> None:
    await seed(client)
    resp, body = await export(client)
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="barrage-all-rooms-')
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8 as UTF-8
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert rows[0] == FIELDS
    items = (await (await client.get("/api/barrages", headers=AUTH)).json())["items"]
    expected = [[reports.neutralised(value) for value in (
        b["id"], b["room"], b["created_at"], b.get("decided_at"), b["status"], "", b["author"], b["sender"],
        b["source"], b["text"], b.get("decided_by"))] for b in items]
    assert rows[1:] == expected
    by_author = {row[6]: row for row in rows[1:]}
    assert by_author["小明"][9] == "年会快乐 🎉"  # CJK and emoji intact
    assert by_author["'@eve"][9] == "'=HYPERLINK(\"http://evil\")"  # formulas neutralised
    assert by_author["'+plus"][9] == "'-1+2"
    assert by_author["小明"][10] == "Mo" and by_author["'@eve"][4] == "rejected"


async def test_the_json_form_and_one_rooms_export(client: TestClient) -> None:
    await seed(client)
    resp, _ = await export(client, "?room=hall&format=json")
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert 'filename="barrage-hall-' in resp.headers["Content-Disposition"]
    items = (await resp.json())["items"]
    assert len(items) == 1 and list(items[0]) == FIELDS
    assert items[0]["text"] == 'a "quoted", line' and items[0]["reason"] == ""
    assert items[0]["status"] == "pending" and items[0]["moderator"] is None
    everything = (await (await client.get("/api/barrages/export?format=json", headers=AUTH)).json())["items"]
    # JSON is not a spreadsheet: nothing neutralised
    assert [item["author"] for item in everything] == ["小明", "@eve", "+plus", "Hall guest"]


async def test_the_export_pages_through_the_table(client: TestClient, monkeypatch: Any) -> None:
    monkeypatch.setattr(reports, "EXPORT_PAGE", 2)  # four barrages: three pages, one of them empty
    await seed(client)
    _, body = await export(client)
    assert len(list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))) == 5
    items = (await (await client.get("/api/barrages/export?format=json", headers=AUTH)).json())["items"]
    assert [item["id"] for item in items] == [1, 2, 3, 4]


async def test_export_refusals(client: TestClient) -> None:
    assert (await client.get("/api/barrages/export")).status == 401
    assert (await client.get("/api/barrages/export?format=xlsx", headers=AUTH)).status == 400
    assert (await client.get("/api/barrages/export?room=nowhere", headers=AUTH)).status == 404
    assert (await client.get("/api/rooms/nowhere/digest", headers=AUTH)).status == 404
    assert (await client.get("/api/rooms/main/digest")).status == 401


async def test_the_digest_counts(client: TestClient) -> None:
    await seed(client)
    for n in range(3):
        await send(client, "telegram:1", "same again", "小明 (renamed)" if n == 2 else "小明")
    await send(client, "web:3", "same again", "+plus", source=Source.WEB, verdict=Verdict.APPROVE)
    resp = await client.get("/api/rooms/main/digest", headers=AUTH)
    assert resp.status == 200
    digest = await resp.json()
    assert digest["room"] == "main" and digest["total"] == 7
    # The four "same again" are one ×N group (server/store/merge.py): approving one approves all.
    assert digest["by_status"] == {"pending": 1, "approved": 5, "rejected": 1, "retracted": 0, "expired": 0}
    assert digest["by_source"] == {"web": 2, "telegram": 4, "slack": 1}
    assert digest["top_senders"] == [{"author": "小明 (renamed)", "count": 4},
                                     {"author": "+plus", "count": 2}, {"author": "@eve", "count": 1}]
    assert digest["most_repeated"] == {"text": "same again", "count": 4}
    minute = digest["busiest_minute"]
    assert minute["count"] >= 4 and minute["minute"].endswith(":00Z")  # sent within a minute or two
    hall = await (await client.get("/api/rooms/hall/digest", headers=AUTH)).json()
    assert (hall["total"], hall["top_senders"]) == (1, [{"author": "Hall guest", "count": 1}])


async def test_an_empty_rooms_digest(client: TestClient) -> None:
    digest = await (await client.get("/api/rooms/main/digest", headers=AUTH)).json()
    assert digest == {"room": "main", "total": 0, "by_status": dict.fromkeys(digest["by_status"], 0),
                      "by_source": {"web": 0, "telegram": 0, "slack": 0}, "top_senders": [],
                      "busiest_minute": None, "most_repeated": None}
    assert client.app[SERVICE].rooms.exists("main")
