"""The log helpers: repeated lines are rate-limited per message template."""

from __future__ import annotations

import logging

import pytest

from server.logs import RepeatFilter


def records(handler_logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == handler_logger.name]


def test_identical_lines_are_limited_per_template(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.repeat")
    repeat = RepeatFilter(limit=3, window=3600)
    logger.addFilter(repeat)
    try:
        for i in range(50):
            try:
                raise ValueError(i)
            except ValueError:
                logger.exception("failed on %s", i)
        logger.warning("another template %s", 1)
    finally:
        logger.removeFilter(repeat)
    lines = records(logger, caplog)
    assert [r.getMessage() for r in lines][:3] == [
        "failed on 0", "failed on 1 (ValueError; traceback logged earlier)",
        "failed on 2 (ValueError; traceback logged earlier) [repeated; more like this suppressed "
        "for up to a minute]"]
    assert lines[0].exc_info and not lines[1].exc_info  # one traceback, then one line each
    assert len(lines) == 4 and lines[3].getMessage() == "another template 1"


def test_the_next_window_reports_what_was_suppressed(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.repeat2")
    repeat = RepeatFilter(limit=1, window=0.0)  # every line opens a new window
    logger.addFilter(repeat)
    try:
        repeat._window = 3600
        for _ in range(5):
            logger.error("boom")
        repeat._window = 0.0
        logger.error("boom")
    finally:
        logger.removeFilter(repeat)
    assert [r.getMessage() for r in records(logger, caplog)] == [
        "boom", "boom [4 similar lines suppressed in the last minute]"]
