"""barrage serve [--config PATH] [--host H] [--port P] [--workers N] [--log-format text|json]
(also `python -m server`); barrage db upgrade|current [--config PATH] [--log-format text|json];
barrage db backup PATH [--force] [--config PATH]; barrage db restore PATH [--config PATH].

The log format is known before the config is read when it can be: `--log-format`, else
BARRAGE_LOGGING_FORMAT, else the file's own `logging.format` (read leniently). So a
command asked for JSON says even a bad config or a bad argument in JSON."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.metadata
import io
import ipaddress
import logging
import os
import resource
import secrets
import socket
import sqlite3
import sys
import tomllib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.app import create_app
from server.config import Config, ConfigError, Secret, load_config, warn_about_file_secrets
from server.core.errors import Unavailable
from server.logs import LEVELS, STYLES, Output, RedactingFilter, configure_logging, restyle, secrets_of
from server.store import backup, schema
from server.store.schema import SchemaError
from server.store.sql import create_engine
from server.workers import Supervisor

logger = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 5.0
# Within the 10 s a stop may take (--workers' parent waits that long for each worker).
STOP_DEADLINE_SECONDS = 8.0
DEFAULT_CONFIG = "config.toml"
# A room of screens reconnecting at once must not overflow the accept queue.
BACKLOG = 4096
# Descriptors beside the streams: the database, chat APIs, requests in flight.
DESCRIPTOR_HEADROOM = 100
MAX_WORKERS = 64
# What a database that is down, refuses us or fails a statement raises (Unavailable: the
# store's translation of those); OSError covers refused connections and timeouts.
DATABASE_ERRORS = (OSError, SQLAlchemyError, sqlite3.Error, Unavailable)
ALL_INTERFACES = ("0.0.0.0", "::", "")
# Private addresses to route towards when finding our own LAN address (no packet is sent).
PROBES = ("10.255.255.255", "172.31.255.255", "192.168.255.255")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="barrage", description="Live-event comment wall.")
    parser.add_argument("--version", action="version", version=f"barrage {version()}")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the wall server")
    serve.add_argument("--config", help="config file (default: $BARRAGE_CONFIG or ./config.toml)")
    serve.add_argument("--host", help="listen address (overrides server.host)")
    serve.add_argument("--port", type=int, help="listen port (overrides server.port)")
    serve.add_argument("--workers", type=_worker_count, default=1, metavar="N",
                       help="worker processes on the one port (default 1; N > 1 needs a shared bus.url)")
    _log_format_option(serve)
    db = commands.add_parser("db", help="the database: its schema (Alembic migrations), backups")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    for name, text in (("upgrade", "migrate the database to the newest schema"),
                       ("current", "print the database's schema revision")):
        each = db_commands.add_parser(name, help=text)
        each.add_argument("--config", help="config file (default: $BARRAGE_CONFIG or ./config.toml)")
        _log_format_option(each)
    copy = db_commands.add_parser("backup", help="copy the live SQLite database, while it serves")
    copy.add_argument("path", metavar="PATH", help="the copy to write")
    copy.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    restore = db_commands.add_parser("restore", help="replace the SQLite database with a backup "
                                                     "(every server on it stopped)")
    restore.add_argument("path", metavar="PATH", help="a copy `barrage db backup` made")
    for each in (copy, restore):
        each.add_argument("--config", help="config file (default: $BARRAGE_CONFIG or ./config.toml)")
        _log_format_option(each)
    args = parser.parse_args(argv)
    if args.command is None:  # bare `barrage` / `python -m server` serves
        args = parser.parse_args(["serve", *(argv or [])])
    return args


def _log_format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-format", choices=STYLES,
                        help="text, or json: one JSON object a line on stdout and stderr "
                             "(overrides logging.format)")


def parse_args_or_fail(argv: Sequence[str], output: Output) -> argparse.Namespace:
    """`parse_args`; in JSON, argparse's own words (a refused argument, --help, --version)
    are one object: an error on stderr, or the text on stdout."""
    if output.style != "json":
        return parse_args(argv)
    said, told = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(told):
            return parse_args(argv)
    except SystemExit as exc:
        if exc.code:
            output.fail((said.getvalue().strip().splitlines() or ["bad arguments"])[-1], 2)
        elif told.getvalue():
            output.say(told.getvalue().strip())
        raise


def early_style(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The log format before the arguments are parsed and the config read: --log-format
    (a bad value stays argparse's to refuse), else BARRAGE_LOGGING_FORMAT."""
    for index, arg in enumerate(argv):
        value = arg.partition("=")[2] if arg.startswith("--log-format=") else None
        if arg == "--log-format" and index + 1 < len(argv):
            value = argv[index + 1]
        if value in STYLES:
            return value
    value = env.get("BARRAGE_LOGGING_FORMAT", "")
    return value if value in STYLES else "text"


