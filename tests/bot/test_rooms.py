"""The chat → room mapping and the room texts: pure."""

from __future__ import annotations

from bot.messages import ROOMS_LISTED, room_text, unknown_room_text
from bot.rooms import ALL_ROOMS, ChatRooms
from bot.slack.handlers import room_request
from server.core.model import Room

ROOMS = ChatRooms(chats={"-5": "hall-b"}, moderator_chats={"-9": "hall-b"}, default_moderator_chat="-1")


def test_a_room_with_its_own_moderators_chat_gets_its_cards_there_the_rest_the_global_one() -> None:
    assert ROOMS.moderator_chat("hall-b") == "-9"
    assert ROOMS.moderator_chat("main") == ROOMS.moderator_chat("hall-c") == "-1"
    assert ChatRooms().moderator_chat("main") == "" and not ChatRooms().posts_cards()
    assert ChatRooms(moderator_chats={"-9": "hall-b"}).posts_cards()


def test_operator_commands_act_on_the_room_whose_chat_they_are_typed_in() -> None:
    assert ROOMS.operator_room("-9") == "hall-b"
    assert ROOMS.operator_room("-1") == ALL_ROOMS
    assert ROOMS.operator_room("-5") is None and ROOMS.operator_room("") is None
    assert ChatRooms().operator_room("") is None  # no global chat: "" names none


def test_groups_map_to_rooms() -> None:
    assert ROOMS.room_of_chat("-5") == "hall-b" and ROOMS.room_of_chat("-6") is None


def test_slack_room_requests() -> None:
    assert room_request("room") == "" and room_request("Room hall-b") == "hall-b"
    assert room_request("room service is slow") is None and room_request("roomy") is None


def test_room_texts_list_a_bounded_number_of_rooms() -> None:
    rooms = [Room("main", "main")] + [Room(f"r{n}", f"R {n}") for n in range(ROOMS_LISTED + 5)]
    text = room_text(rooms[0], rooms, "/room <room>")
    assert "go to main" in text and "R 0 (r0)" in text and "and 6 more" in text  # main and 19 shown
    assert "No such room" in unknown_room_text("<!channel>", rooms[:2])
    assert "No room hall-z" in unknown_room_text("hall-z", rooms[:2])
