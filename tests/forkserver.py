"""Starts `barrage serve` processes by fork, for tests that start and stop dozens of them.

    python -m tests.forkserver

A fresh `python -m server serve` spends ~2 s importing before it serves. This
process imports it all once; each child is then a server process of its own,
running `server.cli.main` exactly as `python -m server` does (its own event
loop, signal handlers, SIGINT to stop), ready in a fraction of a second.

Protocol, one JSON object a line. In: `{"argv", "env", "cwd", "log"}` starts a
child with that environment (replacing ours), working directory and output
file. Out: `{"started": pid}`, and `{"exited": pid, "code": n}` when one ends.
The children are ours, so only we can reap them.
"""

from __future__ import annotations

import json
import os
import select
import sys
from typing import Any

import server.cli

REAP_SECONDS = 0.02


def main() -> None:
    say({"ready": os.getpid()})
    while True:
        readable, _, _ = select.select([sys.stdin], [], [], REAP_SECONDS)
        if readable:
            line = sys.stdin.readline()
            if not line:
                return  # the test is gone; its children get SIGKILLed by it, or outlive nothing
            say({"started": spawn(json.loads(line))})
        reap()


def spawn(request: dict[str, Any]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(log, 1)
        os.dup2(log, 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)  # never read the commands meant for us
        code = server.cli.main(request["argv"])
    except BaseException as exc:  # the child must never return into our loop
        print(f"forked server failed: {exc!r}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def reap() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        say({"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
