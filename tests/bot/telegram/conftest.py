from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import TELEGRAM
from tests.conftest import ClientFactory
from tests.fakes.telegram_api import FakeTelegram

TOKEN = "123456:TEST-token"
SECRET = "hook-secret_1"
MOD_CHAT = -100777
MODERATOR = 42


@pytest.fixture
async def fake_tg() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def tg_client(fake_tg: FakeTelegram, make_client: ClientFactory):  # fake first: it must outlive the app
    """The real app with Telegram on, talking to the fake; webhook mode unless told."""

    async def factory(mode: str = "webhook", **overrides: Any) -> TestClient:
        settings = {
            "telegram__enabled": True, "telegram__token": TOKEN, "telegram__mode": mode,
            "telegram__webhook_secret": SECRET, "telegram__api_base_url": fake_tg.base_url,
            "telegram__moderator_chat_id": MOD_CHAT, "telegram__moderators": [MODERATOR],
            "telegram__poll_timeout_seconds": 1, "server__public_url": "https://wall.example.org",
            **overrides,
        }
        client = await make_client(**settings)
        client.fake_tg = fake_tg  # type: ignore[attr-defined]  # polling tests deliver through it
        await client.app[TELEGRAM].ready.wait()
        client.app[TELEGRAM].cards.notice_hold = 0  # undo tests set it back
        return client

    return factory
