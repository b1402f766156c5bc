"""The database's epoch: its stored form and where a client from another epoch resumes."""

from __future__ import annotations

import pytest

from server.core.epoch import TOKEN, Epoch


def test_a_new_epoch_is_a_url_safe_token_and_survives_its_stored_form() -> None:
    epoch = Epoch.new(42)
    assert TOKEN.fullmatch(epoch.token) and epoch.start == 42
    assert Epoch.decode(epoch.encode()) == epoch
    assert Epoch.new(42).token != epoch.token


@pytest.mark.parametrize("value", ["", "abc", "abc:", ":12", "a b:1", "abc:-1", "abc:1.5", "abc:١٢"])
def test_a_stored_value_that_is_no_epoch_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        Epoch.decode(value)


def test_an_id_of_this_epoch_or_of_none_resumes_as_asked() -> None:
    epoch = Epoch("now", 50)
    assert epoch.resume_after(80, "now") == 80
    assert epoch.resume_after(80, None) == 80  # a tool that names no epoch: as before epochs


def test_an_id_of_another_epoch_resumes_at_most_from_where_the_logs_part() -> None:
    epoch = Epoch("now", 50)
    assert epoch.resume_after(80, "before") == 50  # 51..80 name other events now
    assert epoch.resume_after(30, "before") == 30  # 31..50 are in both logs: still to send
