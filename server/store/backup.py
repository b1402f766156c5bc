"""`barrage db backup` and `barrage db restore` for a SQLite database, and the lock that
tells a restore a server is using the database.

- Backup: SQLite's online backup API, in one step: one read transaction, so the copy is
  the database as of one commit while the server goes on writing (WAL readers never
  block writers). Written beside the target, synced, then moved into place.
- In use: every `barrage serve` holds a shared `flock` on `<database>.serve-lock` for its
  lifetime (the kernel drops it when the process dies, however it dies). A restore
  takes it exclusively, without waiting: taken, no server is running; refused, one is.
  A server starting during a restore waits for it.
- Restore: the copy is checked (a SQLite database, barrage's tables, a schema revision
  this version knows, `PRAGMA integrity_check`), copied beside the database with a new
  epoch (server/core/epoch.py), synced, and renamed over it: an interrupted restore
  leaves the old database or the new one, never half of one. The old one's WAL is
  checkpointed first, so no stale `-wal` is applied to the new file, and the old
  database is kept as `<database>.before-restore`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from server.core.epoch import EPOCH_KEY, Epoch
from server.store import schema
from server.store.schema import database_file

logger = logging.getLogger(__name__)

LOCK_POLL_SECONDS = 0.05
TABLES = {"alembic_version", "barrage", "event", "setting"}


class BackupError(Exception):
    """A backup or restore refused; the message says why and what to do."""


@dataclass(frozen=True)
class Copy:
    """What a backup wrote or a restore put in place."""

    path: Path
    revision: str
    barrages: int
    last_event_id: int
    epoch: str

    def describe(self) -> str:
        return (f"revision {self.revision}, {self.barrages} barrages, event log to id "
                f"{self.last_event_id}, epoch {self.epoch}")


def sqlite_file(url: str) -> Path:
    """The SQLite file to back up or restore, or BackupError saying which tool to use."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        raise BackupError("database.url is PostgreSQL: back it up with pg_dump "
                          "(pg_dump -Fc -f barrage.dump DBNAME) and restore with pg_restore "
                          "(see the README, 'Backups')")
    path = database_file(url)
    if path is None:
        raise BackupError("database.url is an in-memory SQLite database: nothing outlives the process")
    return path


def _lock_path(database: Path) -> Path:
    return database.with_name(f"{database.name}.serve-lock")


