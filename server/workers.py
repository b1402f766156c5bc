"""`barrage serve --workers N`: N worker processes on one port, under one parent.

Each worker is a complete `barrage serve` (forked once the config is loaded, before
any event loop or thread exists) that listens with SO_REUSEPORT, so the kernel
spreads connections over them. They share nothing in memory: the database and the
bus carry everything between them, which is why `memory://` is refused with N > 1.

The parent only supervises:
- SIGINT or SIGTERM: every worker gets SIGTERM (each ends its streams and stops),
  and whatever is still running after STOP_SECONDS is killed;
- a worker that exits on its own is started again, unless workers keep dying right
  after starting (a port in use, the database down): then all stop and the parent
  exits with 1, rather than spinning. A worker refused at start with exit code 2
  (an old schema with database.auto_migrate = false) stops them all with 2.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

STOP_SECONDS = 8.0      # SIGTERM to kill; under the 10 s a service manager waits
EARLY_EXIT_SECONDS = 5.0  # a worker dying this soon after its start counts as a crash
MAX_EARLY_EXITS = 3
POLL_SECONDS = 0.1


class Supervisor:
    def __init__(self, count: int, serve: Callable[[int], int]) -> None:
        self._count = count
        self._serve = serve  # runs in the forked child with its index; returns the exit code
        self._children: dict[int, tuple[int, float]] = {}  # pid -> (index, started at)
        self._stopping_since: float | None = None
        self._early_exits = 0
        self._exit_code = 0

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        for index in range(self._count):
            self._start(index)
        while self._children:
            self._reap()
            self._kill_stragglers()
            time.sleep(POLL_SECONDS)
        return self._exit_code

    def _start(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker: its own signal handling comes with its event loop
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            code = 1
            try:
                code = self._serve(index)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                logger.exception("worker %d failed", index)
            finally:
                logging.shutdown()
                os._exit(code)
        self._children[pid] = (index, time.monotonic())

    def _reap(self) -> None:
        while self._children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            index, started = self._children.pop(pid)
            code = os.waitstatus_to_exitcode(status)
            if self._stopping_since is None:
                self._replace(index, code, time.monotonic() - started)

    def _replace(self, index: int, code: int, lived: float) -> None:
        self._early_exits = self._early_exits + 1 if lived < EARLY_EXIT_SECONDS else 0
        if code == 2 and lived < EARLY_EXIT_SECONDS:  # refused at start (the schema): so is every other
            self._exit_code = 2
            self._stop()
            return
        if self._early_exits >= MAX_EARLY_EXITS:
            logger.error("worker %d exited with %d %.1f s after it started, %d times in a row: "
                         "stopping (see the errors above)", index, code, lived, self._early_exits)
            self._exit_code = 1
            self._stop()
            return
        logger.warning("worker %d exited with %d; starting it again", index, code)
        self._start(index)

    def _stop(self, *_: object) -> None:
        if self._stopping_since is None:
            self._stopping_since = time.monotonic()
        for pid in self._children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _kill_stragglers(self) -> None:
        if self._stopping_since is None or time.monotonic() - self._stopping_since < STOP_SECONDS:
            return
        for pid in self._children:
            logger.warning("worker pid %d still running %.0f s after SIGTERM: killed", pid, STOP_SECONDS)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._stopping_since = time.monotonic()  # once per period, not in every poll
