"""The fan-out's replay history: exact when it covers the asked range, None when it does not."""

from __future__ import annotations

import asyncio
import random

from server.core.model import Event, EventKind
from server.web.fanout import Audience, Client, FanOut, Frame, History


def frame(event_id: int) -> Frame:
    return Frame.of(b"id: %d\n\n" % event_id, event_id)


def ids(frames: list[Frame] | None) -> list[int] | None:
    return None if frames is None else [f.id for f in frames]


def test_history_covers_only_what_it_holds() -> None:
    history = History(size=3)
    history.reset(10)  # ids up to 10 live only in the database
    assert ids(history.after(10)) == [] and history.after(9) is None
    for event_id in (12, 15, 16):  # gaps: other event kinds are not screen frames
        history.add(frame(event_id))
    assert ids(history.after(10)) == [12, 15, 16]
    assert ids(history.after(13)) == [15, 16]
    assert history.latest == 16


def test_history_is_bounded_and_knows_what_it_dropped() -> None:
    history = History(size=3)
    history.reset(0)
    for event_id in range(1, 8):
        history.add(frame(event_id))
    assert len(history._ids) <= 6
    assert history.after(0) is None  # 1 was dropped
    assert ids(history.after(history.covered_from)) == list(range(history.covered_from + 1, 8))


def test_reset_keeps_frames_newer_than_the_log_end() -> None:
    history = History(size=10)
    history.add(frame(5))
    history.add(frame(6))
    history.reset(5)  # the database read saw up to 5; 6 arrived meanwhile
    assert ids(history.after(5)) == [6]


def test_history_is_bounded_in_bytes_too() -> None:
    big = Frame.of(b"x" * 1000, 0)
    history = History(size=1000, max_bytes=10 * big.size)
    history.reset(0)
    for event_id in range(1, 101):
        history.add(Frame(event_id, big.raw, big.chunk))
        held = history.after(history.covered_from)
        assert held is not None and sum(f.size for f in held) <= 2 * 10 * big.size
    assert history.after(0) is None  # the oldest went, and the history says so
    assert ids(history.after(95)) == [96, 97, 98, 99, 100]


def event(event_id: int, kind: EventKind = EventKind.BARRAGE) -> Event:
    return Event(event_id, kind, {"id": event_id, "text": "hi"})


def test_a_gap_in_the_events_followed_empties_the_history() -> None:
    fanout = FanOut(max_buffer_bytes=1 << 20, heartbeat_seconds=15)
    fanout.history.reset(0)
    for each in (event(1), event(2, EventKind.PENDING), event(4)):  # 3 never arrived
        fanout.on_event(each)
    assert fanout.history.after(0) is None and fanout.history.after(2) is None
    assert ids(fanout.history.after(3)) == [4]
    fanout.on_event(event(5, EventKind.MODE))
    fanout.on_event(event(6))
    assert ids(fanout.history.after(3)) == [4, 6]  # contiguous again from 4


def test_an_event_delivered_twice_or_late_is_held_once() -> None:
    fanout = FanOut(max_buffer_bytes=1 << 20, heartbeat_seconds=15)
    fanout.history.reset(0)
    for event_id in (1, 2, 2, 1, 3):
        fanout.on_event(event(event_id))
    assert ids(fanout.history.after(0)) == [1, 2, 3]


def test_frames_before_the_reset_that_do_not_continue_the_log_end_are_not_vouched_for() -> None:
    history = History(size=10)
    for event_id in (8, 9):  # 6 and 7 went missing before the log's end (5) was read
        assert history.follow(event_id)
        history.add(frame(event_id))
    history.reset(5)
    assert history.after(5) is None and history.after(6) is None
    assert ids(history.after(7)) == [8, 9]


def test_whatever_arrives_the_history_answers_exactly_or_not_at_all() -> None:
    """Random logs delivered with losses, repeats and late events: every answer the
    history gives holds every screen event after the asked id, once, in order."""
    rng = random.Random(10)
    for _ in range(200):
        kinds = {i: rng.choice((EventKind.BARRAGE, EventKind.BARRAGE, EventKind.PENDING))
                 for i in range(1, 60)}
        fanout = FanOut(max_buffer_bytes=1 << 20, heartbeat_seconds=15, history=rng.choice((5, 50)))
        start = rng.randrange(0, 10)
        delivered = [i for i in kinds if rng.random() > 0.05]  # a few lost
        delivered += rng.sample(delivered, 5)  # and a few again, late
        delivered.sort(key=lambda i: i + rng.choice((0, 0, 0, 3)))
        before = [i for i in delivered if rng.random() < 0.1 and i <= start + 3]
        for event_id in before:
            fanout.on_event(event(event_id, kinds[event_id]))
        fanout.history.reset(start)
        for event_id in delivered:
            fanout.on_event(event(event_id, kinds[event_id]))
            for asked in range(start, event_id + 1):
                held = fanout.history.after(asked)
                screen = [i for i in range(asked + 1, fanout.history.latest + 1)
                          if kinds[i] is EventKind.BARRAGE]
                assert held is None or ids(held) == screen, (asked, ids(held), screen)


def test_a_retract_drops_the_barrage_from_history() -> None:
    fanout = FanOut(max_buffer_bytes=1 << 16, heartbeat_seconds=60)
    fanout.history.reset(0)
    for event_id, barrage_id in ((1, 7), (2, 8)):
        fanout.on_event(Event(event_id, EventKind.BARRAGE, {"id": barrage_id, "text": "x"}))
    fanout.on_event(Event(3, EventKind.RETRACT, {"id": 7, "room": "main", "by": "Alice"}))
    assert ids(fanout.history.after(0)) == [2, 3]
    assert fanout.history.after(0)[0].barrage == 8


async def test_streams_are_counted_by_audience_and_room() -> None:
    fanout = FanOut(max_buffer_bytes=1 << 20, heartbeat_seconds=15)
    clients = [Client(audience, asyncio.Transport(), True, 0, False, room=room) for audience, room in (
        (Audience.SCREEN, "main"), (Audience.SCREEN, "main"), (Audience.SCREEN, "hall"),
        (Audience.ADMIN, None), (Audience.ADMIN, "hall"))]
    for client in clients:
        fanout.attach(client)
    assert fanout.streams() == {(Audience.SCREEN, "main"): 2, (Audience.SCREEN, "hall"): 1,
                                (Audience.ADMIN, None): 1, (Audience.ADMIN, "hall"): 1}
    for client in clients:
        fanout.detach(client)
    assert fanout.streams() == {}