class InUse:
    """Held by a server for its lifetime: a shared lock a restore cannot take."""

    def __init__(self, url: str) -> None:
        self._database = database_file(url)
        self._fd: int | None = None

    async def acquire(self) -> None:
        if self._database is None:
            return
        fd = os.open(_lock_path(self._database), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            await self._wait(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    async def _wait(self, fd: int) -> None:
        waited = False
        while True:  # polled: a cancelled start leaves no thread blocked in flock
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if not waited:
                    logger.warning("%s is being restored: starting when that is done", self._database)
                    waited = True
                await asyncio.sleep(LOCK_POLL_SECONDS)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # drops the lock


@contextlib.contextmanager
def _no_server(database: Path) -> Iterator[None]:
    fd = os.open(_lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(f"a barrage server is using {database}: stop every `barrage serve` "
                              "on it, then restore") from None
        yield
    finally:
        os.close(fd)


def backup(url: str, target: Path, force: bool = False) -> Copy:
    """A consistent copy of the live database at `target` (never over a file, unless `force`)."""
    database = sqlite_file(url)
    if not database.is_file():
        raise BackupError(f"there is no database at {database}")
    if target.is_dir() or not target.name or target.name in (".", ".."):
        raise BackupError(f"{target} is a directory: the backup needs a file name, "
                          "e.g. backups/barrage-2026-12-31.db")
    if target.exists() and not force:
        raise BackupError(f"{target} exists: pass --force to overwrite it")
    if target.exists() and target.resolve() == database.resolve():
        raise BackupError(f"{target} is the database itself")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        with contextlib.closing(_connect(database, "rw")) as source, \
                contextlib.closing(sqlite3.connect(partial)) as copy:
            # pages=-1: the whole database in one step, in one read transaction.
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            done = _describe(copy, partial)
        _sync(partial)
        _put(partial, target, force)
    finally:
        partial.unlink(missing_ok=True)
    return Copy(target, done.revision, done.barrages, done.last_event_id, done.epoch)


def restore(url: str, source: Path) -> Copy:
    """Replace the stopped server's database with the copy at `source`, in a new epoch."""
    database = sqlite_file(url)
    if not source.is_file():
        raise BackupError(f"there is no file at {source}")
    if database.exists() and source.resolve() == database.resolve():
        raise BackupError(f"{source} is the database itself")
    with _no_server(database):
        partial = database.with_name(f"{database.name}.restoring")
        try:
            copied = _copy_checked(source, partial)
            _sync(partial)
            _set_aside(database)
            os.replace(partial, database)
            _sync(database.parent)
        finally:
            partial.unlink(missing_ok=True)
    return Copy(database, copied.revision, copied.barrages, copied.last_event_id, copied.epoch)


def _copy_checked(source: Path, partial: Path) -> Copy:
    partial.unlink(missing_ok=True)  # a restore interrupted earlier
    try:
        with contextlib.closing(_connect(source, "ro")) as reader, \
                contextlib.closing(sqlite3.connect(partial)) as copy:
            reader.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
            _check(copy, source)
            last = copy.execute("SELECT coalesce(max(id), 0) FROM event").fetchone()[0]
            epoch = Epoch.new(last)
            with copy:  # one transaction
                copy.execute("INSERT INTO setting (key, value) VALUES (?, ?) ON CONFLICT (key) "
                             "DO UPDATE SET value = excluded.value", (EPOCH_KEY, epoch.encode()))
            return _describe(copy, partial)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{source} is not a barrage database: {exc}") from None


def _check(copy: sqlite3.Connection, source: Path) -> None:
    """A barrage database, at a revision this version knows, intact."""
    tables = {row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if missing := TABLES - tables:
        raise BackupError(f"{source} is not a barrage database (no table {', '.join(sorted(missing))})")
    revision = copy.execute("SELECT version_num FROM alembic_version").fetchone()
    scripts = ScriptDirectory.from_config(schema.alembic_config())
    if revision is None or revision[0] not in {script.revision for script in scripts.walk_revisions()}:
        found = "no revision" if revision is None else f"revision {revision[0]}"
        raise BackupError(f"{source} has {found}, which this version of barrage does not know "
                          "(a newer version wrote it): restore it with that version, or a later one")
    problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        raise BackupError(f"{source} is damaged (integrity_check: {'; '.join(problems[:3])})")


def _describe(copy: sqlite3.Connection, path: Path) -> Copy:
    revision = copy.execute("SELECT version_num FROM alembic_version").fetchone()
    barrages = copy.execute("SELECT count(*) FROM barrage").fetchone()[0]
    last = copy.execute("SELECT coalesce(max(id), 0) FROM event").fetchone()[0]
    epoch = copy.execute("SELECT value FROM setting WHERE key = ?", (EPOCH_KEY,)).fetchone()
    token = epoch[0].partition(":")[0] if epoch else "none yet"
    return Copy(path, revision[0] if revision else "none", barrages, last, token)


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    """An existing file only (a plain connect would create an empty one)."""
    return sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode={mode}", uri=True, timeout=30)


def _set_aside(database: Path) -> None:
    """Fold the old database's WAL into it and keep it as `.before-restore`; its `-wal` and
    `-shm` must not outlive it, or SQLite would read them into the new file."""
    if not database.exists():
        return
    with contextlib.suppress(sqlite3.Error), contextlib.closing(_connect(database, "rw")) as old:
        old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    kept = database.with_name(f"{database.name}.before-restore")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{kept}{suffix}").unlink(missing_ok=True)
    try:
        os.link(database, kept)  # the database stays in place until the new one replaces it
    except OSError:
        shutil.copy2(database, kept)
    wal = Path(f"{database}-wal")
    if wal.exists():  # a checkpoint that could not run (a damaged database): kept beside it
        os.replace(wal, f"{kept}-wal")
    Path(f"{database}-shm").unlink(missing_ok=True)


def _put(partial: Path, target: Path, force: bool) -> None:
    if force:
        os.replace(partial, target)
    else:
        try:  # link, not rename: it fails rather than replace a file made meanwhile
            os.link(partial, target)
        except FileExistsError:
            raise BackupError(f"{target} exists: pass --force to overwrite it") from None
    _sync(target.parent)


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
