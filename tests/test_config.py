from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from server.config import Config, ConfigError, Secret, load_config, warn_about_file_secrets

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_config_loads_and_holds_no_secret() -> None:
    config = load_config(ROOT / "config.toml", env={})
    assert config.server.port == 8080 and config.moderation.mode == "manual"
    assert config.database.url == "sqlite+aiosqlite:///barrage.db" and config.bus.url == "memory://"
    assert not config.server.admin_token


def test_env_overrides_any_key() -> None:
    env = {"BARRAGE_SERVER_ADMIN_TOKEN": "s3cret-long-enough", "BARRAGE_SERVER_PORT": "9000",
           "BARRAGE_MODERATION_MODE": "off", "BARRAGE_SCREEN_CROSSING_SECONDS": "12.5"}
    config = load_config(ROOT / "config.toml", env=env)
    assert config.server.port == 9000 and config.moderation.mode == "off"
    assert config.screen.crossing_seconds == 12.5
    assert config.server.admin_token.matches("s3cret-long-enough")
    assert not config.server.admin_token.matches("s3cret-long-enoug")


def test_secrets_never_print() -> None:
    config = load_config(None, env={"BARRAGE_SERVER_ADMIN_TOKEN": "s3cret-long-enough"})
    assert "s3cret" not in repr(config) and "s3cret" not in str(config.server.admin_token)
    assert not Secret("").matches("")


