"""A full disk, for real: the SQLite file on a small tmpfs, filled to the last block.

Senders get 503 with a clear JSON error, /healthz says the database is not
writable (and turns back to ok by itself once there is room), and thousands of
failures leave a few log lines, not megabytes of tracebacks. Needs root (mount),
as `make test` and CI have here; elsewhere it fails saying so rather than check nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import AUTH, ClientFactory

FAILURES = 5000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (run as root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 65536)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 512)
    finally:
        os.close(fd)


async def health(client: TestClient) -> dict:
    resp = await client.get("/healthz")
    assert resp.status == 200  # liveness: the wall still serves
    return await resp.json()


async def test_a_full_disk_is_503_and_reported_and_recovers(
    small_disk: Path, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client = await make_client(database__url=f"sqlite+aiosqlite:///{small_disk / 'wall.db'}",
                              moderation__max_per_minute_per_address=0)
    assert (await client.post("/api/barrages", json={"text": "before"})).status == 201
    assert (await health(client))["database"] == "ok"

    fill(small_disk / "ballast")
    statuses: list[int] = []
    for start in range(0, FAILURES, 100):
        replies = await asyncio.gather(*(
            client.post("/api/barrages", json={"text": f"while full {i} " + "x" * 80})
            for i in range(start, start + 100)))
        statuses += [r.status for r in replies]
        last = replies[-1]
    assert set(statuses) == {503}
    body = await last.json()
    assert "try again" in body["error"] and last.headers["Retry-After"].isdigit()
    assert (await health(client))["database"] == "not writable"
    assert [i["text"] for i in (await (await client.get("/api/barrages", headers=AUTH)).json())["items"]] == [
        "before"]  # nothing half-stored

    ours = [logging.Formatter().format(r) for r in caplog.records if r.name != "aiohttp.access"]
    assert len("\n".join(ours)) < 20_000, f"{len(ours)} lines, {len(''.join(ours))} bytes"
    assert not any("Traceback" in line for line in ours)

    (small_disk / "ballast").unlink()
    for _ in range(100):  # the health check retries by itself about once a second
        if (await health(client))["database"] == "ok":
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the database never became writable again")
    assert (await client.post("/api/barrages", json={"text": "after"})).status == 201
