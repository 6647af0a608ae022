"""A small in-process token bucket, keyed by caller, for login and token endpoints."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """``capacity`` attempts, refilled at ``per_second``; one bucket per key."""

    def __init__(self, capacity: int, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.per_second = per_second
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.capacity), now))
            tokens = min(self.capacity, tokens + (now - last) * self.per_second)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > 100_000:  # forget idle callers rather than grow without bound
                self._buckets.clear()
            return True
