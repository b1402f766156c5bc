"""The shipped manifests declare what the app needs: one paste creates a working app."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("name", "socket"), [("slack_manifest.yml", False),
                                              ("slack_manifest.socket.yml", True)])
def test_manifest(name: str, socket: bool) -> None:
    manifest = yaml.safe_load((ROOT / name).read_text())
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert set(commands) == {"/barrage", "/barrage-admin"}
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "im:history", "app_mentions:read", "users:read",
            "channels:read"} <= scopes
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {"app_mention", "message.im"}
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is socket
    urls = [c.get("url") for c in commands.values()] + [
        settings["event_subscriptions"].get("request_url"), settings["interactivity"].get("request_url")]
    if socket:
        assert not any(urls)
    else:
        assert all(url.endswith("/slack/events") for url in urls)