def file_style(path: str | None, style: str, argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The config file's `logging.format`, read before the config is validated, unless
    the flag or the environment named one: a file that asks for JSON gets JSON errors."""
    if path is None or any(a.startswith("--log-format") for a in argv) or "BARRAGE_LOGGING_FORMAT" in env:
        return style
    try:
        with open(path, "rb") as file:
            found: Any = tomllib.load(file).get("logging", {})
    except (OSError, tomllib.TOMLDecodeError):
        return style
    value = found.get("format") if isinstance(found, dict) else None
    return value if value in STYLES else style


def _worker_count(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_WORKERS}")
    return int(value)


def version() -> str:
    """From the installed package's metadata (a bare checkout that was never installed has none)."""
    try:
        return importlib.metadata.version("barrage")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def config_path(args: argparse.Namespace) -> str | None:
    """An explicit path must exist; a missing ./config.toml means the built-in defaults."""
    explicit = args.config or os.environ.get("BARRAGE_CONFIG")
    if explicit:
        return explicit
    return DEFAULT_CONFIG if os.path.exists(DEFAULT_CONFIG) else None


def logging_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    return {"logging": {"format": args.log_format}} if args.log_format else {}


def build_config(args: argparse.Namespace) -> tuple[Config, bool]:
    """The config, and whether the admin token was minted for this run."""
    overrides = {"server": {k: v for k, v in (("host", args.host), ("port", args.port))
                            if v is not None}, **logging_overrides(args)}
    config = load_config(config_path(args), overrides=overrides)
    if config.server.admin_token:
        return config, False
    # A wall must work with no setup: mint a token for this run; the banner shows it.
    logger.warning("no admin token configured: minted one for this run "
                   "(set BARRAGE_SERVER_ADMIN_TOKEN to keep one across restarts)")
    token = Secret(secrets.token_urlsafe(18))
    server = config.server.model_copy(update={"admin_token": token})
    return config.model_copy(update={"server": server}), True


def lan_address() -> str | None:
    """This machine's primary non-loopback IPv4 address: the one its route to a private
    network leaves from. connect() on a UDP socket only picks that route; it sends nothing."""
    for probe in PROBES:
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((probe, 9))
            address = ipaddress.ip_address(sock.getsockname()[0])
            if not (address.is_loopback or address.is_unspecified or address.is_link_local):
                return str(address)
    return None


def with_lan_url(config: Config, address: str | None) -> Config:
    """With no `server.public_url` and listening on every interface, the wall's links (the
    banner, the join text, the QR codes) use the LAN address phones on the venue Wi-Fi can
    open, instead of 127.0.0.1, which means the phone itself."""
    server = config.server
    if server.public_url or server.host not in ALL_INTERFACES or address is None:
        return config
    lan = server.model_copy(update={"public_url": f"http://{address}:{server.port}"})
    return config.model_copy(update={"server": lan})


def links(config: Config, show_token: bool, lan: bool = False) -> dict[str, str]:
    """The banner's URLs by name (`join`: the LAN address phones open, when there is one)."""
    base = config.base_url()
    # A token we minted is printed so the organizer can use it; a configured one never is.
    fragment = f"#token={config.server.admin_token.reveal()}" if show_token else ""
    found = {"screen": f"{base}/screen", "send": f"{base}/send",
             "moderate": f"{base}/moderate{fragment}", "landing": f"{base}/"}
    return {**found, "join": config.join_url()} if lan else found


def banner(config: Config, show_token: bool, lan: bool = False) -> str:
    urls = links(config, show_token, lan)
    lines = ["barrage is up:", *(f"  {name:<9} {urls[name]}" for name in ("screen", "send", "moderate",
                                                                         "landing"))]
    if lan:
        lines.append(f"phones on this network (the venue Wi-Fi) join at {urls['join']}")
    return "\n".join([*lines, "(Ctrl+C to stop)"])


def raise_descriptor_limit(max_streams: int) -> int:
    """Every stream is a descriptor: take all the kernel allows (the soft limit is often
    1,024), and say so when even that is below `stream.max_streams`, since past it
    every request, /healthz included, would fail to accept."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # "Unlimited" (macOS) is not a value setrlimit takes for the soft limit: ask for enough.
    wanted = max_streams + DESCRIPTOR_HEADROOM if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
    if soft != resource.RLIM_INFINITY and soft < max_streams + DESCRIPTOR_HEADROOM:
        logger.warning("the descriptor limit is %d, below stream.max_streams (%d) plus %d "
                       "for everything else: lower stream.max_streams or raise `ulimit -n`",
                       soft, max_streams, DESCRIPTOR_HEADROOM)
    return soft


def _use_uvloop() -> None:
    """uvloop's C transports make the SSE fan-out about twice as cheap (see bench/RESULTS.md)."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def _freeze_heap(_app: web.Application) -> None:
    """Once started, move everything alive into the collector's permanent generation.

    A full collection walks every tracked object. Without the chat libraries loaded
    (they are imported only when enabled) the heap is small, so full collections come
    often, and each one walking the start-up heap showed as a 3x p99 in bench-smoke
    (10 → 30 ms). Frozen, start-up objects are never walked again.
    """
    gc.collect()
    gc.freeze()


async def _watch_the_stop(_app: web.Application) -> None:
    """On shutdown: a stop that does not finish in STOP_DEADLINE_SECONDS is reported (where
    every task waits) and ended, so that one await on a peer that never answers cannot keep
    a node, or the parent of --workers, from stopping. The database holds what committed."""
    asyncio.get_running_loop().create_task(_end_an_overdue_stop(), name="stop-deadline")


async def _end_an_overdue_stop() -> None:
    await asyncio.sleep(STOP_DEADLINE_SECONDS)
    waiting = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    logger.error("still stopping after %.0f s: ending the process; %d tasks were waiting:",
                 STOP_DEADLINE_SECONDS, len(waiting))
    for task in waiting:
        logger.error("task %s waits in:\n%s", task.get_name(), _awaiting(task))
    # A cleanup context is an async generator: Task.get_coro's chain stops at its asend.
    suspended = [each for each in gc.get_objects()
                 if (isinstance(each, types.CoroutineType | types.AsyncGeneratorType)
                 and getattr(each, "cr_frame", None)) or getattr(each, "ag_frame", None)]
    for each in suspended:
        logger.error("suspended: %s", _awaiting_from(each).strip().splitlines()[0])
    logging.shutdown()
    os._exit(1)


def _awaiting(task: asyncio.Task[object]) -> str:
    """The chain of awaits a task is suspended in, outermost first (Task.get_stack shows one frame)."""
    return _awaiting_from(task.get_coro())


def _awaiting_from(start: object) -> str:
    lines: list[str] = []
    awaited: object = start
    while awaited is not None and len(lines) < 40:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
        if frame is not None:
            lines.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
    return "\n".join(lines) or f"  {start!r}"


def run_db(args: argparse.Namespace, output: Output, redactor: RedactingFilter) -> int:
    """`barrage db upgrade|current|backup|restore`: one line on stdout, or one on stderr and exit
    code 2 (the config or schema needs a person) or 1 (the database could not be reached or failed)."""
    try:
        config = load_config(config_path(args), overrides=logging_overrides(args))
        output.style = apply_logging(config, redactor)
        database = config.database
        if args.db_command in ("backup", "restore"):
            return run_copy(args.db_command, database.url, Path(args.path), getattr(args, "force", False),
                            output)
        engine = create_engine(database.url, database.sqlite_synchronous)
    except ConfigError as exc:
        return output.fail(f"config error: {exc}", 2)
    except (ArgumentError, ValueError):  # the message may quote the URL, password and all
        return output.fail("config error: database.url: not a valid database URL", 2)
    try:
        output.say(asyncio.run(_db(args.db_command, engine)))
    except SchemaError as exc:
        return output.fail(str(exc), 2)
    except DATABASE_ERRORS as exc:
        return output.fail(f"database error: {database_error(exc)}", 1)
    return 0


def run_copy(command: str, url: str, path: Path, force: bool, output: Output) -> int:
    """`barrage db backup|restore`: what was copied on stdout; a refusal (exit code 2) or a
    failed read or write (1) on stderr."""
    try:
        if command == "backup":
            done = backup.backup(url, path, force)
            output.say(f"backed up to {done.path}: {done.describe()}")
        else:
            done = backup.restore(url, path)
            output.say(f"restored {path} into {done.path}: {done.describe()}; the database it replaced "
                       f"is kept as {done.path}.before-restore")
    except backup.BackupError as exc:
        return output.fail(str(exc), 2)
    except (OSError, sqlite3.Error) as exc:
        return output.fail(f"{command} failed: {type(exc).__name__}: {exc}", 1)
    return 0


def apply_logging(config: Config, redactor: RedactingFilter) -> str:
    """The configured format and level from now on, and its secrets masked; the format."""
    redactor.add(secrets_of(config))
    restyle(config.logging.format, LEVELS[config.logging.level])
    return config.logging.format


async def _db(command: str, engine: AsyncEngine) -> str:
    try:
        if command == "upgrade":
            await schema.upgrade(engine)
        return (await schema.revision(engine)).describe()
    finally:
        await engine.dispose()


def database_error(exc: BaseException) -> str:
    """The driver's own first line: SQLAlchemy's wrapper adds the statement and a link."""
    if isinstance(exc, Unavailable) and exc.__cause__ is not None:
        exc = exc.__cause__
    cause = getattr(exc, "orig", None) or exc
    first = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first}" if first else type(cause).__name__


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    output = Output(early_style(argv, os.environ))
    redactor = configure_logging(style=output.style)
    args = parse_args_or_fail(argv, output)
    if (style := file_style(config_path(args), output.style, argv, os.environ)) != output.style:
        output.style = style
        restyle(style)
    if args.command == "db":
        return run_db(args, output, redactor)
    try:
        config, minted = build_config(args)
    except ConfigError as exc:
        return output.fail(f"config error: {exc}", 2)
    output.style = apply_logging(config, redactor)
    lan = with_lan_url(config, lan_address())
    shown = Shown(banner(lan, minted, lan=lan is not config), {"urls": links(lan, minted, lan is not config)})
    config = lan
    if args.workers > 1 and urlsplit(config.bus.url).scheme == "memory":
        return output.fail(f"config error: bus.url: --workers {args.workers} needs a bus every process "
                           "shares (redis://… or postgresql://…); memory:// reaches one process only", 2)
    warn_about_file_secrets(config_path(args))
    raise_descriptor_limit(config.stream.max_streams)
    _use_uvloop()
    if args.workers == 1:
        return _serve(config, shown, output)
    # The minted token (if any) is made here, once, so every worker accepts it.
    shown = Shown(f"{shown.text}\n({args.workers} worker processes)",
                  {**shown.details, "workers": args.workers})
    return Supervisor(args.workers, lambda index: _serve(config, shown if index == 0 else None, output,
                                                         reuse_port=True)).run()


@dataclass(frozen=True)
class Shown:
    """The banner: its text, and the same as fields of its JSON object."""

    text: str
    details: dict[str, Any]


def _serve(config: Config, shown: Shown | None, output: Output, reuse_port: bool = False) -> int:
    app = create_app(config)
    app.on_startup.append(_freeze_heap)
    app.on_shutdown.append(_watch_the_stop)
    try:
        web.run_app(
            app, host=config.server.host, port=config.server.port, reuse_port=reuse_port,
            shutdown_timeout=SHUTDOWN_TIMEOUT, backlog=BACKLOG, access_log=None,
            print=lambda _msg: None if shown is None else output.say(shown.text, **shown.details),
        )
    except SchemaError as exc:  # database.auto_migrate = false on an older schema
        return output.fail(str(exc), 2)
    except DATABASE_ERRORS as exc:
        return output.fail(f"database error at start: {database_error(exc)}", 1)
    return 0
