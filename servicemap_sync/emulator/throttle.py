"""ARM's request throttle, as a token bucket.

ARM limits reads per principal with a bucket (250 requests, refilled at 25 per second) and
answers 429 with ``Retry-After`` when it is empty; the emulator copies that so a client's
pacing and back-off can be tested against something that pushes back the same way.
"""

from __future__ import annotations

import math
import threading
import time


class TokenBucket:
    """ARM's read throttle: ``capacity`` requests, refilled at ``rate`` per second."""

    def __init__(self, capacity: int, rate: float) -> None:
        self._capacity, self._rate = float(capacity), float(rate)
        self._tokens = float(capacity)
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def remaining(self) -> int:
        with self._lock:
            self._refill()
            return int(self._tokens)

    def take(self) -> tuple[bool, int, int]:
        """``(allowed, remaining, retry_after_seconds)``."""
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return True, int(self._tokens), 0
            wait = (1 - self._tokens) / self._rate if self._rate > 0 else 60
            return False, 0, max(1, math.ceil(wait))
