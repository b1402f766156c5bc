"""The log helpers: repeated lines are rate-limited per message template, secrets are
masked, and with `--log-format json` (or logging.format = "json") every line a real
`barrage serve` writes is one JSON object."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.core import logcontext
from server.logs import (
    ContextFilter,
    JsonFormatter,
    RedactingFilter,
    RepeatFilter,
    configure_logging,
    quiet_libraries,
)
from tests.server_process import ADMIN_TOKEN, AUTH, ROOT, ServerProcess
from tests.sse import next_block
from tests.test_workers import children_of


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
            for added in [f for f in each.filters if isinstance(f, ContextFilter)]:
                each.removeFilter(added)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def test_quiet_libraries_never_speak_below_the_configured_level() -> None:
    saved = logging.getLogger("httpx").level, logging.getLogger("telegram").level
    try:
        quiet_libraries(floor=logging.ERROR)
        assert logging.getLogger("telegram").getEffectiveLevel() == logging.ERROR
        quiet_libraries(floor=logging.DEBUG)
        assert logging.getLogger("telegram").getEffectiveLevel() == logging.INFO
        assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
    finally:
        logging.getLogger("httpx").setLevel(saved[0])
        logging.getLogger("telegram").setLevel(saved[1])


def json_handler(*secrets_: str) -> tuple[logging.Handler, io.StringIO]:
    """A handler as configure_logging makes it in JSON mode, writing to a string."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter(secrets_))
    handler.setFormatter(JsonFormatter())
    return handler, out


def test_a_json_line_is_one_object_with_its_context_and_traceback() -> None:
    handler, out = json_handler("configured-secret-value")
    logger = logging.getLogger("tests.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with logcontext.bound(request_id="req-1", room="main"):
            try:
                raise ValueError("configured-secret-value\nsecond line")
            except ValueError:
                logger.exception("failed\r\nforged %s \x1b[31m", "ok", extra={"barrage_id": 7})
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(line.isascii() for line in lines)
    first, second = (json.loads(line) for line in lines)
    assert first["msg"] == "failed\r\nforged ok \x1b[31m" and first["level"] == "error"
    assert (first["logger"], first["request_id"], first["room"], first["barrage_id"]) == (
        "tests.json", "req-1", "main", 7)
    assert first["traceback"].startswith("Traceback") and "ValueError: [redacted]" in first["traceback"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert set(second) == {"ts", "level", "logger", "msg"}  # nothing known: no context keys
    assert "configured-secret-value" not in out.getvalue()


def test_a_secret_sent_as_a_request_id_is_masked() -> None:
    handler, out = json_handler("configured-secret-value")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "hello", None, None)
    with logcontext.bound(request_id="x-configured-secret-value"):
        handler.handle(record)
    assert json.loads(out.getvalue())["request_id"] == "x-[redacted]"


# --- a real `barrage serve` --------------------------------------------------------------------

REQUIRED = {"ts", "level", "logger", "msg"}


async def log_says(server: ServerProcess, text: str) -> None:
    for _ in range(1200):
        if text in server.log_text():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the log never said {text!r}:\n{server.log_text()}")


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of a process's output, each parsed: fails naming the first that is no object."""
    parsed = []
    for line in text.splitlines():
        try:
            each = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
        assert isinstance(each, dict) and REQUIRED <= each.keys(), line
        parsed.append(each)
    return parsed


async def drive(server: ServerProcess) -> dict[str, Any]:
    """A submission, its approval, a 404, a bad request and a stream, each with its own id."""
    url = server.url
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/api/barrages", json={"text": "hello"},
                             headers={"X-Request-ID": "req-submit"}) as resp:
            assert resp.status == 201 and resp.headers["X-Request-ID"] == "req-submit"
            barrage = (await resp.json())["id"]
        async with http.post(f"{url}/api/barrages/{barrage}/approve",
                             headers={**AUTH, "X-Request-ID": "req-approve"}) as resp:
            assert resp.status == 200
        async with http.get(f"{url}/no/such/page", headers={"X-Request-ID": "req-404"}) as resp:
            assert resp.status == 404 and resp.headers["X-Request-ID"] == "req-404"
        async with http.post(f"{url}/api/barrages", data="{not json", headers={
                "X-Request-ID": "req-bad", "Content-Type": "application/json"}) as resp:
            assert resp.status == 400
        # The admin token as a request id: logged as the refusal's request_id, masked.
        async with http.get(f"{url}/api/stats", headers={"X-Request-ID": ADMIN_TOKEN}) as resp:
            assert resp.status == 401 and resp.headers["X-Request-ID"] == ADMIN_TOKEN
        async with http.get(f"{url}/stream", headers={"X-Request-ID": "req-stream"}) as stream:
            assert stream.headers["X-Request-ID"] == "req-stream"
            await next_block(stream)  # open and serving
    return {"barrage": barrage}


