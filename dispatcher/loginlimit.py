"""The login rate limit: failed logins counted per user name and per client address in
a sliding window. Past the limit a login is refused without checking the password
until the oldest counted failure leaves the window.

Memory is bounded: each key keeps at most `max_failures` times, and at most
`max_keys` keys are kept (the least recently failed go first). Nothing here
waits or does I/O, so it runs on the loop.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

MAX_KEYS = 10_000
MAX_KEY_CHARS = 256


class LoginLimiter:
    """Failures per key (`user:NAME`, `address:IP`) within a window."""

    def __init__(
        self, *, max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_keys = max_keys
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after(self, keys: Iterable[str], max_failures: int, window_s: float) -> float:
        """Seconds until a login for these keys may be tried again (0: now)."""
        now = self.clock()
        wait = 0.0
        for key in keys:
            times = self._failures.get(key[:MAX_KEY_CHARS])
            if times is None:
                continue
            while times and now - times[0] >= window_s:
                times.popleft()
            if len(times) >= max_failures:
                wait = max(wait, window_s - (now - times[-max_failures]))
        return wait

    def failed(self, keys: Iterable[str], max_failures: int) -> None:
        now = self.clock()
        for key in keys:
            short = key[:MAX_KEY_CHARS]
            times = self._failures.pop(short, None)
            if times is None or times.maxlen != max_failures:
                times = deque(times or (), maxlen=max_failures)
            times.append(now)
            self._failures[short] = times  # now the most recent
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def forget(self, key: str) -> None:
        self._failures.pop(key[:MAX_KEY_CHARS], None)
