"""Configuration: config.toml, then `BARRAGE_<SECTION>_<KEY>` environment overrides.

Loaded and validated once, at start-up. A bad value stops start-up with a
message naming the key. Secrets are wrapped in `Secret` so they never show up
in a repr or a log line.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

ENV_PREFIX = "BARRAGE_"
SECRET_KEYS = {
    ("server", "admin_token"), ("telegram", "token"), ("telegram", "webhook_secret"),
    ("slack", "bot_token"), ("slack", "signing_secret"), ("slack", "app_token"),
}
# Lists whose items must be numbers (env values arrive as "1,2,3").
INT_LISTS = {"telegram.moderators"}
# Lists whose items must be strings: a Slack id such as U0123 is never a number, and
# an integer there would silently never match anyone.
STR_LISTS = {"slack.moderators"}
MIN_ADMIN_TOKEN = 16


class ConfigError(ValueError):
    """A config value is missing or wrong; the message starts with the key."""


class Secret:
    """A string that never prints itself."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def matches(self, candidate: str) -> bool:
        # Constant time, so the token cannot be guessed byte by byte.
        # surrogateescape: undecodable header bytes arrive as lone surrogates; they must
        # simply not match, not raise.
        try:
            given = candidate.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return False
        return bool(self._value) and hmac.compare_digest(self._value.encode(), given)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    admin_token: Secret = field(default_factory=lambda: Secret(""))
    forwarded_hops: int = 0


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite+aiosqlite:///barrage.db"
    sqlite_synchronous: str = "normal"


@dataclass(frozen=True)
class BusConfig:
    url: str = "memory://"


@dataclass(frozen=True)
class ModerationConfig:
    mode: str = "manual"
    max_text_length: int = 100
    max_author_length: int = 32
    max_per_minute: int = 20
    max_per_minute_per_address: int = 1200


@dataclass(frozen=True)
class ScreenConfig:
    join_text: str = ""
    crossing_seconds: float = 8.0
    max_waiting: int = 200


@dataclass(frozen=True)
class StreamConfig:
    heartbeat_seconds: float = 15.0
    max_buffer_bytes: int = 262_144
    retry_ms: int = 2000
    max_per_address: int = 50
    max_streams: int = 20_000


@dataclass(frozen=True)
class TelegramConfig:
    enabled: bool = False
    token: Secret = field(default_factory=lambda: Secret(""))
    mode: str = "polling"
    webhook_secret: Secret = field(default_factory=lambda: Secret(""))
    api_base_url: str = "https://api.telegram.org/bot"
    moderator_chat_id: int = 0
    moderators: list[int] = field(default_factory=list)
    admin_cache_seconds: float = 300.0
    poll_timeout_seconds: float = 10.0


