"""The fan-out's replay history: exact when it covers the asked range, None when it does not."""

from __future__ import annotations

from server.web.fanout import Frame, History


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
