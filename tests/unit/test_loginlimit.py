"""The login rate limit's window and its bounded memory."""

from __future__ import annotations

from dispatcher.loginlimit import MAX_KEY_CHARS, LoginLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_past_the_limit_wait_until_the_oldest_leaves_the_window() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock=clock)
    keys = ["user:bob", "address:10.0.0.1"]
    for _ in range(2):
        limiter.failed(keys, 3)
        clock.now += 1
    assert limiter.retry_after(keys, 3, 10.0) == 0
    limiter.failed(keys, 3)
    assert limiter.retry_after(keys, 3, 10.0) == 8.0  # the first failure leaves at 1010
    assert limiter.retry_after(["address:10.0.0.1"], 3, 10.0) == 8.0
    assert limiter.retry_after(["user:eve"], 3, 10.0) == 0
    clock.now += 8.0
    assert limiter.retry_after(keys, 3, 10.0) == 0
    limiter.failed(keys, 3)  # 2 of the last 3 are still in the window: one more allowed
    assert limiter.retry_after(keys, 3, 10.0) > 0
    limiter.forget("user:bob")
    assert limiter.retry_after(["user:bob"], 3, 10.0) == 0
    assert limiter.retry_after(["address:10.0.0.1"], 3, 10.0) > 0


def test_memory_is_bounded_by_keys_and_failures_per_key() -> None:
    limiter = LoginLimiter(max_keys=100, clock=Clock())
    for number in range(1000):
        limiter.failed([f"user:{number}"], 5)
    assert len(limiter) == 100
    assert limiter.retry_after(["user:999"], 1, 60.0) > 0  # the most recent are kept
    assert limiter.retry_after(["user:0"], 1, 60.0) == 0
    for _ in range(1000):
        limiter.failed(["user:many"], 5)
    assert len(limiter._failures["user:many"]) == 5
    limiter.failed(["user:" + "x" * 10_000], 5)
    assert max(len(key) for key in limiter._failures) == MAX_KEY_CHARS