@dataclass(frozen=True)
class SlackConfig:
    enabled: bool = False
    bot_token: Secret = field(default_factory=lambda: Secret(""))
    signing_secret: Secret = field(default_factory=lambda: Secret(""))
    mode: str = "http"
    app_token: Secret = field(default_factory=lambda: Secret(""))
    api_base_url: str = "https://slack.com/api/"
    moderation_channel: str = ""
    moderators: list[str] = field(default_factory=list)
    member_cache_seconds: float = 300.0
    socket_ping_seconds: float = 10.0


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    bus: BusConfig = field(default_factory=BusConfig)
    moderation: ModerationConfig = field(default_factory=ModerationConfig)
    screen: ScreenConfig = field(default_factory=ScreenConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    slack: SlackConfig = field(default_factory=SlackConfig)

    def base_url(self) -> str:
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        host = self.server.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.server.port}"

    def join_text(self) -> str:
        return self.screen.join_text or f"Join the wall: {self.base_url()}/send"


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Read the file (if any), apply env and explicit overrides, validate."""
    env = os.environ if env is None else env
    raw = _read_toml(Path(path)) if path is not None else {}
    merged = _merge(raw, _env_values(env), overrides or {})
    config = _build(merged)
    _validate(config)
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None


def _env_values(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for section in _sections():
        for key in _keys(section):
            name = f"{ENV_PREFIX}{section.upper()}_{key.upper()}"
            if name in env:
                found.setdefault(section, {})[key] = env[name]
    return found


def _merge(*layers: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for section, values in layer.items():
            if section not in _sections():
                raise ConfigError(f"{section}: unknown section")
            if not isinstance(values, Mapping):
                raise ConfigError(f"{section}: must be a table")
            merged.setdefault(section, {}).update(values)
    return merged


def _sections() -> dict[str, type]:
    return {f.name: f.default_factory for f in fields(Config)}  # type: ignore[misc]


def _keys(section: str) -> dict[str, Any]:
    cls = _sections()[section]
    return {f.name: getattr(cls(), f.name) for f in fields(cls)}


def _build(merged: Mapping[str, Mapping[str, Any]]) -> Config:
    parts = {}
    for section, cls in _sections().items():
        defaults = _keys(section)
        values = {}
        for key, value in merged.get(section, {}).items():
            if key not in defaults:
                raise ConfigError(f"{section}.{key}: unknown key")
            values[key] = _coerce(f"{section}.{key}", value, defaults[key])
        parts[section] = replace(cls(), **values)
    return Config(**parts)


def _coerce(name: str, value: Any, default: Any) -> Any:
    if isinstance(default, Secret):
        if not isinstance(value, str):
            raise ConfigError(f"{name}: must be a string")
        return Secret(value)
    if isinstance(default, bool):
        return _coerce_bool(name, value)
    if isinstance(default, int | float):
        return _coerce_number(name, value, type(default))
    if isinstance(default, list):
        items = _coerce_list(name, value)
        if name in INT_LISTS:
            return [_list_int(name, item) for item in items]
        if name in STR_LISTS and not all(isinstance(item, str) for item in items):
            raise ConfigError(f'{name}: items must be strings such as "U0123ABCD", got {items!r}')
        return items
    if not isinstance(value, str):
        raise ConfigError(f"{name}: must be a string, got {value!r}")
    return value


def _coerce_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: must be true or false, got {value!r}")


def _coerce_number(name: str, value: Any, kind: type) -> int | float:
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float)):
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: must be a number, got {value!r}") from None


def _coerce_list(name: str, value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    text = str(value).strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            raise ConfigError(f"{name}: not a valid JSON list: {value!r}") from None
        if isinstance(parsed, list):
            return parsed
    return [item.strip() for item in text.split(",") if item.strip()]


def _list_int(name: str, item: Any) -> int:
    try:
        if isinstance(item, bool):
            raise ValueError
        return int(item)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: items must be integer ids, got {item!r}") from None


def _validate(config: Config) -> None:
    checks = (_check_server, _check_database, _check_bus, _check_moderation, _check_screen,
              _check_telegram, _check_slack)
    for check in checks:
        check(config)
    if config.stream.heartbeat_seconds <= 0 or config.stream.heartbeat_seconds > 15:
        raise ConfigError("stream.heartbeat_seconds: must be above 0 and at most 15")
    if config.stream.max_buffer_bytes < 1024:
        raise ConfigError("stream.max_buffer_bytes: must be at least 1024")
    if not 100 <= config.stream.retry_ms <= 60_000:
        raise ConfigError("stream.retry_ms: must be between 100 and 60000")
    for key in ("max_per_address", "max_streams"):
        if getattr(config.stream, key) < 1:
            raise ConfigError(f"stream.{key}: must be at least 1")


def _check_server(config: Config) -> None:
    server = config.server
    if not server.host:
        raise ConfigError("server.host: must not be empty")
    if not 0 <= server.forwarded_hops <= 5:
        raise ConfigError("server.forwarded_hops: must be between 0 and 5")
    if not 0 <= server.port <= 65535:
        raise ConfigError(f"server.port: must be between 0 and 65535, got {server.port}")
    token = server.admin_token.reveal()
    if token and len(token) < MIN_ADMIN_TOKEN:
        raise ConfigError(f"server.admin_token: must be at least {MIN_ADMIN_TOKEN} characters "
                          "(leave it empty to have one minted at each start)")
    if server.public_url:
        parts = urlsplit(server.public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("server.public_url: must be an http(s) URL such as https://wall.example.org")


def _check_database(config: Config) -> None:
    url = config.database.url
    if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError(
            "database.url: must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    if config.database.sqlite_synchronous not in ("normal", "full"):
        raise ConfigError('database.sqlite_synchronous: must be "normal" or "full", '
                          f"got {config.database.sqlite_synchronous!r}")


def _check_bus(config: Config) -> None:
    if urlsplit(config.bus.url).scheme != "memory":
        raise ConfigError("bus.url: only memory:// is supported in this version")


def _check_moderation(config: Config) -> None:
    mod = config.moderation
    if mod.mode not in ("off", "manual"):
        raise ConfigError(f"moderation.mode: must be \"off\" or \"manual\", got {mod.mode!r}")
    if not 1 <= mod.max_text_length <= 1000:
        raise ConfigError("moderation.max_text_length: must be between 1 and 1000")
    if not 1 <= mod.max_author_length <= 100:
        raise ConfigError("moderation.max_author_length: must be between 1 and 100")
    if mod.max_per_minute < 0:
        raise ConfigError("moderation.max_per_minute: must be 0 (no limit) or more")
    if mod.max_per_minute_per_address < 0:
        raise ConfigError("moderation.max_per_minute_per_address: must be 0 (no limit) or more")


def _check_screen(config: Config) -> None:
    if not 1 <= config.screen.crossing_seconds <= 60:
        raise ConfigError("screen.crossing_seconds: must be between 1 and 60")
    if not 1 <= config.screen.max_waiting <= 10_000:
        raise ConfigError("screen.max_waiting: must be between 1 and 10000")
    if len(config.screen.join_text) > 200:
        raise ConfigError("screen.join_text: must be at most 200 characters")


def _check_telegram(config: Config) -> None:
    tg = config.telegram
    if tg.mode not in ("polling", "webhook"):
        raise ConfigError(f'telegram.mode: must be "polling" or "webhook", got {tg.mode!r}')
    if not tg.api_base_url.startswith(("http://", "https://")):
        raise ConfigError("telegram.api_base_url: must be an http(s) URL")
    if tg.admin_cache_seconds < 0:
        raise ConfigError("telegram.admin_cache_seconds: must not be negative")
    if tg.poll_timeout_seconds < 0:
        raise ConfigError("telegram.poll_timeout_seconds: must not be negative")
    if not tg.enabled:
        return
    if not tg.token:
        raise ConfigError("telegram.token: required when telegram.enabled (set BARRAGE_TELEGRAM_TOKEN)")
    if tg.mode == "webhook":
        secret = tg.webhook_secret.reveal()
        if not secret:
            raise ConfigError("telegram.webhook_secret: required in webhook mode "
                              "(set BARRAGE_TELEGRAM_WEBHOOK_SECRET)")
        # Telegram's own rule for secret_token: 1-256 of A-Z a-z 0-9 _ -
        if len(secret) > 256 or not all(c.isascii() and (c.isalnum() or c in "_-") for c in secret):
            raise ConfigError("telegram.webhook_secret: 1-256 characters of A-Z, a-z, 0-9, _ and -")
        _check_webhook_url(config.server.public_url)


def _check_webhook_url(public_url: str) -> None:
    if not public_url:
        raise ConfigError("server.public_url: required in telegram webhook mode (Telegram posts "
                          "updates to <public_url>/telegram/webhook)")
    if not public_url.startswith("https://"):
        # A local test Bot API server may call http; Telegram itself only calls HTTPS.
        logger.warning("server.public_url: %s is not https://; Telegram only delivers "
                       "webhooks to HTTPS addresses", public_url)


def _check_slack(config: Config) -> None:
    slack = config.slack
    if slack.mode not in ("http", "socket"):
        raise ConfigError(f'slack.mode: must be "http" or "socket", got {slack.mode!r}')
    if not slack.api_base_url.startswith(("http://", "https://")):
        raise ConfigError("slack.api_base_url: must be an http(s) URL")
    if not 1 <= slack.socket_ping_seconds <= 60:
        raise ConfigError("slack.socket_ping_seconds: must be between 1 and 60")
    if slack.member_cache_seconds < 0:
        raise ConfigError("slack.member_cache_seconds: must not be negative")
    if not slack.enabled:
        return
    if not slack.bot_token:
        raise ConfigError("slack.bot_token: required when slack.enabled (set BARRAGE_SLACK_BOT_TOKEN)")
    if slack.mode == "http" and not slack.signing_secret:
        raise ConfigError("slack.signing_secret: required in http mode (set BARRAGE_SLACK_SIGNING_SECRET)")
    if slack.mode == "socket" and not slack.app_token.reveal().startswith("xapp-"):
        raise ConfigError("slack.app_token: Socket Mode needs an app-level token starting with xapp- "
                          "(set BARRAGE_SLACK_APP_TOKEN)")


def warn_about_file_secrets(raw_path: str | Path | None) -> None:
    """Secrets belong in the environment; say so when the file carries one."""
    if raw_path is None:
        return
    try:
        raw = _read_toml(Path(raw_path))
    except ConfigError:
        return
    for section, key in SECRET_KEYS:
        if raw.get(section, {}).get(key):
            env = f"{ENV_PREFIX}{section.upper()}_{key.upper()}"
            logger.warning("%s.%s is set in the config file; prefer the env var %s",
                           section, key, env)
