"""`barrage db backup` and `barrage db restore`, the real commands against a real `barrage
serve` that keeps taking submissions while it is backed up."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiohttp

from tests.server_process import AUTH, ServerProcess
from tests.test_cli import run_cli

SUBMITTERS = 3
BEFORE_BACKUP = 60  # acknowledged before the backup begins, at least


def busy_wall(tmp_path: Path) -> ServerProcess:
    return ServerProcess(tmp_path / "wall", env={
        "BARRAGE_MODERATION_MODE": "off",
        "BARRAGE_MODERATION_MAX_PER_MINUTE": "0",
        "BARRAGE_MODERATION_MAX_PER_MINUTE_PER_ADDRESS": "0",
    })


async def db(server: ServerProcess, *args: str) -> tuple[int, str, str]:
    proc = await run_cli("db", *args, env=server.environment(), cwd=server.workdir)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


class Acks:
    """The ids answered 201, in the order the answers came."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self._more = asyncio.Event()

    def add(self, barrage_id: int) -> None:
        self.ids.append(barrage_id)
        self._more.set()

    async def reach(self, count: int) -> None:
        while len(self.ids) < count:
            self._more.clear()
            await self._more.wait()


async def submit_until(server: ServerProcess, name: str, acked: Acks, stop: asyncio.Event) -> None:
    """Post one text after another; every 201's id goes into `acked` as it is answered."""
    async with aiohttp.ClientSession() as http:
        count = 0
        while not stop.is_set():
            count += 1
            async with http.post(f"{server.url}/api/barrages", json={"text": f"{name} {count}"}) as resp:
                assert resp.status == 201, await resp.text()
                acked.add((await resp.json())["id"])


async def stored_ids(server: ServerProcess) -> set[int]:
    found: set[int] = set()
    async with aiohttp.ClientSession(headers=AUTH) as http:
        after = 0
        while True:
            async with http.get(f"{server.url}/api/barrages", params={"after": after}) as resp:
                items = (await resp.json())["items"]
            if not items:
                return found
            found |= {item["id"] for item in items}
            after = max(item["id"] for item in items)


async def test_a_backup_under_load_restores_every_barrage_acknowledged_before_it(tmp_path: Path) -> None:
    server = busy_wall(tmp_path)
    await server.start()
    acked = Acks()
    stop = asyncio.Event()
    submitters = [asyncio.create_task(submit_until(server, f"s{n}", acked, stop)) for n in range(SUBMITTERS)]
    try:
        await acked.reach(BEFORE_BACKUP)
        before = set(acked.ids)  # each of these was answered 201 before the backup began
        code, out, err = await db(server, "backup", str(tmp_path / "copy.db"))
        assert code == 0, err
        assert out.startswith(f"backed up to {tmp_path / 'copy.db'}: revision ")
        await acked.reach(len(acked.ids) + 10)  # the server takes submissions on after the copy
    finally:
        stop.set()
        await asyncio.gather(*submitters)
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        copied = {row[0] for row in copy.execute("SELECT id FROM barrage")}
    assert before <= copied
    assert await server.stop() == 0
    code, out, err = await db(server, "restore", str(tmp_path / "copy.db"))
    assert code == 0, err
    assert "the database it replaced is kept as" in out
    await server.start()
    try:
        present = await stored_ids(server)
        assert before <= present and present == copied
        assert len(set(acked.ids) - present) >= 10  # what came after the copy is gone, as restored
    finally:
        await server.stop()


async def test_a_restore_is_refused_while_the_server_runs_and_a_backup_never_overwrites(
    tmp_path: Path
) -> None:
    server = busy_wall(tmp_path)
    target = tmp_path / "copy.db"
    target.write_text("yesterday's")
    await server.start()
    try:
        await server.submit("kept")
        code, out, err = await db(server, "backup", str(target))
        assert (code, out, err) == (2, "", f"barrage: {target} exists: pass --force to overwrite it\n")
        assert target.read_text() == "yesterday's"
        code, _, err = await db(server, "backup", str(target), "--force")
        assert code == 0, err
        code, out, err = await db(server, "restore", str(target))
        assert (code, out) == (2, "")
        assert err == (f"barrage: a barrage server is using {server.workdir / 'barrage.db'}: "
                       "stop every `barrage serve` on it, then restore\n")
        await server.submit("still serving")
    finally:
        assert await server.stop() == 0
    code, _, err = await db(server, "restore", str(target))
    assert code == 0, err


async def test_postgresql_is_backed_up_with_pg_dump(tmp_path: Path, postgres_url: str) -> None:
    server = ServerProcess(tmp_path, env={"BARRAGE_DATABASE_URL": postgres_url})
    copy = str(tmp_path / "copy.db")
    (tmp_path / "copy.db").write_bytes(b"")
    for args in (("backup", copy, "--force"), ("restore", copy)):
        code, out, err = await db(server, *args)
        assert (code, out) == (2, ""), err
        assert err.startswith("barrage: database.url is PostgreSQL: back it up with pg_dump")
        assert "Traceback" not in err and err.count("\n") == 1
