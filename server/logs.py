"""Log hygiene: repeated lines are rate-limited, secrets never reach a handler.

`RepeatFilter` is attached to the loggers whose lines a stranger can trigger
(the HTTP edge and the store's "not writable" attach their own; the composition
root attaches the chat adapters' catch-alls, as bot/ imports nothing of server/
but its core), so a flood of identical failures costs a few lines a minute.
`configure_logging` is the entry point's: format, levels, and the redacting
filter on every root handler.

The JSON format (`logging.format = "json"`, `--log-format json`) is the standard library's
logging with `JsonFormatter`, a small formatter of our own, rather than python-json-logger
or structlog: a record is turned into one object by a dozen lines of `json.dumps`, the
redacting and repeat filters keep working on the records as they are (structlog would
replace the call sites and the records they filter), and the install gains no dependency.
In JSON mode everything the process writes goes through it, one object a line: the
banner (`Output`), warnings (`logging.captureWarnings`), uncaught exceptions of the main
thread, other threads and finalizers, and the CLI's own errors.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from server.core import logcontext

if TYPE_CHECKING:
    from server.config import Config

WINDOW_SECONDS = 60.0
LINES_PER_WINDOW = 10
MAX_KEYS = 1000
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
STYLES = ("text", "json")
# Libraries that would log what must not be logged, whatever the root level:
# - httpx logs every request URL at INFO, and the Bot API puts the bot token in the
#   path (…/bot<TOKEN>/getUpdates); python-telegram-bot's own examples quiet it;
# - python-telegram-bot logs whole updates at DEBUG ("Processing update …": users'
#   text and names); slack_sdk logs request bodies and headers at DEBUG (replies that
#   quote a participant's text, the Authorization header); Bolt logs payloads at DEBUG;
# - aiosqlite logs every statement with its parameters at DEBUG (the text again);
# - aiohttp's access log is one line per request (SSE clients included): noise.
QUIET = {"httpx": logging.WARNING, "httpcore": logging.WARNING, "aiohttp.access": logging.WARNING,
         "telegram": logging.INFO, "slack_sdk": logging.INFO, "slack_bolt": logging.INFO,
         "aiosqlite": logging.INFO,
         # Alembic tells its dialect at every run; server/store/schema.py logs each migration.
         "alembic": logging.WARNING}
# Shapes of credentials, masked wherever they appear: a Telegram bot token (also
# right after "/bot" in a Bot API URL), Slack bot/user/app tokens.
TOKEN_SHAPES = re.compile(
    r"(?<=/bot)\d+:[^/\s'\"]+"
    r"|\b\d{5,16}:[A-Za-z0-9_-]{30,}"
    r"|\bxox[abprse]-[A-Za-z0-9-]{6,}"
    r"|\bxapp-[A-Za-z0-9-]{6,}"
)
MASK = "[redacted]"
# Configured secrets shorter than this are not searched for: masking every "a" in
# the log would hide everything and protect nothing (Telegram allows a 1-character
# webhook secret; the admin token is at least 16).
MIN_SECRET_LENGTH = 8


class RepeatFilter(logging.Filter):
    """At most `limit` lines a minute per (level, message template); the first of
    each window keeps its traceback, the others are one line.

    The line that reaches the limit says that more are being suppressed; the
    first line of the next window says how many were.
    """

    def __init__(self, limit: int = LINES_PER_WINDOW, window: float = WINDOW_SECONDS) -> None:
        super().__init__()
        self._limit = limit
        self._window = window
        # key -> [window start, lines let through, lines suppressed]
        self._seen: OrderedDict[tuple[int, str], list[float]] = OrderedDict()
        # A logger's filters run in the logging thread's own time, unlocked: the store's writer
        # thread (server/store/writer.py) logs through the same ones as the loop.
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            return self._filter(record)

    def _filter(self, record: logging.LogRecord) -> bool:
        key = (record.levelno, str(record.msg))
        now = time.monotonic()
        state = self._seen.get(key)
        if state is None or now - state[0] >= self._window:
            suppressed = int(state[2]) if state else 0
            self._remember(key, [now, 1, 0])
            if suppressed:
                _annotate(record, f" [{suppressed} similar lines suppressed in the last minute]")
            return True
        if state[1] >= self._limit:
            state[2] += 1
            return False
        state[1] += 1
        _strip_traceback(record)
        if state[1] == self._limit:
            _annotate(record, " [repeated; more like this suppressed for up to a minute]")
        return True

    def reset(self) -> None:
        self._seen.clear()

    def _remember(self, key: tuple[int, str], state: list[float]) -> None:
        self._seen[key] = state
        self._seen.move_to_end(key)
        while len(self._seen) > MAX_KEYS:
            self._seen.popitem(last=False)


def _annotate(record: logging.LogRecord, note: str) -> None:
    record.msg = f"{record.msg}{note}"  # notes hold no "%": safe in a %-template


def _strip_traceback(record: logging.LogRecord) -> None:
    if record.exc_info and record.exc_info[1] is not None:
        record.msg = f"{record.msg} ({type(record.exc_info[1]).__name__}; traceback logged earlier)"
    record.exc_info = None
    record.exc_text = None
    record.stack_info = None


def limit_repeats(logger: logging.Logger) -> logging.Logger:
    """Attach a `RepeatFilter` to `logger` (once) and return it."""
    if not any(isinstance(f, RepeatFilter) for f in logger.filters):
        logger.addFilter(RepeatFilter())
    return logger


def quiet_libraries(levels: Iterable[tuple[str, int]] = QUIET.items(), floor: int = logging.NOTSET) -> None:
    """Each library at its quiet level, or at `floor` (the configured level) when that is
    higher: a library's own level overrides the root's, so `logging.level = "error"` would
    otherwise still let their INFO lines through."""
    for name, level in levels:
        logging.getLogger(name).setLevel(max(level, floor))


class RedactingFilter(logging.Filter):
    """A handler filter: masks configured secrets and token-shaped strings in the
    message, its arguments and its traceback, so a secret never reaches a handler's
    output. The second line of defence; the first is not logging them at all."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        found = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH} | set(self._secrets)
        self._secrets = sorted(found, key=len, reverse=True)  # a longer secret first

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return TOKEN_SHAPES.sub(MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad %-template: keep the template only
            message = str(record.msg)
        record.msg, record.args = self.redact(message), None
        for name in logcontext.FIELDS:  # a request id is the client's to choose: a secret too
            if isinstance(value := getattr(record, name, None), str):
                setattr(record, name, self.redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def secrets_of(config: Config) -> list[str]:
    from server.config import SECRET_KEYS

    values = [getattr(getattr(config, section), key).reveal() for section, key in SECRET_KEYS]
    return [v for v in values if v]


def configure_logging(level: int = logging.INFO, handler: logging.Handler | None = None,
                      style: str = "text") -> RedactingFilter:
    """The entry point's logging: one root handler (`handler`, or stderr), the
    redacting filter on every root handler, and the noisy libraries quieted.
    Add the configured secrets to the returned filter once the config is read, and
    call `restyle` when the config names another format or level."""
    root = logging.getLogger()
    if handler is None and not root.handlers:
        handler = logging.StreamHandler()
    if handler is not None:
        handler.setFormatter(TextFormatter())  # ours: `restyle` changes it
        root.addHandler(handler)
    redactor = RedactingFilter()
    for each in root.handlers:
        each.addFilter(ContextFilter())
        each.addFilter(redactor)
    restyle(style, level)
    return redactor


def restyle(style: str, level: int = logging.INFO) -> None:
    """Format and level of the handlers `configure_logging` set up. JSON also routes what
    would reach stderr past logging (warnings, uncaught exceptions) through it."""
    formatter = JsonFormatter() if style == "json" else TextFormatter()
    for each in logging.getLogger().handlers:
        if isinstance(each.formatter, TextFormatter | JsonFormatter):
            each.setFormatter(formatter)
    logging.getLogger().setLevel(level)
    quiet_libraries(floor=level)
    if style == "json":
        _everything_through_logging()


def _everything_through_logging() -> None:
    logging.captureWarnings(True)
    # A handler that fails prints "--- Logging error ---" and a traceback: not JSON.
    logging.raiseExceptions = False
    sys.excepthook = _uncaught
    threading.excepthook = lambda args: _uncaught(args.exc_type, args.exc_value, args.exc_traceback,
                                                  f"uncaught exception in thread {_name(args.thread)}")
    sys.unraisablehook = _unraisable


def _unraisable(args: Any) -> None:
    """An exception in a finalizer or a callback Python cannot raise ("Exception ignored in")."""
    try:
        what = f"{args.err_msg or 'Exception ignored in'}: {args.object!r}"[:500]
    except Exception:  # a repr that fails must not end here
        what = "Exception ignored"
    _uncaught(args.exc_type, args.exc_value, args.exc_traceback, what)


def _name(thread: threading.Thread | None) -> str:
    return thread.name if thread is not None else "?"


def _uncaught(kind: type[BaseException], value: BaseException | None, traceback: TracebackType | None,
              what: str = "uncaught exception") -> None:
    if value is None:
        value = kind()
    logging.getLogger("barrage").critical(what, exc_info=(kind, value, traceback))


class ContextFilter(logging.Filter):
    """A handler filter: the fields of the log context (server/core/logcontext.py) onto
    the record, where the call did not pass them itself in `extra`."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in logcontext.current().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


class TextFormatter(logging.Formatter):
    """The default format: `<time> <LEVEL> <logger>: <message>` and the traceback below."""

    def __init__(self) -> None:
        super().__init__(FORMAT)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: `ts` (UTC, ISO 8601), `level`, `logger`, `msg`, the log
    context's fields where known, a record's `details` (a dict) beside them, and the
    traceback as `traceback`. ASCII only (json escapes the rest), so no byte of a message,
    a control character or a line break included, can start a line of its own."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
                  .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in logcontext.FIELDS:
            if (value := getattr(record, name, None)) is not None:
                line[name] = value
        details = getattr(record, "details", None)
        if isinstance(details, dict):
            line.update({k: v for k, v in details.items() if k not in line})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["traceback"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


class Output:
    """What the CLI tells a person on stdout (the banner, `barrage db`'s answer) and its
    errors on stderr: as text (`barrage: …` for an error), or as one JSON object each.

    `say` writes past the handlers, as the print it replaces did: no level hides the
    banner, and the admin token minted for this run, which the redactor masks in every
    log line, is shown there, once, so the organizer can use it."""

    def __init__(self, style: str = "text") -> None:
        self.style = style

    def say(self, text: str, **details: Any) -> None:
        if self.style == "json":
            record = logging.LogRecord("server.cli", logging.INFO, __file__, 0, text, None, None)
            record.details = details
            text = JsonFormatter().format(record)
        print(text, flush=True)

    def fail(self, text: str, code: int) -> int:
        if self.style == "json":
            logging.getLogger("server.cli").error(text)  # through the redactor
        else:
            print(f"barrage: {text}", file=sys.stderr, flush=True)
        return code
