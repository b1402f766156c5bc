"""Configuration: config.toml, then `BARRAGE_<SECTION>_<KEY>` variables, then explicit overrides
(the CLI's), a later one winning key by key. One pydantic model per section (the chat ones live
in bot/), loaded by pydantic-settings and validated once, at start-up: a bad value stops start-up
with a message that starts with its key. Secrets are `Secret`s, never shown in a repr or a log."""

from __future__ import annotations

import importlib.util
import logging
import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.sources import InitSettingsSource, PydanticBaseSettingsSource, TomlConfigSettingsSource

from bot.slack.settings import SlackConfig
from bot.telegram.settings import TelegramConfig
from server.bus.settings import BusConfig
from server.core import i18n
from server.core.errors import InvalidInput
from server.core.model import ROOM_SLUG
from server.core.rules import RuleSpec, parse_seed
from server.core.secret import Secret
from server.core.section import Section, at_least, between, check

logger = logging.getLogger(__name__)

ENV_PREFIX = "BARRAGE_"
NO_LIMIT_OR_MORE = check(lambda value: value >= 0, "must be 0 (no limit) or more")
TOKEN_LENGTH = check(lambda token: not token or len(token.reveal()) >= 16,
                     "must be at least 16 characters (leave it empty to have one minted at each start)")


class ConfigError(ValueError):
    """A config value is missing or wrong; the message starts with the key."""


