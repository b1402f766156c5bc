"""Log hygiene: repeated lines are rate-limited, secrets never reach a handler.

`RepeatFilter` is attached by the modules whose lines a stranger can trigger
(the HTTP edge, the chat adapters' catch-alls, the store's "not writable"),
so a flood of identical failures costs a few lines a minute, not megabytes.
`configure_logging` is the entry point's: format, levels, and the redacting
filter on every root handler.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterable

WINDOW_SECONDS = 60.0
LINES_PER_WINDOW = 10
MAX_KEYS = 1000
# Libraries that log every request URL at INFO: the Telegram Bot API puts the bot
# token in the path (…/bot<TOKEN>/getUpdates), so httpx must stay at WARNING.
QUIET = {"httpx": logging.WARNING, "httpcore": logging.WARNING, "aiohttp.access": logging.WARNING,
         "telegram.ext.Updater": logging.INFO}


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

    def filter(self, record: logging.LogRecord) -> bool:
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


def quiet_libraries(levels: Iterable[tuple[str, int]] = QUIET.items()) -> None:
    for name, level in levels:
        logging.getLogger(name).setLevel(level)
