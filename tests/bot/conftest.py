"""The fake chat platforms, available to every bot test (cross-platform ones need both)."""

from tests.bot.slack.conftest import fake_slack
from tests.bot.telegram.conftest import fake_tg

__all__ = ["fake_slack", "fake_tg"]
