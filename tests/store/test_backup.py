"""server/store/backup.py on real SQLite files: the copy, the checks a restore makes, the
lock a running server holds, and the old database's WAL."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from server.core.epoch import EPOCH_KEY, Epoch
from server.store import backup
from server.store.backup import BackupError
from server.store.schema import head
from tests.conftest import ClientFactory, ConfigFactory
from tests.web.test_stream import post


def url_of(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def texts(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT text FROM barrage ORDER BY id")]


def setting(path: Path, key: str) -> str | None:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT value FROM setting WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None


@pytest.fixture
async def wall_db(make_client: ClientFactory, make_config: ConfigFactory, tmp_path: Path) -> Path:
    """A database a wall made (and stopped on) holding two barrages."""
    client = await make_client(make_config(moderation__mode="off"))
    for text in ("one", "two"):
        await post(client, text)
    await client.close()
    return tmp_path / "barrage.db"


def test_a_backup_is_a_whole_intact_copy(wall_db: Path, tmp_path: Path) -> None:
    done = backup.backup(url_of(wall_db), tmp_path / "copy.db")
    assert texts(tmp_path / "copy.db") == ["one", "two"]
    with sqlite3.connect(tmp_path / "copy.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one file, no -wal
    assert (done.revision, done.barrages) == (head(), 2)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".copy.db")] == []


def test_a_backup_never_overwrites_a_file_unless_forced(wall_db: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy.db"
    target.write_text("precious")
    with pytest.raises(BackupError, match="exists: pass --force"):
        backup.backup(url_of(wall_db), target)
    assert target.read_text() == "precious"
    backup.backup(url_of(wall_db), target, force=True)
    assert texts(target) == ["one", "two"]
    with pytest.raises(BackupError, match="the database itself"):
        backup.backup(url_of(wall_db), wall_db, force=True)


@pytest.mark.parametrize("target", [".", "", "..", "/"])
def test_a_directory_is_no_backup_file(wall_db: Path, target: str) -> None:
    """`barrage db backup . --force` said "not a valid database URL" (found by a reviewer)."""
    with pytest.raises(BackupError, match="is a directory: the backup needs a file name"):
        backup.backup(url_of(wall_db), Path(target), force=True)


@pytest.mark.parametrize(("url", "message"), [
    ("postgresql+asyncpg://localhost/barrage", "use pg_dump|with pg_dump"),
    ("sqlite+aiosqlite:///:memory:", "in-memory"),
    ("sqlite+aiosqlite://", "in-memory"),
])
def test_only_a_sqlite_file_is_backed_up_or_restored(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(BackupError, match=message):
        backup.backup(url, tmp_path / "copy.db")
    (tmp_path / "copy.db").write_bytes(b"")
    with pytest.raises(BackupError, match=message):
        backup.restore(url, tmp_path / "copy.db")


def test_a_missing_database_is_not_backed_up(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no database"):
        backup.backup(url_of(tmp_path / "none.db"), tmp_path / "copy.db")
    assert not (tmp_path / "none.db").exists()  # and none was made


def test_a_restore_puts_the_copy_in_place_in_a_new_epoch(wall_db: Path, tmp_path: Path) -> None:
    backup.backup(url_of(wall_db), tmp_path / "copy.db")
    before = Epoch.decode(setting(wall_db, EPOCH_KEY) or "")
    with sqlite3.connect(wall_db) as db:
        db.execute("DELETE FROM barrage")
    done = backup.restore(url_of(wall_db), tmp_path / "copy.db")
    assert texts(wall_db) == ["one", "two"]
    epoch = Epoch.decode(setting(wall_db, EPOCH_KEY) or "")
    assert epoch.token != before.token and epoch.token == done.epoch
    with sqlite3.connect(wall_db) as db:
        assert epoch.start == db.execute("SELECT max(id) FROM event").fetchone()[0]
    assert texts(Path(f"{wall_db}.before-restore")) == []  # the replaced one is kept
    assert setting(tmp_path / "copy.db", EPOCH_KEY) == before.encode()  # the copy is untouched


async def test_a_restore_is_refused_while_a_server_uses_the_database(
    make_client: ClientFactory, make_config: ConfigFactory, tmp_path: Path
) -> None:
    config = make_config()
    client = await make_client(config)
    backup.backup(config.database.url, tmp_path / "copy.db")  # a backup is fine meanwhile
    with pytest.raises(BackupError, match="a barrage server is using"):
        backup.restore(config.database.url, tmp_path / "copy.db")
    await client.close()
    backup.restore(config.database.url, tmp_path / "copy.db")


async def test_a_server_starting_during_a_restore_waits_for_it(tmp_path: Path) -> None:
    database = tmp_path / "barrage.db"
    with backup._no_server(database):  # what a restore holds while it works
        lock = backup.InUse(url_of(database))
        starting = asyncio.create_task(lock.acquire())
        await asyncio.sleep(4 * backup.LOCK_POLL_SECONDS)
        assert not starting.done()
    await asyncio.wait_for(starting, 5)
    with pytest.raises(BackupError):
        backup.restore(url_of(database), database)
    lock.release()


def make_db(path: Path, revision: str | None, tables: tuple[str, ...]) -> Path:
    with sqlite3.connect(path) as db:
        for table in tables:
            db.execute(f"CREATE TABLE {table} (x)")
        if revision is not None:
            db.execute("CREATE TABLE alembic_version (version_num TEXT)")
            db.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
    return path


def test_a_restore_takes_only_a_barrage_database_it_knows(wall_db: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BackupError, match="not a barrage database"):
        backup.restore(url_of(wall_db), junk)
    other = make_db(tmp_path / "other.db", None, ("notes",))
    with pytest.raises(BackupError, match="not a barrage database"):
        backup.restore(url_of(wall_db), other)
    backup.backup(url_of(wall_db), tmp_path / "newer.db")
    with sqlite3.connect(tmp_path / "newer.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0099_future'")
    with pytest.raises(BackupError, match="does not know"):
        backup.restore(url_of(wall_db), tmp_path / "newer.db")
    with pytest.raises(BackupError, match="no file"):
        backup.restore(url_of(wall_db), tmp_path / "absent.db")
    assert texts(wall_db) == ["one", "two"]  # untouched by every refusal
    assert not Path(f"{wall_db}.restoring").exists()


def test_an_older_schema_is_restored_for_the_server_to_migrate(wall_db: Path, tmp_path: Path) -> None:
    backup.backup(url_of(wall_db), tmp_path / "older.db")
    with sqlite3.connect(tmp_path / "older.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0004_moderation'")
    assert backup.restore(url_of(wall_db), tmp_path / "older.db").revision == "0004_moderation"


def test_the_old_databases_wal_never_reaches_the_restored_one(wall_db: Path, tmp_path: Path) -> None:
    """A server killed with commits still in its -wal: they go into the kept old database,
    and the restored one opens as the copy, intact."""
    backup.backup(url_of(wall_db), tmp_path / "copy.db")
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    writer = sqlite3.connect(wall_db)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("PRAGMA journal_mode=WAL")
    with writer:
        writer.execute("UPDATE barrage SET text = text || ' again'")
    for suffix in ("", "-wal", "-shm"):  # what a kill -9 leaves: the file and its WAL
        (crashed / f"barrage.db{suffix}").write_bytes(Path(f"{wall_db}{suffix}").read_bytes())
    writer.close()
    database = crashed / "barrage.db"
    assert Path(f"{database}-wal").stat().st_size > 0
    backup.restore(url_of(database), tmp_path / "copy.db")
    assert texts(database) == ["one", "two"]
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    kept = Path(f"{database}.before-restore")
    assert texts(kept) == ["one again", "two again"]
