"""The database's epoch on the streams: named by every stream, renewed by a restore, and an
id from before the restore resumes where the logs part instead of skipping new events."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from server.app import STORE
from server.core.epoch import EPOCH_KEY
from server.store import backup
from server.web.keys import EPOCH
from tests.conftest import AUTH, ClientFactory, ConfigFactory
from tests.sse import events, next_event
from tests.web.test_stream import post, wait_for_screens


async def state_of(client: TestClient, query: str = "") -> tuple[dict[str, object], str]:
    async with client.get(f"/stream{query}") as stream:
        state = await next_event(stream, skip=())
        assert state.event == "state"
        return state.data, stream.headers["X-Barrage-Epoch"]


async def test_every_stream_and_the_screen_config_name_one_epoch(client: TestClient) -> None:
    state, header = await state_of(client)
    config = await (await client.get("/api/screen-config")).json()
    async with client.get("/api/stream", headers=AUTH) as admin:
        assert admin.status == 200
        admin_header = admin.headers["X-Barrage-Epoch"]
    assert state["epoch"] == header == config["epoch"] == admin_header
    assert state["epoch_start"] == 0  # a new database's epoch starts with its log


async def test_the_epoch_is_the_databases(make_client: ClientFactory, make_config: ConfigFactory) -> None:
    """Two processes on one database (and a restart) name the same epoch: it is stored."""
    config = make_config()
    first, second = await make_client(config), await make_client(config)
    assert first.app[EPOCH] == second.app[EPOCH]
    stored = await first.app[STORE].get_setting(EPOCH_KEY)
    assert stored == first.app[EPOCH].encode()
    await first.close()
    again = await make_client(config)
    assert again.app[EPOCH] == second.app[EPOCH]


@pytest.mark.parametrize("value", ["a b", "x" * 65, "é", "a.b", "a:1"])
async def test_a_malformed_epoch_is_400(client: TestClient, value: str) -> None:
    for path, headers in (("/stream", {}), ("/api/stream", AUTH)):
        resp = await client.get(path, params={"epoch": value, "last_event_id": "1"}, headers=headers)
        assert resp.status == 400, path


async def restored_wall(make_client: ClientFactory, make_config: ConfigFactory,
                        tmp_path: Path) -> tuple[TestClient, str, int, int]:
    """A wall restored to a copy of its first three barrages after it had made six: the new
    client, the epoch before the restore, the last id a screen saw before it, and the
    copy's last id."""
    config = make_config(moderation__mode="off")
    first = await make_client(config)
    for i in range(3):
        await post(first, f"kept {i}")
    backup.backup(config.database.url, tmp_path / "copy.db")
    copied = await first.app[STORE].last_event_id()
    for i in range(3):
        await post(first, f"lost {i}")
    old = first.app[EPOCH].token
    seen = await first.app[STORE].last_event_id()
    await first.close()
    backup.restore(config.database.url, tmp_path / "copy.db")
    assert seen == copied + 3
    return await make_client(config), old, seen, copied


async def test_a_restore_makes_a_new_epoch_from_the_copys_last_event(
    make_client: ClientFactory, make_config: ConfigFactory, tmp_path: Path
) -> None:
    client, old, _, copied = await restored_wall(make_client, make_config, tmp_path)
    state, header = await state_of(client)
    assert header == state["epoch"] != old
    assert state["epoch_start"] == copied


async def test_an_id_from_before_a_restore_gets_every_new_event(
    make_client: ClientFactory, make_config: ConfigFactory, tmp_path: Path
) -> None:
    """The two ids after the copy's last are handed out again after the restore: a screen
    that saw three past it in the old epoch gets both (and what follows live), not
    "nothing after the id I saw"."""
    client, old, seen, copied = await restored_wall(make_client, make_config, tmp_path)
    new_ids = [await post(client, f"new {i}") for i in range(2)]
    for path, headers in (("/stream", {}), ("/api/stream", AUTH)):
        resumed = await client.get(path, params={"epoch": old},
                                   headers={"Last-Event-ID": str(seen), **headers})
        got = await events(resumed, 2)
        assert [(m.id, m.data["text"]) for m in got] == [(f"{copied + 1}", "new 0"),
                                                         (f"{copied + 2}", "new 1")]
        assert [m.data["id"] for m in got] == new_ids
        resumed.close()
    live = await client.get("/stream", params={"epoch": old, "last_event_id": str(seen)})
    assert [m.data["text"] for m in await events(live, 2)] == ["new 0", "new 1"]
    await wait_for_screens(client, 1)
    await post(client, "later")
    assert (await next_event(live)).data["text"] == "later"
    live.close()


async def test_an_id_of_the_current_epoch_resumes_as_before(
    make_client: ClientFactory, make_config: ConfigFactory, tmp_path: Path
) -> None:
    client, _, _, copied = await restored_wall(make_client, make_config, tmp_path)
    now = client.app[EPOCH].token
    for i in range(2):
        await post(client, f"new {i}")
    resumed = await client.get("/stream", params={"epoch": now}, headers={"Last-Event-ID": str(copied + 1)})
    assert [(m.id, m.data["text"]) for m in await events(resumed, 1)] == [(str(copied + 2), "new 1")]
    resumed.close()


async def test_an_older_id_of_another_epoch_also_gets_what_both_logs_hold(
    make_client: ClientFactory, make_config: ConfigFactory, tmp_path: Path
) -> None:
    client, old, _, copied = await restored_wall(make_client, make_config, tmp_path)
    await post(client, "new")
    resumed = await client.get("/stream", params={"epoch": old}, headers={"Last-Event-ID": str(copied - 1)})
    assert [m.data["text"] for m in await events(resumed, 2)] == ["kept 2", "new"]
    resumed.close()


async def test_a_stored_epoch_edited_into_nonsense_is_made_new(
    make_client: ClientFactory, make_config: ConfigFactory
) -> None:
    config = make_config()
    first = await make_client(config)
    await first.app[STORE].put_setting(EPOCH_KEY, "not an epoch", None)
    await first.close()
    again = await make_client(config)
    assert await again.app[STORE].get_setting(EPOCH_KEY) == again.app[EPOCH].encode()
    state, _ = await state_of(again)
    assert state["epoch"] == again.app[EPOCH].token
