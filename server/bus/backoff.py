"""Exponential backoff with jitter, reset by a success."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self._first = first
        self._cap = cap
        self._failures = 0

    def next(self) -> float:
        """The next delay: doubling up to `cap`, the upper half of it at random, so that
        nodes losing one broker together do not all knock again at the same moment."""
        delay = min(self._cap, self._first * 2 ** min(self._failures, 30))
        self._failures += 1
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self._failures = 0