@pytest.mark.parametrize(
    ("toml", "env", "key"),
    [
        ("[server]\nport = \"http\"\n", {}, "server.port"),
        ("", {"BARRAGE_SERVER_PORT": "99999"}, "server.port"),
        ("[moderation]\nmode = \"automatic\"\n", {}, "moderation.mode"),
        ("[database]\nurl = \"mysql://x\"\n", {}, "database.url"),
        ("[bus]\nurl = \"kafka://x\"\n", {}, "bus.url"),
        ("[server]\npublic_url = \"wall.example.org\"\n", {}, "server.public_url"),
        ("[server]\nprot = 1\n", {}, "server.prot"),
        ("[sever]\nport = 1\n", {}, "sever"),
        ("[stream]\nheartbeat_seconds = 30\n", {}, "stream.heartbeat_seconds"),
        ("[moderation]\nmax_text_length = 0\n", {}, "moderation.max_text_length"),
        ("[server\n", {}, "not valid TOML"),
        ("[telegram]\nenabled = true\n", {}, "telegram.token"),
        ("[telegram]\nenabled = true\nmode = \"webhook\"\n", {"BARRAGE_TELEGRAM_TOKEN": "1:x"},
         "telegram.webhook_secret"),
        ("[telegram]\nwebhook_secret = \"bad secret!\"\nmode = \"webhook\"\nenabled = true\n",
         {"BARRAGE_TELEGRAM_TOKEN": "1:x"}, "telegram.webhook_secret"),
        ("[telegram]\nmode = \"push\"\n", {}, "telegram.mode"),
        ("", {"BARRAGE_TELEGRAM_MODERATORS": "12,abc"}, "telegram.moderators"),
        ("[slack]\nenabled = true\n", {}, "slack.bot_token"),
        ("[slack]\nenabled = true\n", {"BARRAGE_SLACK_BOT_TOKEN": "xoxb-1"}, "slack.signing_secret"),
        ("[slack]\nenabled = true\nmode = \"socket\"\n", {"BARRAGE_SLACK_BOT_TOKEN": "xoxb-1"},
         "slack.app_token"),
        ("[slack]\nmode = \"rtm\"\n", {}, "slack.mode"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, toml: str, env: dict[str, str], key: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(path, env=env)


@pytest.mark.parametrize("url", ["memory://", "redis://127.0.0.1:6379/0", "rediss://cache:6380/2",
                                 "postgresql://barrage@db/wall", "postgres://db/wall"])
def test_every_bus_backend_is_a_valid_url(url: str) -> None:
    env = {"BARRAGE_BUS_URL": url, "BARRAGE_BUS_CHANNEL": "hall_2"}
    bus = load_config(None, env=env).bus
    assert (bus.url, bus.channel) == (url, "hall_2")
    assert load_config(None, env={}).bus.channel == "barrage"


def test_telegram_lists_from_env() -> None:
    config = load_config(None, env={"BARRAGE_TELEGRAM_MODERATORS": "12, 34",
                                    "BARRAGE_TELEGRAM_MODERATOR_CHAT_ID": "-100123"})
    assert config.telegram.moderators == [12, 34] and config.telegram.moderator_chat_id == -100123


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_the_per_address_backstop() -> None:
    assert load_config(None, env={}).moderation.max_per_minute_per_address == 1200
    assert load_config(ROOT / "config.toml", env={}).moderation.max_per_minute_per_address == 1200
    off = {"BARRAGE_MODERATION_MAX_PER_MINUTE_PER_ADDRESS": "0"}
    assert load_config(None, env=off).moderation.max_per_minute_per_address == 0
    bad = {"BARRAGE_MODERATION_MAX_PER_MINUTE_PER_ADDRESS": "-1"}
    with pytest.raises(ConfigError, match=r"moderation\.max_per_minute_per_address: must be 0"):
        load_config(None, env=bad)


TG = "[telegram]\nenabled = true\n"
TG_ENV = {"BARRAGE_TELEGRAM_TOKEN": "1:x", "BARRAGE_TELEGRAM_WEBHOOK_SECRET": "s"}


@pytest.mark.parametrize(
    ("toml", "env", "key"),
    [
        ("[telegram]\npoll_timeout_seconds = -1\n", {}, "telegram.poll_timeout_seconds"),
        ("[telegram]\nadmin_cache_seconds = -1\n", {}, "telegram.admin_cache_seconds"),
        ("[slack]\nmember_cache_seconds = -1\n", {}, "slack.member_cache_seconds"),
        ("[slack]\nsocket_ping_seconds = 0\n", {}, "slack.socket_ping_seconds"),
        ("", {"BARRAGE_SERVER_ADMIN_TOKEN": "x"}, "server.admin_token"),
        ("", {"BARRAGE_SERVER_ADMIN_TOKEN": "fifteen-chars!!"}, "server.admin_token"),
        ("[slack]\nmoderators = [12345]\n", {}, "slack.moderators"),
        ("[slack]\nmoderators = [\"U1\", 7]\n", {}, "slack.moderators"),
        ("", {"BARRAGE_SLACK_MODERATORS": "[1, 2]"}, "slack.moderators"),
        (TG + 'mode = "webhook"\n', TG_ENV, "server.public_url"),
        ('[database]\nsqlite_synchronous = "off"\n', {}, "database.sqlite_synchronous"),
        ("", {"BARRAGE_DATABASE_SQLITE_SYNCHRONOUS": "extra"}, "database.sqlite_synchronous"),
        # Every other check, one case each: the message starts with the key it checks.
        ('[server]\nhost = ""\n', {}, "server.host"),
        ("[server]\nport = 70000\n", {}, "server.port"),
        ('[server]\nport = "http"\n', {}, "server.port"),
        ("[server]\nport = true\n", {}, "server.port"),
        ("[server]\nforwarded_hops = 6\n", {}, "server.forwarded_hops"),
        ('[server]\npublic_url = "wall.example.org"\n', {}, "server.public_url"),
        ("[server]\nadmin_token = 12345678901234567\n", {}, "server.admin_token"),
        ("[server]\nprot = 1\n", {}, "server.prot"),
        ("server = 5\n", {}, "server"),
        ("[sever]\nport = 1\n", {}, "sever"),
        ('[database]\nurl = "mysql://x"\n', {}, "database.url"),
        ('[bus]\nurl = "kafka://x"\n', {}, "bus.url"),
        ("", {"BARRAGE_BUS_URL": "postgresql+asyncpg://db/x"}, "bus.url"),
        ('[bus]\nchannel = "Barrage"\n', {}, "bus.channel"),
        ("", {"BARRAGE_BUS_CHANNEL": ""}, "bus.channel"),
        ("", {"BARRAGE_BUS_CHANNEL": "x" * 49}, "bus.channel"),
        ('[bus]\nchannel = "a-b"\n', {}, "bus.channel"),
        ('[moderation]\nmode = "automatic"\n', {}, "moderation.mode"),
        ("[moderation]\nmax_text_length = 1001\n", {}, "moderation.max_text_length"),
        ("[moderation]\nmax_author_length = 0\n", {}, "moderation.max_author_length"),
        ("", {"BARRAGE_MODERATION_MAX_PER_MINUTE": "-1"}, "moderation.max_per_minute"),
        ("", {"BARRAGE_MODERATION_MAX_PER_MINUTE_PER_ADDRESS": "many"},
         "moderation.max_per_minute_per_address"),
        ("[screen]\ncrossing_seconds = 0.5\n", {}, "screen.crossing_seconds"),
        ("[screen]\nmax_waiting = 0\n", {}, "screen.max_waiting"),
        (f'[screen]\njoin_text = "{"x" * 201}"\n', {}, "screen.join_text"),
        ("[screen]\njoin_text = 5\n", {}, "screen.join_text"),
        ("[stream]\nheartbeat_seconds = 0\n", {}, "stream.heartbeat_seconds"),
        ("", {"BARRAGE_STREAM_HEARTBEAT_SECONDS": "16"}, "stream.heartbeat_seconds"),
        ("[stream]\nmax_buffer_bytes = 1023\n", {}, "stream.max_buffer_bytes"),
        ("[stream]\nretry_ms = 99\n", {}, "stream.retry_ms"),
        ("", {"BARRAGE_STREAM_MAX_PER_ADDRESS": "0"}, "stream.max_per_address"),
        ("", {"BARRAGE_STREAM_MAX_STREAMS": "0"}, "stream.max_streams"),
        ("", {"BARRAGE_TELEGRAM_ENABLED": "maybe"}, "telegram.enabled"),
        ('[telegram]\nmode = "push"\n', {}, "telegram.mode"),
        ("[telegram]\nenabled = true\n", {}, "telegram.token"),
        (TG + 'mode = "webhook"\n', {"BARRAGE_TELEGRAM_TOKEN": "1:x"}, "telegram.webhook_secret"),
        (TG + 'mode = "webhook"\n', {**TG_ENV, "BARRAGE_TELEGRAM_WEBHOOK_SECRET": "bad secret!"},
         "telegram.webhook_secret"),
        ('[telegram]\napi_base_url = "api.telegram.org"\n', {}, "telegram.api_base_url"),
        ("", {"BARRAGE_TELEGRAM_MODERATOR_CHAT_ID": "the group"}, "telegram.moderator_chat_id"),
        ("", {"BARRAGE_TELEGRAM_MODERATORS": "12,abc"}, "telegram.moderators"),
        ('[slack]\nmode = "rtm"\n', {}, "slack.mode"),
        ("[slack]\nenabled = true\n", {}, "slack.bot_token"),
        ("[slack]\nenabled = true\n", {"BARRAGE_SLACK_BOT_TOKEN": "xoxb-1"}, "slack.signing_secret"),
        ('[slack]\nenabled = true\nmode = "socket"\n', {"BARRAGE_SLACK_BOT_TOKEN": "xoxb-1"},
         "slack.app_token"),
        ('[slack]\napi_base_url = "slack.com/api"\n', {}, "slack.api_base_url"),
        ("[slack]\nsocket_ping_seconds = 61\n", {}, "slack.socket_ping_seconds"),
    ],
)
def test_each_message_starts_with_the_right_key(
    tmp_path: Path, toml: str, env: dict[str, str], key: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match="^" + re.escape(key) + ":"):
        load_config(path, env=env)


def test_admin_token_empty_means_mint_and_16_characters_pass() -> None:
    assert not load_config(None, env={"BARRAGE_SERVER_ADMIN_TOKEN": ""}).server.admin_token
    assert load_config(None, env={"BARRAGE_SERVER_ADMIN_TOKEN": "x" * 16}).server.admin_token


def test_slack_ids_are_strings() -> None:
    config = load_config(None, env={"BARRAGE_SLACK_MODERATORS": "U1, U2"})
    assert config.slack.moderators == ["U1", "U2"]
    config = load_config(None, env={}, overrides={"slack": {"moderators": ["U3"]}})
    assert config.slack.moderators == ["U3"]


def test_sqlite_synchronous(caplog: pytest.LogCaptureFixture) -> None:
    assert load_config(None, env={}).database.sqlite_synchronous == "normal"
    env = {"BARRAGE_DATABASE_SQLITE_SYNCHRONOUS": "full"}
    assert load_config(None, env=env).database.sqlite_synchronous == "full"


def test_webhook_without_https_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    env = {**TG_ENV, "BARRAGE_TELEGRAM_ENABLED": "true", "BARRAGE_TELEGRAM_MODE": "webhook"}
    with caplog.at_level(logging.WARNING, logger="server.config"):
        load_config(None, env={**env, "BARRAGE_SERVER_PUBLIC_URL": "https://wall.example.org"})
        assert not caplog.records
        load_config(None, env={**env, "BARRAGE_SERVER_PUBLIC_URL": "http://127.0.0.1:8080"})
    [warning] = caplog.records
    assert "server.public_url" in warning.getMessage() and "https://" in warning.getMessage()


def test_precedence_is_defaults_then_file_then_env_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[server]\nhost = "0.0.0.0"\nport = 1000\n[screen]\nmax_waiting = 7\n')
    env = {"BARRAGE_SERVER_PORT": "2000", "BARRAGE_SCREEN_MAX_WAITING": "8"}
    config = load_config(path, env=env)
    assert (config.server.host, config.server.port, config.screen.max_waiting) == ("0.0.0.0", 2000, 8)
    assert config.server.forwarded_hops == 0  # untouched keys keep their defaults
    config = load_config(path, env=env, overrides={"server": {"port": 3000}})
    assert (config.server.host, config.server.port, config.screen.max_waiting) == ("0.0.0.0", 3000, 8)


def test_other_environment_names_are_ignored() -> None:
    env = {"BARRAGE_SERVER_PROT": "1", "BARRAGE_CONFIG": "elsewhere.toml", "barrage_server_port": "1",
           "BARRAGE_SERVER": '{"port": 1}', "BARRAGE_SEVER_PORT": "1"}
    assert load_config(None, env=env).server.port == 8080


@pytest.mark.parametrize(("text", "value"), [("true", True), ("Yes", True), ("on", True), ("1", True),
                                             ("false", False), ("NO", False), ("off", False), ("0", False)])
def test_booleans_from_env(text: str, value: bool) -> None:
    assert load_config(None, env={"BARRAGE_TELEGRAM_ENABLED": text,
                                  "BARRAGE_TELEGRAM_TOKEN": "1:x"}).telegram.enabled is value


def test_lists_from_env_as_json_and_from_the_file(tmp_path: Path) -> None:
    assert load_config(None, env={"BARRAGE_TELEGRAM_MODERATORS": "[12, 34]"}).telegram.moderators == [12, 34]
    assert load_config(None, env={"BARRAGE_TELEGRAM_MODERATORS": ""}).telegram.moderators == []
    with pytest.raises(ConfigError, match=r"^telegram\.moderators: "):
        load_config(None, env={"BARRAGE_TELEGRAM_MODERATORS": "[12,"})
    path = tmp_path / "config.toml"
    path.write_text('[telegram]\nmoderators = [5, 6]\n[slack]\nmoderators = ["U5"]\n')
    config = load_config(path, env={})
    assert config.telegram.moderators == [5, 6] and config.slack.moderators == ["U5"]


@pytest.mark.parametrize(
    ("env", "secret"),
    [
        ({"BARRAGE_SERVER_ADMIN_TOKEN": "short-secret"}, "short-secret"),
        ({**TG_ENV, "BARRAGE_TELEGRAM_ENABLED": "1", "BARRAGE_TELEGRAM_MODE": "webhook",
          "BARRAGE_TELEGRAM_WEBHOOK_SECRET": "bad secret!"}, "bad secret!"),
        ({"BARRAGE_SLACK_ENABLED": "1", "BARRAGE_SLACK_MODE": "socket", "BARRAGE_SLACK_BOT_TOKEN": "xoxb-1",
          "BARRAGE_SLACK_APP_TOKEN": "xoxb-not-an-app-token"}, "xoxb-not-an-app-token"),
    ],
)
def test_errors_never_print_the_secret(env: dict[str, str], secret: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, env=env)
    assert secret not in str(caught.value)


def test_a_secret_in_the_file_works_and_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[server]\nadmin_token = "from-the-file-0123"\n')
    assert load_config(path, env={}).server.admin_token.matches("from-the-file-0123")
    with caplog.at_level(logging.WARNING, logger="server.config"):
        warn_about_file_secrets(path)
    [warning] = caplog.records
    assert "server.admin_token" in warning.getMessage()
    assert "BARRAGE_SERVER_ADMIN_TOKEN" in warning.getMessage()
    assert "from-the-file" not in warning.getMessage()


def test_only_load_config_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BARRAGE_SERVER_PORT", "9999")
    monkeypatch.setenv("SERVER", '{"port": 1}')  # pydantic-settings' own default naming
    assert Config().server.port == 8080
    assert load_config(None).server.port == 9999


def test_the_sections_are_frozen() -> None:
    config = load_config(None, env={})
    with pytest.raises(ValidationError):
        config.server.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(("toml", "said"), [
    ('[telegram]\nmoderator_chat_id = -9\n[[rooms]]\nslug = "b"\ntelegram_moderator_chat_id = -9\n',
     "telegram_moderator_chat_id -9 of room b is already the global telegram one"),
    ('[[rooms]]\nslug = "b"\nslack_moderation_channel = "CM"\n'
     '[[rooms]]\nslug = "c"\nslack_moderation_channel = "CM"\n',
     "slack_moderation_channel CM of room c is already room b's"),
    ('[[rooms]]\nslug = "b"\ntelegram_chats = [-5]\n[[rooms]]\nslug = "c"\ntelegram_chats = [-5]\n',
     "telegram chat -5 is mapped to two rooms"),
])
def test_a_chat_serves_one_room(tmp_path: Path, toml: str, said: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match="^rooms: " + re.escape(said)):
        load_config(path, env={})


def test_rooms_with_chats_of_their_own_load() -> None:
    rooms = [{"slug": "b", "telegram_chats": [-5], "telegram_moderator_chat_id": -8,
              "slack_channels": ["CB"], "slack_moderation_channel": "CMB"}, {"slug": "c"}]
    config = load_config(None, env={}, overrides={"telegram": {"moderator_chat_id": -9}, "rooms": rooms})
    assert config.rooms[0].telegram_chats == [-5] and config.rooms[1].telegram_moderator_chat_id == 0


@pytest.mark.parametrize(("level", "expected"),
                         [("INFO", "info"), ("Warning", "warning"), ("debug", "debug")])
def test_the_log_level_in_any_case(level: str, expected: str) -> None:
    assert load_config(None, env={"BARRAGE_LOGGING_LEVEL": level}).logging.level == expected


def test_a_bad_log_level_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^logging\.level"):
        load_config(None, env={"BARRAGE_LOGGING_LEVEL": "loud"})
