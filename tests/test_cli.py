"""The real console entry point, as a separate process."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path

import aiohttp
import asyncpg
import sqlalchemy

from server.cli import banner, lan_address, with_lan_url
from server.config import load_config
from server.store.schema import PG_LOCK, head
from tests.server_process import ServerProcess
from tests.store.test_migrations import legacy_metadata

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT):
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", *args, cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def test_bad_config_stops_startup_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[moderation]\nmode = "sometimes"\n')
    proc = await run_cli("serve", "--config", str(path))
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"moderation.mode" in err


async def test_env_override_is_validated_too(tmp_path: Path) -> None:
    proc = await run_cli("serve", env={"BARRAGE_SERVER_PORT": "eighty"}, cwd=tmp_path)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and b"server.port" in err


async def test_each_validator_exits_2_naming_its_key(tmp_path: Path) -> None:
    cases = [
        ({"BARRAGE_SERVER_ADMIN_TOKEN": "short"}, b"server.admin_token"),
        ({"BARRAGE_TELEGRAM_POLL_TIMEOUT_SECONDS": "-5"}, b"telegram.poll_timeout_seconds"),
        ({"BARRAGE_SLACK_MEMBER_CACHE_SECONDS": "-5"}, b"slack.member_cache_seconds"),
        ({"BARRAGE_SLACK_MODERATORS": "[1, 2]"}, b"slack.moderators"),
        ({"BARRAGE_TELEGRAM_ENABLED": "true", "BARRAGE_TELEGRAM_MODE": "webhook",
          "BARRAGE_TELEGRAM_TOKEN": "1:x", "BARRAGE_TELEGRAM_WEBHOOK_SECRET": "abc"}, b"server.public_url"),
        ({"BARRAGE_DATABASE_SQLITE_SYNCHRONOUS": "off"}, b"database.sqlite_synchronous"),
    ]
    procs = [await run_cli("serve", env=env, cwd=tmp_path) for env, _ in cases]
    for proc, (_, key) in zip(procs, cases, strict=True):
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 2 and b"config error: " + key + b":" in err, err


async def test_serve_prints_urls_serves_pages_and_stops_on_sigint(tmp_path: Path) -> None:
    port = free_port()
    env = {"BARRAGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
           "BARRAGE_CONFIG": str(ROOT / "config.toml")}
    proc = await run_cli("serve", "--port", str(port), env=env)
    assert proc.stdout is not None
    lines = [(await asyncio.wait_for(proc.stdout.readline(), 30)).decode() for _ in range(5)]
    assert f"http://127.0.0.1:{port}/screen" in lines[1]
    assert "/moderate#token=" in lines[3]
    token = lines[3].split("#token=")[1].strip()
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
        for path in ("/", "/screen", "/send", "/moderate", "/healthz"):
            async with http.get(path) as resp:  # released: a dangling one warns later, elsewhere
                assert resp.status == 200, path
        async with http.get("/api/stats", headers={"Authorization": f"Bearer {token}"}) as stats:
            assert stats.status == 200
    proc.send_signal(signal.SIGINT)
    await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode == 0


async def db(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`barrage db …`: exit code, stdout, stderr."""
    proc = await run_cli("db", *args, env=env, cwd=cwd)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode().strip(), err.decode().strip()


