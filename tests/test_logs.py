"""The log helpers: repeated lines are rate-limited per message template."""

from __future__ import annotations

import logging

import pytest

from server.logs import RedactingFilter, RepeatFilter, configure_logging


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


BOT_TOKEN = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def redacted_line(redactor: RedactingFilter, *args: object, exc: BaseException | None = None) -> str:
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, args[0], args[1:] or None,
                               (type(exc), exc, exc.__traceback__) if exc else None)
    assert redactor.filter(record)
    return logging.Formatter().format(record)


def test_token_shapes_are_masked_in_message_args_and_traceback() -> None:
    redactor = RedactingFilter()
    line = redacted_line(redactor, "GET https://api.telegram.org/bot%s/getUpdates", BOT_TOKEN)
    assert BOT_TOKEN not in line and "AAHdq" not in line and "/bot[redacted]/getUpdates" in line
    assert "xoxb-" not in redacted_line(redactor, "token %s", "xoxb-1234-5678-abcdefABCDEF")
    assert "xapp-1-A0" not in redacted_line(redactor, "xapp-1-A0123-456-abcdef")
    assert "xoxp-" not in redacted_line(redactor, "user token xoxp-99-88-ff")
    try:
        raise RuntimeError(f"failed: http://127.0.0.1:1/bot{BOT_TOKEN}/getMe")
    except RuntimeError as exc:
        line = redacted_line(redactor, "boom", exc=exc)
    assert "Traceback" in line and BOT_TOKEN not in line


def test_configured_secrets_are_masked_and_short_ones_ignored() -> None:
    redactor = RedactingFilter(["signing-secret-value", "test-admin-token", "ab"])
    line = redacted_line(redactor, "a=%s b=%r", "signing-secret-value", {"t": "test-admin-token"})
    assert "signing-secret" not in line and "admin-token" not in line
    assert line.count("[redacted]") == 2
    assert redacted_line(redactor, "about abba") == "about abba"  # a 2-character secret is not searched


def test_the_entry_point_quiets_libraries_and_filters_every_root_handler() -> None:
    root = logging.getLogger()
    handler = logging.NullHandler()
    saved = {name: logging.getLogger(name).level for name in ("httpx", "telegram", "slack_sdk")}
    redactor = configure_logging(logging.DEBUG, handler)
    try:
        assert redactor in handler.filters and all(redactor in h.filters for h in root.handlers)
        assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("telegram.ext.Application").getEffectiveLevel() == logging.INFO
        assert logging.getLogger("slack_sdk.web.async_base_client").getEffectiveLevel() == logging.INFO
    finally:
        root.removeHandler(handler)
        for each in root.handlers:
            each.removeFilter(redactor)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
