"""A PostgreSQL server of a test's own, to stop and start at will (never the shared one on 5432).

    async with ScratchPostgres() as postgres:      # initdb + pg_ctl start, on a port of its own
        ...postgres.url...                          # postgresql+asyncpg://postgres@127.0.0.1:PORT/barrage
        await postgres.stop()                       # pg_ctl stop -m fast: the database goes away
        await postgres.start()                      # and comes back, same data, same port

The cluster lives in a temporary directory (data, socket, log) removed on exit. PostgreSQL
refuses to run as root, and the tests run as root here: the directory is then given to the
`postgres` user and every binary runs as that user (runuser); as anyone else they run as is.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import tempfile
from pathlib import Path

import asyncpg

from tests.bus.conftest import private_port

DATABASE = "barrage"
# pg_ctl's own bound on a start or stop (-t); ours on the whole command is a little more.
PG_CTL_SECONDS = 60
# fsync off: the data only has to survive the server's stop (even `immediate`), not the machine's.
# synchronous_commit stays on: with it off an immediate stop would lose acknowledged commits.
SERVER_SETTINGS = "-c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50 -c shared_buffers=16MB"


def bin_dir() -> Path:
    """The newest installed server's binaries (Debian keeps them off PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path is None:
        raise RuntimeError("no PostgreSQL server binaries (pg_ctl, initdb) are installed")
    return Path(on_path).parent


class ScratchPostgres:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or private_port()
        self.bin = bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="barrage-pg-"))
        self.running = False
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def admin_url(self) -> str:
        """libpq spelling, for asyncpg and a PostgreSQL bus.url."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def url(self) -> str:
        """SQLAlchemy spelling, for database.url."""
        return self.admin_url.replace("postgresql://", "postgresql+asyncpg://")

    async def __aenter__(self) -> ScratchPostgres:
        try:
            await self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                            "--no-sync", "--no-instructions")
            await self.start()
            conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
            try:
                await conn.execute(f"CREATE DATABASE {DATABASE}")
            finally:
                await conn.close()
        except BaseException:
            await self.remove()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.remove()

    async def start(self) -> None:
        """Returns once the server accepts connections (pg_ctl -w)."""
        options = f"-p {self.port} -k {self.root} {SERVER_SETTINGS}"
        await self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log),
                        "-w", "-t", str(PG_CTL_SECONDS), "start")
        self.running = True

    async def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session and checkpoints; `immediate` is a crash (recovery at start)."""
        await self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(PG_CTL_SECONDS), "stop")
        self.running = False

    async def remove(self) -> None:
        if self.running:
            await self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-5000:] if self.log.exists() else ""

    async def _run(self, program: str, *args: str) -> None:
        argv = [str(self.bin / program), *args]
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=self.root, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), PG_CTL_SECONDS + 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RuntimeError(f"{program} {args[-1]} hung:\n{self.log_text()}") from None
        if proc.returncode != 0:
            raise RuntimeError(f"{program} {args[-1]} failed ({proc.returncode}): {out.decode()}\n"
                               f"{self.log_text()}")