async def test_db_upgrade_and_current_take_the_config_as_serve_does(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    config = home / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{home / "wall.db"}"\n')
    assert await db("current", "--config", str(config), cwd=elsewhere) == (
        0, "no revision: the database is empty (`barrage db upgrade` creates the tables)", "")
    code, out, _ = await db("upgrade", "--config", str(config), cwd=elsewhere)
    assert (code, out) == (0, f"{head()} (head)")
    assert (await db("current", cwd=home))[:2] == (0, f"{head()} (head)")  # ./config.toml
    env = {"BARRAGE_CONFIG": str(config)}
    assert (await db("current", cwd=elsewhere, env=env))[:2] == (0, f"{head()} (head)")
    # an environment override applies as it does for serve
    other = {**env, "BARRAGE_DATABASE_URL": f"sqlite+aiosqlite:///{elsewhere / 'other.db'}"}
    assert (await db("current", cwd=elsewhere, env=other))[1].startswith("no revision: the database is empty")


async def test_db_upgrade_adopts_a_database_made_before_migrations(tmp_path: Path) -> None:
    path = tmp_path / "barrage.db"
    legacy = sqlalchemy.create_engine(f"sqlite:///{path}")
    with legacy.begin() as conn:
        legacy_metadata(with_sender=False).create_all(conn)
        conn.execute(sqlalchemy.text(
            "INSERT INTO barrage (text, author, source, color, size, status, created_at, notified) "
            "VALUES ('kept', 'Ann', 'web', '#ffffff', 'medium', 'approved', '2026-12-06 20:00:00', 0)"))
    legacy.dispose()
    env = {"BARRAGE_DATABASE_URL": f"sqlite+aiosqlite:///{path}"}
    code, out, _ = await db("current", cwd=tmp_path, env=env)
    assert (code, out) == (0, "no revision: tables made before migrations (`barrage db upgrade` adopts "
                              "them in place)")
    assert (await db("upgrade", cwd=tmp_path, env=env))[:2] == (0, f"{head()} (head)")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT text, sender FROM barrage").fetchall() == [("kept", None)]


async def test_db_errors_are_one_line_without_a_traceback(tmp_path: Path) -> None:
    cases = [  # (url, exit code, what the line says)
        ("postgresql+asyncpg://barrage:secret-pw@127.0.0.1:notaport/db", 2, "database.url: not a valid"),
        (f"postgresql+asyncpg://barrage:secret-pw@127.0.0.1:{free_port()}/db", 1, "Connect call failed"),
        (f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}", 1, "No such file or directory"),
        ("mysql://barrage@127.0.0.1/db", 2, "config error: database.url: must start with"),
    ]
    for url, expected, words in cases:
        code, out, err = await db("upgrade", cwd=tmp_path, env={"BARRAGE_DATABASE_URL": url})
        assert (code, out) == (expected, ""), err
        assert err.startswith("barrage: ") and len(err.splitlines()) == 1 and words in err, err
        assert "secret-pw" not in err


async def test_serve_refuses_an_old_schema_when_auto_migrate_is_off(tmp_path: Path) -> None:
    env = {"BARRAGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'barrage.db'}",
           "BARRAGE_DATABASE_AUTO_MIGRATE": "false"}
    proc = await run_cli("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert err.decode().strip().splitlines()[-1] == (
        f"barrage: the database is empty; this version needs revision {head()}, and "
        "database.auto_migrate is false: run `barrage db upgrade`")
    assert b"Traceback" not in err
    assert (await db("upgrade", cwd=tmp_path, env=env))[:2] == (0, f"{head()} (head)")
    server = ServerProcess(tmp_path, env=env)
    await server.start()  # at head: it serves
    assert await server.stop() == 0


async def test_two_nodes_starting_together_on_an_empty_postgresql_both_come_up(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    """We hold the migration lock until both nodes wait on it, so they migrate at the same moment."""
    env = {"BARRAGE_DATABASE_URL": fresh_postgres_url}
    nodes = [ServerProcess(tmp_path / name, env=env) for name in ("a", "b")]
    gate = await asyncpg.connect(fresh_postgres_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await gate.execute("SELECT pg_advisory_lock($1, $2)", *PG_LOCK)
        starts = [asyncio.create_task(node.start()) for node in nodes]
        waiting = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                   "AND classid::bigint = $1 AND objid::bigint = $2")
        while await gate.fetchval(waiting, *PG_LOCK) < 2:
            assert not any(start.done() for start in starts), [node.log_text() for node in nodes]
            await asyncio.sleep(0.05)
        await gate.execute("SELECT pg_advisory_unlock($1, $2)", *PG_LOCK)
        await asyncio.gather(*starts)
        for node in nodes:
            async with aiohttp.ClientSession() as http, http.get(f"{node.url}/healthz") as resp:
                assert (await resp.json())["database"] == "ok"
            await node.submit(f"stored through {node.workdir.name}")
    finally:
        await gate.close()
        for node in nodes:
            if node.proc is not None and node.proc.returncode is None:
                assert await node.stop() == 0
    assert (await db("current", cwd=tmp_path, env=env))[:2] == (0, f"{head()} (head)")


def test_on_all_interfaces_without_a_public_url_links_use_the_lan_address() -> None:
    found = lan_address()  # this machine's: None only where no private route exists
    assert found is None or not ipaddress.ip_address(found).is_loopback
    wide = load_config(None, env={}, overrides={"server": {"host": "0.0.0.0", "port": 8123}})
    lan = with_lan_url(wide, "192.168.1.20")
    assert lan.join_url("hall-b") == "http://192.168.1.20:8123/send?room=hall-b"
    shown = banner(lan, False, lan=True)
    assert "join at http://192.168.1.20:8123/send" in shown
    assert "  screen    http://192.168.1.20:8123/screen" in shown
    # A public URL wins; one interface is what it is; no address found: as before.
    public = load_config(None, env={}, overrides={"server": {"host": "0.0.0.0",
                                                             "public_url": "https://wall.example.org"}})
    assert with_lan_url(public, "192.168.1.20") is public
    local = load_config(None, env={})
    assert with_lan_url(local, "192.168.1.20") is local
    assert with_lan_url(wide, None) is wide
    assert "join at" not in banner(local, False)


async def test_serve_on_all_interfaces_prints_the_lan_address(tmp_path: Path) -> None:
    address = lan_address()  # None on a machine with no route to a private network
    port = free_port()
    proc = await run_cli("serve", "--host", "0.0.0.0", "--port", str(port), cwd=tmp_path,
                         env={"BARRAGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"})
    try:
        lines: list[str] = []
        while not lines or "Ctrl+C" not in lines[-1]:  # the banner's last line
            raw = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert raw, "serve ended before its banner"
            lines.append(raw.decode().strip())
        joins = [line for line in lines if "join at" in line]
        expected = [] if address is None else [f"join at http://{address}:{port}/send"]
        assert [line[line.index("join at"):] for line in joins] == expected
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 30)


def one_json_error(err: bytes) -> dict[str, object]:
    lines = err.decode().splitlines()
    assert len(lines) == 1, err
    line = json.loads(lines[0])
    assert {"ts", "level", "logger", "msg"} <= line.keys() and line["level"] == "error"
    return line


async def test_errors_before_the_config_is_read_are_json_when_asked(tmp_path: Path) -> None:
    asked_in_file = tmp_path / "config.toml"
    asked_in_file.write_text('[logging]\nformat = "json"\n[moderation]\nmode = "sometimes"\n')
    cases = [
        (("serve", "--log-format", "json"), {"BARRAGE_SERVER_PORT": "eighty"}, "config error: server.port"),
        (("serve",), {"BARRAGE_LOGGING_FORMAT": "json", "BARRAGE_SERVER_PORT": "eighty"}, "server.port"),
        (("serve", "--config", str(asked_in_file)), {}, "config error: moderation.mode"),
        (("serve", "--log-format=json", "--workers", "two"), {}, "--workers"),
        (("db", "current", "--log-format", "json"), {"BARRAGE_DATABASE_URL": "mysql://x"}, "database.url"),
    ]
    for args, env, says in cases:
        proc = await run_cli(*args, env=env, cwd=tmp_path)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 2 and out == b"", (args, err)
        assert says in str(one_json_error(err)["msg"]), (args, err)
    # The flag wins over the file: text, as asked.
    proc = await run_cli("serve", "--config", str(asked_in_file), "--log-format", "text", cwd=tmp_path)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert err.startswith(b"barrage: config error: moderation.mode")


async def test_db_answers_in_json_when_asked(tmp_path: Path) -> None:
    env = {"BARRAGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.db'}"}
    proc = await run_cli("db", "upgrade", "--log-format", "json", env=env, cwd=tmp_path)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    said = [json.loads(line) for line in out.decode().splitlines()]
    assert said[-1]["msg"].endswith("(head)") and all(json.loads(line) for line in err.decode().splitlines())