def _http_url(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https") and bool(urlsplit(url).netloc)


class ServerConfig(Section):
    host: Annotated[str, check(bool, "must not be empty")] = "127.0.0.1"
    port: Annotated[int, between(0, 65535)] = 8080
    public_url: Annotated[str, check(lambda url: not url or _http_url(url),
                                     "must be an http(s) URL such as https://wall.example.org")] = ""
    admin_token: Annotated[Secret, TOKEN_LENGTH] = Secret("")
    forwarded_hops: Annotated[int, between(0, 5)] = 0


class DatabaseConfig(Section):
    url: Annotated[str, check(lambda url: url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")),
                              "must start with sqlite+aiosqlite:// or postgresql+asyncpg://")] = (
        "sqlite+aiosqlite:///barrage.db")
    sqlite_synchronous: Literal["normal", "full"] = "normal"
    auto_migrate: bool = True


class ModerationConfig(Section):
    mode: Literal["off", "auto", "manual"] = "manual"
    max_text_length: Annotated[int, between(1, 1000)] = 100
    max_author_length: Annotated[int, between(1, 100)] = 32
    max_per_minute: Annotated[int, NO_LIMIT_OR_MORE] = 20
    max_per_minute_per_address: Annotated[int, NO_LIMIT_OR_MORE] = 1200
    # The minimum gap between two barrages of one sender; 0 = off.
    slow_mode_seconds: Annotated[float, between(0, 3600)] = 0
    # The same normalised text from the same sender within this long is refused ("already sent").
    repeat_seconds: Annotated[float, between(0, 3600)] = 60
    shadow_mute: bool = False  # muted senders are told nothing unusual (stored as rejected)
    autoban_after: Annotated[int, NO_LIMIT_OR_MORE] = 3  # blocked barrages that mute their sender; 0 = off
    autoban_window_minutes: Annotated[float, between(1, 10_080)] = 180
    autoban_minutes: Annotated[float, between(1, 525_600)] = 60
    pending_ttl_seconds: Annotated[float, NO_LIMIT_OR_MORE] = 300  # pending past this expires; 0 = never
    max_pending: Annotated[int, at_least(1)] = 1000  # past it, the oldest pending expires first


def _seed_file(path: str) -> str:
    """A seed file must be readable and every line a rule: checked at every start, so a typo
    stops the first start of a new wall, not a later one."""
    if path:
        seed_rules(path)
    return path


def seed_rules(path: str) -> list[RuleSpec]:
    """The rules of filter.seed_file (relative to the working directory); ValueError says why not."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return parse_seed(text, path)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


def _classifier(name: str) -> str:
    if name and importlib.util.find_spec("profanity_check") is None:
        raise ValueError(f"{name} is not installed: pip install 'barrage[classifier]' "
                         "(alt-profanity-check), or leave filter.classifier empty")
    return name


class FilterConfig(Section):
    # Rules for a new database, one a line (see the README's rule syntax); checked at every start.
    seed_file: Annotated[str, AfterValidator(_seed_file)] = ""
    links: Literal["allow", "review", "block"] = "review"
    # Needs the extra barrage[classifier]: configured without it, start-up stops.
    classifier: Annotated[Literal["", "profanity-check"], AfterValidator(_classifier)] = ""
    classifier_threshold: Annotated[float, between(0, 1)] = 0.8


class ScreenConfig(Section):
    join_text: Annotated[str, check(lambda text: len(text) <= 200, "must be at most 200 characters")] = ""
    crossing_seconds: Annotated[float, between(1, 60)] = 8.0
    max_waiting: Annotated[int, between(1, 10_000)] = 200
    # Nothing has flown for this long: the screen shows a large join QR code with the title.
    idle_seconds: Annotated[float, between(1, 3600)] = 20.0
    # An approved repeat of a text approved this recently does not fly again: the first shows ×N.
    merge_seconds: Annotated[float, between(0, 600)] = 10.0


class StreamConfig(Section):
    heartbeat_seconds: Annotated[float, check(lambda s: 0 < s <= 15, "must be above 0 and at most 15")] = 15.0
    max_buffer_bytes: Annotated[int, at_least(1024)] = 262_144
    retry_ms: Annotated[int, between(100, 60_000)] = 2000
    max_per_address: Annotated[int, at_least(1)] = 50
    max_streams: Annotated[int, at_least(1)] = 20_000


class RoomConfig(Section):
    """One `[[rooms]]` table: a room made on a database that lacks it (see server/core/rooms.py).
    What it leaves out comes from [moderation] and [screen]; the title defaults to the slug."""

    slug: Annotated[str, check(lambda slug: bool(ROOM_SLUG.fullmatch(slug)),
                               "must be 1-32 characters: a-z, 0-9 and -, starting with a letter or digit")]
    title: Annotated[str, check(lambda text: len(text) <= 100, "must be at most 100 characters")] = ""
    join_text: Annotated[str, check(lambda text: len(text) <= 200, "must be at most 200 characters")] = ""
    mode: Literal["off", "auto", "manual"] | None = None
    crossing_seconds: Annotated[float | None, check(lambda s: s is None or 1 <= s <= 60,
                                                    "must be between 1 and 60")] = None
    # Chats whose messages go to this room; its own moderators' chat, else the global one.
    telegram_chats: list[int] = Field(default_factory=list)
    slack_channels: list[str] = Field(default_factory=list)
    telegram_moderator_chat_id: int = 0
    slack_moderation_channel: str = ""


# The file and environment of the load under way. pydantic-settings asks a classmethod
# for its sources; a context variable hands it this load's, and a bare Config() none.
_SOURCES: ContextVar[tuple[PydanticBaseSettingsSource, ...]] = ContextVar("config_sources", default=())


class MetricsConfig(Section):
    """GET /metrics (Prometheus text): off unless enabled; with a token, Bearer is required."""

    enabled: bool = False
    token: Annotated[Secret, check(lambda token: not token or len(token.reveal()) >= 16,
                                   "must be at least 16 characters, or empty (no token)")] = Secret("")


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


class LoggingConfig(Section):
    format: Literal["text", "json"] = "text"
    # INFO and info alike, as the environment is often written
    level: Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lower)] = "info"


class UiConfig(Section):
    """The language people read: pages, bot replies, cards. `auto`: each reader's own
    (Accept-Language, Telegram's language_code, Slack's locale), else English."""

    language: Literal["auto", "en", "zh-CN"] = "auto"


class Config(BaseSettings):
    # case_sensitive: [SERVER] is an unknown section, as BARRAGE_server_port is no variable of ours.
    model_config = SettingsConfigDict(extra="forbid", frozen=True, case_sensitive=True)

    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    bus: BusConfig = BusConfig()
    moderation: ModerationConfig = ModerationConfig()
    filter: FilterConfig = FilterConfig()
    screen: ScreenConfig = ScreenConfig()
    stream: StreamConfig = StreamConfig()
    telegram: TelegramConfig = TelegramConfig()
    slack: SlackConfig = SlackConfig()
    rooms: list[RoomConfig] = Field(default_factory=list)
    metrics: MetricsConfig = MetricsConfig()
    logging: LoggingConfig = LoggingConfig()
    ui: UiConfig = UiConfig()

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, **_: Any
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, *_SOURCES.get())  # the first wins: overrides, env, file

    @model_validator(mode="after")
    def _rooms_once(self) -> Config:
        slugs = [room.slug for room in self.rooms]
        if twice := sorted({slug for slug in slugs if slugs.count(slug) > 1}):
            raise ValueError(f"rooms: room {twice[0]} is declared twice")
        chats = [(kind, chat) for room in self.rooms for kind, ids in
                 (("telegram chat", room.telegram_chats), ("slack channel", room.slack_channels))
                 for chat in ids]
        if twice := sorted({chat for chat in chats if chats.count(chat) > 1}):
            raise ValueError(f"rooms: {twice[0][0]} {twice[0][1]} is mapped to two rooms")
        return self

    @model_validator(mode="after")
    def _moderator_chats_once(self) -> Config:
        """A moderators' chat serves one room (its commands act on that room), or the global one."""
        for kind, key, default in (
                ("telegram_moderator_chat_id", "telegram", self.telegram.moderator_chat_id),
                ("slack_moderation_channel", "slack", self.slack.moderation_channel)):
            seen: dict[object, str] = {default: f"the global {key} one"} if default else {}
            for room in self.rooms:
                chat = getattr(room, kind)
                if chat and chat in seen:
                    raise ValueError(f"rooms: {kind} {chat} of room {room.slug} is already {seen[chat]}; "
                                     "leave it out to use the global one")
                if chat:
                    seen[chat] = f"room {room.slug}'s"
        return self

    @model_validator(mode="after")
    def _webhook_needs_public_url(self) -> Config:
        if not (self.telegram.enabled and self.telegram.mode == "webhook"):
            return self
        if not self.server.public_url:
            raise ValueError("server.public_url: required in telegram webhook mode (Telegram posts "
                             "updates to <public_url>/telegram/webhook)")
        if not self.server.public_url.startswith("https://"):
            # A local test Bot API server may call http; Telegram itself only calls HTTPS.
            logger.warning("server.public_url: %s is not https://; Telegram only delivers "
                           "webhooks to HTTPS addresses", self.server.public_url)
        return self

    def base_url(self) -> str:
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        host = self.server.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.server.port}"

    def join_url(self, room: str = "main") -> str:
        """Where a phone sends to the room: the /send page (with ?room= but for main)."""
        return f"{self.base_url()}/send" + ("" if room == "main" else f"?room={room}")

    def join_text(self, room: str = "main", text: str = "", language: str = i18n.DEFAULT) -> str:
        """What a screen and the bots' /start show: the room's own text, else the join URL
        (in `language`: the organizer's own text is theirs, the default is ours)."""
        if room == "main":
            text = text or self.screen.join_text
        return text or i18n.text("pages", language, "screen.join_default", url=self.join_url(room))


