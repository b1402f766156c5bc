from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.replyto import ReplyTo
from bot.telegram.render import (
    callback_data,
    card_text,
    mute_data,
    parse_callback,
    parse_mute,
    parse_retract,
    retract_data,
    verdict_text,
)
from server.core.model import Barrage, Size, Source, Status, Verdict

NOW = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)


def barrage(**changes: object) -> Barrage:
    base = dict(id=12, text="Hello", author="Ann Lee", color="#ffffff", size=Size.MEDIUM,
                source=Source.TELEGRAM, status=Status.PENDING, created_at=NOW - timedelta(seconds=30),
                reply_to=ReplyTo(1, 2, "ann").dump())
    return Barrage(**{**base, **changes})  # type: ignore[arg-type]


def test_callback_data_round_trip_and_size() -> None:
    for verdict in Verdict:
        data = callback_data(verdict, 2**31 - 1)
        assert len(data.encode()) <= 64
        assert parse_callback(data) == (verdict, 2**31 - 1)


@pytest.mark.parametrize("data", [None, "", "v1:a", "v2:a:1", "v1:x:1", "v1:a:-1", "v1:a:1:2",
                                  "v1:a:" + "9" * 30, "v1:a:abc",
                                  "v1:a:2147483648", "v1:a:9999999999", "v1:a:0"])
def test_bad_callback_data_is_refused(data: str | None) -> None:
    assert parse_callback(data) is None


def test_retract_data_round_trips_and_is_never_a_verdict() -> None:
    assert retract_data(7) == "v1:x:7" and parse_retract("v1:x:7") == 7
    assert parse_callback(retract_data(7)) is None
    assert parse_retract(callback_data(Verdict.APPROVE, 7)) is None


@pytest.mark.parametrize("data", [None, "", "v1:x", "v2:x:1", "v1:x:0", "v1:x:abc", "v1:x:2147483648"])
def test_bad_retract_data_is_refused(data: str | None) -> None:
    assert parse_retract(data) is None


def test_mute_data_round_trips_and_is_nothing_else() -> None:
    assert mute_data(7) == "v1:m:7" and parse_mute("v1:m:7") == 7
    assert parse_callback(mute_data(7)) is None and parse_retract(mute_data(7)) is None
    assert parse_mute(retract_data(7)) is None and parse_mute(callback_data(Verdict.REJECT, 7)) is None
    assert len(mute_data(2**31 - 1).encode()) <= 64


@pytest.mark.parametrize("data", [None, "", "v1:m", "v2:m:1", "v1:m:0", "v1:m:telegram:1", "v1:m:2147483648"])
def test_bad_mute_data_is_refused(data: str | None) -> None:
    assert parse_mute(data) is None


def test_a_card_rejected_by_a_mute_says_who_muted() -> None:
    muted = barrage(status=Status.REJECTED, decided_by="Bob", decided_at=NOW, reason="muted")
    assert verdict_text(muted, NOW).endswith("🔇 Sender muted by Bob (message rejected)")
    assert verdict_text(barrage(status=Status.REJECTED, decided_by="Bob", decided_at=NOW), NOW).endswith(
        "❌ Rejected by Bob")


def test_a_retracted_card_says_who_removed_it() -> None:
    gone = barrage(status=Status.RETRACTED, decided_by="Bob", decided_at=NOW, retracted_by="Alice")
    assert verdict_text(gone, NOW).endswith("🗑 Removed by Alice")


def test_card_text_shows_text_author_username_source_age() -> None:
    text = card_text(barrage(), NOW)
    assert "“Hello”" in text and "Ann Lee (@ann)" in text and "telegram" in text and "30s ago" in text
    assert "more waiting" not in text
    assert "7 more waiting — use /moderate" in card_text(barrage(), NOW, waiting_behind=7)


def test_verdict_text_names_who_decided() -> None:
    done = barrage(status=Status.APPROVED, decided_by="Alice")
    assert verdict_text(done, NOW).endswith("✅ Approved by Alice")
    assert verdict_text(barrage(status=Status.REJECTED, decided_by="Bo"), NOW).endswith("❌ Rejected by Bo")


def test_a_slack_senders_card_shows_no_username() -> None:
    """Slack's reply target holds a user id where Telegram's holds the @username."""
    slack = barrage(source=Source.SLACK, reply_to=ReplyTo("CGENERAL", user="UANN").dump())
    assert "@" not in card_text(slack, NOW) and "(@ann)" in card_text(barrage(), NOW)


def test_a_card_names_its_room_when_given_one() -> None:
    assert "Room:" not in card_text(barrage(), NOW)
    assert card_text(barrage(), NOW, room="Hall B").splitlines()[3] == "Room: Hall B"
    assert "Room: Hall B" in verdict_text(barrage(status=Status.APPROVED, decided_by="Al"), NOW, "Hall B")


def test_a_first_with_repeats_says_how_many_sent_it() -> None:
    assert "×200 senders" in card_text(barrage(count=200), NOW)
    assert "senders" not in card_text(barrage(), NOW)
    assert "×3 senders" in verdict_text(barrage(count=3, status=Status.APPROVED, decided_by="Bo"), NOW)