@pytest.mark.parametrize("how", ["flag", "env"])
async def test_every_line_of_a_real_server_is_a_json_object(tmp_path: Path, how: str) -> None:
    env = {"BARRAGE_LOGGING_LEVEL": "debug"}
    server = ServerProcess(tmp_path, env={**env, "BARRAGE_LOGGING_FORMAT": "json"} if how == "env" else env,
                           args=["--log-format", "json"] if how == "flag" else [])
    await server.start()
    try:
        seen = await drive(server)
    finally:
        assert await server.stop() == 0
    text = server.log.read_text()
    lines = json_lines(text)
    assert ADMIN_TOKEN not in text
    banner = next(line for line in lines if "urls" in line)
    assert banner["urls"]["screen"] == f"{server.url}/screen" and "barrage is up" in banner["msg"]

    def of(request_id: str) -> list[dict[str, Any]]:
        return [line for line in lines if line.get("request_id") == request_id]

    assert any("/no/such/page -> 404" in line["msg"] for line in of("req-404"))
    assert any("-> 400" in line["msg"] for line in of("req-bad"))
    assert any("-> 401" in line["msg"] for line in of("[redacted]"))
    stored = [line for line in of("req-submit") if line["msg"].endswith("stored as pending")]
    assert [(line["barrage_id"], line["room"]) for line in stored] == [(seen["barrage"], "main")]
    approved = [line for line in of("req-approve") if "approved" in line["msg"]]
    assert approved and approved[0]["barrage_id"] == seen["barrage"] and approved[0]["event_id"] > 0
    assert {line["level"] for line in lines} >= {"debug", "info"}


async def test_the_configured_level_filters_lines(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    file_token = "a-token-written-in-the-file"
    config.write_text(f'[server]\nadmin_token = "{file_token}"\n'
                      '[logging]\nformat = "json"\nlevel = "warning"\n')
    server = ServerProcess(tmp_path, env={"BARRAGE_CONFIG": str(config)})
    await server.start()
    try:
        await drive(server)
    finally:
        assert await server.stop() == 0
    lines = json_lines(server.log.read_text())
    logged = [line for line in lines if "urls" not in line]  # the banner is output, always written
    # The later positive signal: the file's secret is warned about (a warning gets through).
    assert any("server.admin_token is set in the config file" in line["msg"] for line in logged)
    assert {line["level"] for line in logged} <= {"warning", "error", "critical"}
    assert file_token not in server.log.read_text()


async def test_the_text_format_stays_the_default(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    await server.start()
    try:
        await drive(server)
    finally:
        assert await server.stop() == 0
    text = server.log.read_text()
    assert "barrage is up:\n  screen    " in text and "-> 404 Not Found" in text
    logged = [line for line in text.splitlines() if re.match(r"\d{4}-\d\d-\d\d ", line)]
    assert logged and all(re.match(r"[\d-]+ [\d:,]+ [A-Z]+ [\w.]+: ", line) for line in logged)
    assert not any(line.startswith("{") for line in text.splitlines())


async def test_workers_and_their_supervisor_write_json_too(tmp_path: Path) -> None:
    env = {"BARRAGE_BUS_URL": "redis://127.0.0.1:6379/0", "BARRAGE_BUS_CHANNEL": f"t_{secrets.token_hex(6)}"}
    server = ServerProcess(tmp_path, env=env, args=["--workers", "2", "--log-format", "json"])
    await server.start()
    try:
        assert server.proc is not None
        await log_says(server, "barrage is up")  # worker 0 is up, not only worker 1
        os.kill(children_of(server.proc.pid)[1], signal.SIGKILL)  # a worker crashes
        await log_says(server, "starting it again")
    finally:
        assert await server.stop() == 0
    lines = json_lines(server.log.read_text())
    again = [line for line in lines if "starting it again" in line["msg"]]
    assert again and again[0]["logger"] == "server.workers" and again[0]["level"] == "warning"
    assert next(line for line in lines if "urls" in line)["workers"] == 2


SCRIPT = """
import threading, warnings
from server.logs import configure_logging
configure_logging(style="json")
warnings.warn("a library's warning", DeprecationWarning, stacklevel=1)
thread = threading.Thread(target=lambda: 1 / 0, name="worker-thread")
thread.start(); thread.join()
class Finalized:
    def __del__(self):
        raise ValueError("raised in a finalizer")
Finalized()
print("stdout is ours", flush=True)
raise RuntimeError("uncaught at the top")
"""


async def test_warnings_and_uncaught_exceptions_are_json_objects(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-W", "always", "-c", SCRIPT, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1 and out == b"stdout is ours\n"
    lines = json_lines(err.decode())
    assert [line["logger"] for line in lines] == ["py.warnings", "barrage", "barrage", "barrage"]
    assert "a library's warning" in lines[0]["msg"]
    assert "worker-thread" in lines[1]["msg"] and "ZeroDivisionError" in lines[1]["traceback"]
    assert "Finalized" in lines[2]["msg"] and "raised in a finalizer" in lines[2]["traceback"]
    assert lines[3]["level"] == "critical" and "RuntimeError: uncaught at the top" in lines[3]["traceback"]