# The sections of one table each ([rooms] is an array of tables: neither env nor secrets).
SECTIONS = {name: field.annotation for name, field in Config.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, Section)}
SECRET_KEYS = {(section, key) for section, model in SECTIONS.items()
               for key, inner in model.model_fields.items() if inner.annotation is Secret}


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Config:
    """Read the file (if any), apply env and explicit overrides, validate."""
    sources: tuple[PydanticBaseSettingsSource, ...] = (_environment(os.environ if env is None else env),)
    if path is not None:
        sources += (_file(Path(path)),)
    loading = _SOURCES.set(sources)
    try:
        return Config(**(overrides or {}))
    except ValidationError as exc:
        raise _config_error(exc) from None
    finally:
        _SOURCES.reset(loading)


def _environment(env: Mapping[str, str]) -> InitSettingsSource:
    """`BARRAGE_<SECTION>_<KEY>` for each declared key, so a key may hold underscores
    (BARRAGE_MODERATION_MAX_PER_MINUTE_PER_ADDRESS). Other names are not ours: ignored."""
    found: dict[str, dict[str, str]] = {}
    for section, model in SECTIONS.items():
        for key in model.model_fields:
            if (name := f"{ENV_PREFIX}{section}_{key}".upper()) in env:
                found.setdefault(section, {})[key] = env[name]
    return InitSettingsSource(Config, found)


def _file(path: Path) -> TomlConfigSettingsSource:
    if not path.is_file():
        raise ConfigError(f"config file {path}: not found")
    try:
        return TomlConfigSettingsSource(Config, toml_file=path)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None


def _config_error(exc: ValidationError) -> ConfigError:
    """The first error, as `section.key: what is wrong`."""
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"][:2])  # an item's index stays out of the key
    if error["type"] == "extra_forbidden":
        text = "unknown key" if len(error["loc"]) > 1 else "unknown section"
    elif error["type"] == "value_error":
        text = str(error["ctx"]["error"])  # our checks' words, which never quote a secret
    else:
        text = f"{error['msg']}, got {error['input']!r}"
    return ConfigError(f"{key}: {text}" if key else text)


def warn_about_file_secrets(raw_path: str | Path | None) -> None:
    """Secrets belong in the environment; say so when the file carries one."""
    try:
        raw = _file(Path(raw_path)).toml_data if raw_path is not None else {}
    except ConfigError:
        return
    for section, key in sorted(SECRET_KEYS):
        if raw.get(section, {}).get(key):
            logger.warning("%s.%s is set in the config file; prefer the env var %s",
                           section, key, f"{ENV_PREFIX}{section.upper()}_{key.upper()}")
