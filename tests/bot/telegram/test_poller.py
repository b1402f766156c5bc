"""The poller under the bot's lease (bot/telegram/poller.py), with two apps on one SQLite
file as two nodes: one polls; a 409 Conflict makes it step down and the other take over."""

from __future__ import annotations

import time

from tests.bot.telegram.test_channel import card_for, send_text
from tests.bot.telegram.test_nodes import next_call
from tests.fakes.telegram_api import FakeTelegram


async def test_a_409_conflict_makes_the_polling_node_step_down(tg_client, fake_tg: FakeTelegram) -> None:
    nodes = {name: await tg_client("polling", telegram__api_base_url=fake_tg.client_url(name),
                                   telegram__card_sweep_seconds=0.2)
             for name in ("a", "b")}
    first = await next_call(fake_tg, "getUpdates", 0)
    other = "b" if first.client == "a" else "a"
    conflict = time.monotonic()
    fake_tg.fail("getUpdates", code=409, description="Conflict: terminated by other getUpdates request")
    takeover = await next_call(fake_tg, "getUpdates", conflict, client=other)
    await send_text(nodes[other], fake_tg, "polled by the other node")
    await card_for(fake_tg, "polled by the other node")
    late = [c for c in fake_tg.called("getUpdates") if c.started > takeover.started]
    assert {c.client for c in late} == {other}  # the one that met the 409 rests meanwhile
    assert fake_tg.overlapping() == []
