"""The log context: what a line is about, bound where it is known."""

from __future__ import annotations

from server.core import logcontext
from server.core.model import Event, EventKind


def test_the_event_a_subscriber_takes_is_the_context_of_its_lines() -> None:
    assert logcontext.of_event(Event(9, EventKind.BARRAGE, {"id": 4, "room": "hall"})) == {
        "event_id": 9, "room": "hall", "barrage_id": 4}
    assert logcontext.of_event(Event(10, EventKind.LOTTERY, {"id": 4, "room": "hall"}))["barrage_id"] is None
    with logcontext.bound(event_id=3):
        with logcontext.bound(event_id=None, room="r"):  # None keeps the outer value
            assert logcontext.current() == {"event_id": 3, "room": "r"}
    assert logcontext.current() == {}


def test_a_line_about_a_barrage_names_it_and_its_room() -> None:
    class Seen:  # a barrage's two fields that `about` reads
        id = 5
        room = "hall"

    assert logcontext.about(Seen()) == {"barrage_id": 5, "room": "hall"}
    assert logcontext.of_event("a raw broker message") == {}
