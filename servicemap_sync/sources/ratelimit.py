"""One client-side rate limiter shared by every request of a run.

ARM throttles reads with a token bucket per subscription and principal (by default 250
requests, refilled at 25 per second). Following the same bucket on our side means a large
estate is fetched at the highest rate ARM allows without provoking 429s; the remaining-reads
header ARM returns pulls our bucket down when someone else spends the same budget; and a
``Retry-After`` pauses *every* worker, because the budget is shared.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DEFAULT_BUCKET = 250
DEFAULT_REFILL_PER_SECOND = 25.0


class RateLimiter:
    """A thread-safe token bucket with a global pause.

    Args:
        bucket: the burst size (ARM's read bucket).
        refill_per_second: tokens added per second.
        clock, sleep: injectable for tests; default to the monotonic clock.
    """

    def __init__(
        self,
        bucket: int = DEFAULT_BUCKET,
        refill_per_second: float = DEFAULT_REFILL_PER_SECOND,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if bucket < 1 or refill_per_second <= 0:
            raise ValueError("bucket must be >= 1 and refill_per_second > 0")
        self._bucket = float(bucket)
        self._refill = refill_per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(bucket)
        self._updated = clock()
        self._paused_until = 0.0

    def acquire(self) -> float:
        """Take one token, waiting for the bucket and any global pause. Returns seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._fill(now)
                delay = self._paused_until - now
                if delay <= 0:
                    if self._tokens >= 1 - 1e-9:  # float dust must not spin the loop
                        self._tokens = max(0.0, self._tokens - 1)
                        return waited
                    delay = (1 - self._tokens) / self._refill
            self._sleep(delay)
            waited += delay

    def pause(self, seconds: float) -> None:
        """Stop every caller for ``seconds`` (a 429's Retry-After applies to the whole budget)."""
        with self._lock:
            now = self._clock()
            self._fill(now)
            self._paused_until = max(self._paused_until, now + seconds)
            self._tokens = 0.0

    def observe_remaining(self, remaining: int) -> None:
        """Lower our bucket to what the server says is left, so we slow down as it runs dry."""
        with self._lock:
            self._fill(self._clock())
            self._tokens = min(self._tokens, float(max(remaining, 0)))

    def _fill(self, now: float) -> None:
        self._tokens = min(self._bucket, self._tokens + (now - self._updated) * self._refill)
        self._updated = now
