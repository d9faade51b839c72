"""The shared rate limiter, on a fake clock so the arithmetic is checked exactly."""

from __future__ import annotations

import pytest

from servicemap_sync.sources.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_burst_then_refill_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(250, 25.0, clock=clock, sleep=clock.sleep)
    for _ in range(250):
        assert limiter.acquire() == 0.0
    for _ in range(50):
        limiter.acquire()
    assert clock.now == pytest.approx(2.0)  # 50 tokens at 25/s


def test_retry_after_pauses_everyone() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, 10.0, clock=clock, sleep=clock.sleep)
    limiter.pause(3.0)
    limiter.acquire()
    assert clock.now >= 3.0


def test_remaining_header_lowers_the_bucket() -> None:
    clock = FakeClock()
    limiter = RateLimiter(250, 25.0, clock=clock, sleep=clock.sleep)
    limiter.observe_remaining(2)
    limiter.acquire()
    limiter.acquire()
    assert clock.now == 0.0
    limiter.acquire()
    assert clock.now == pytest.approx(1 / 25)


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, 1.0)
