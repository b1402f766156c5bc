"""Admission for streams: at most `max_streams` open, at most `max_per_address` per address.

A stream holds a descriptor and a little memory for as long as the client likes,
and opening one costs a stranger nothing, so both are capped. Past a cap the
answer is 503 with Retry-After, never silence. Bounded itself: an address has
an entry only while it holds a stream.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

RETRY_AFTER_SECONDS = 30


class StreamSlots:
    def __init__(self, max_streams: int, max_per_address: int) -> None:
        self._max_streams = max_streams
        self._max_per_address = max_per_address
        self._by_address: Counter[str] = Counter()
        self.open = 0

    @contextmanager
    def hold(self, address: str) -> Iterator[None]:
        """One slot for the life of the block, or 503 if none is free."""
        self._admit(address)
        self.open += 1
        self._by_address[address] += 1
        try:
            yield
        finally:
            self.open -= 1
            self._by_address[address] -= 1
            if not self._by_address[address]:
                del self._by_address[address]

    def _admit(self, address: str) -> None:
        if self.open >= self._max_streams:
            raise _busy("the wall has as many streams open as it allows")
        if self._by_address[address] >= self._max_per_address:
            raise _busy("this address has as many streams open as it may")


def _busy(reason: str) -> web.HTTPServiceUnavailable:
    # Connection: close, or each refused retry would keep a descriptor for the idle timeout.
    return web.HTTPServiceUnavailable(reason=f"{reason}; try again later",
                                      headers={"Retry-After": str(RETRY_AFTER_SECONDS),
                                               "Connection": "close"})
