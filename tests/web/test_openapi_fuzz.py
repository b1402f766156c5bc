"""schemathesis against the real app on a real port: every /api operation is fed
generated requests (valid and invalid, at least EXAMPLES where its inputs allow that
many) and answers no 5xx and nothing its document does not describe: status,
content type, headers and body.

The server runs in a thread with its own event loop, since schemathesis calls it
synchronously (requests). Submissions have no rate limit here, or most answers would
be 429s; every 429 is still documented, and the limits have tests of their own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.app import create_app
from server.config import load_config
from server.web.keys import SERVICE
from server.web.openapi import document
from tests.conftest import ADMIN_TOKEN, AUTH

EXAMPLES = 50
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
# A fallback only: every answer, an event stream's first event included, comes far sooner.
REQUEST_TIMEOUT = 30.0
# /api/stream never ends: schemathesis stops reading it after its first event, which
# the wall's moderators (below) make sure comes soon, and validates that event.
CONFIG = schemathesis.Config.from_dict({"max-stream-events": 1})
# The document as the app serves it (test_openapi.py checks the served bytes are this),
# loaded at collection: no server is needed to list the operations. (from_fixture would
# load it from the running server, but does not run under pytest 9.2.)
schema = schemathesis.openapi.from_dict(document(), config=CONFIG)


class Wall:
    """The real app served on 127.0.0.1 from a thread of its own."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.runner = web.AppRunner(app)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="wall", daemon=True)

    def start(self) -> str:
        self.thread.start()
        self.run(self.runner.setup())
        self.run(web.TCPSite(self.runner, "127.0.0.1", 0).start())
        host, port = self.runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    async def moderators(self, stop: asyncio.Event) -> None:
        """Moderators at work: an event on every admin stream every 20 ms, until `stop`."""
        service = self.app[SERVICE]
        while not stop.is_set():
            await service.set_mode(service.mode.value, "fuzz moderator")
            await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
def wall_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = Path(tmp_path_factory.mktemp("fuzz")) / "barrage.db"
    config = load_config(None, env={}, overrides={
        "server": {"admin_token": ADMIN_TOKEN},
        "database": {"url": f"sqlite+aiosqlite:///{database}"},
        "moderation": {"max_per_minute": 0, "max_per_minute_per_address": 0},
    })
    wall = Wall(create_app(config))
    url = wall.start()
    stop = asyncio.Event()
    moderators = asyncio.run_coroutine_threadsafe(wall.moderators(stop), wall.loop)
    yield url
    # Ended from inside its loop and awaited: cancelling the thread-side future would not
    # wait, and the loop could close with a write still in aiosqlite's thread.
    wall.loop.call_soon_threadsafe(stop.set)
    moderators.result(timeout=30)
    wall.stop()


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_contract(case: schemathesis.Case, wall_url: str) -> None:
    # The admin token goes with every request, so admin operations get past the door
    # (schemathesis's negative cases still drop it, and get their documented 401).
    case.call_and_validate(base_url=wall_url, headers=AUTH, checks=CHECKS, timeout=REQUEST_TIMEOUT)
