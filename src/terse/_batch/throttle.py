"""When a batch job may start its next request: one pure object, no I/O, an injected clock.

`Throttle` combines four limits; a request starts only when all of them allow it:

- **Concurrency window.** At most ``window`` requests in flight. It starts at the job's
  concurrency; trouble from the server (a 429, a dropped connection) halves it, down to
  one, and each success grows it back by ``1/window`` (additive increase, multiplicative
  decrease, as TCP does), so a struggling server sees fewer requests, not just later ones.
- **Pause.** After trouble nobody starts a request until the pause ends: the server's
  ``Retry-After`` when it sent one, otherwise 1, 2, 4 … 60 seconds for consecutive
  troubles. Requests that fail together extend one pause rather than stacking many.
- **Requests per minute**, a token bucket holding one second's worth of requests.
- **Tokens per minute**, a token bucket that may go into debt: a request starts when the
  bucket is not in debt, reserving the mean tokens per request seen so far, and settles
  the difference when its true usage is known.

A server's usage report is not trusted blindly: one request counts for at most
`MAX_REQUEST_TOKENS` and at most a minute's worth of the token rate, and the bucket's debt
never exceeds one minute's worth — a provider's per-minute quota has reset by then,
whatever one request cost. A response claiming ``completion_tokens=10**12`` therefore
holds the job for at most about a minute (shown on the progress line), not for ever.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from .._exceptions import UsageError

__all__ = ["Bucket", "Throttle"]

MAX_BACKOFF = 60.0
"""Longest pause after trouble without a ``Retry-After`` (seconds)."""

MAX_RETRY_AFTER = 600.0
"""Longest pause a server's ``Retry-After`` can ask for (seconds)."""

MAX_REQUEST_TOKENS = 1 << 21
"""Most tokens one request is counted for (2,097,152: more than any model's context window)."""

MAX_DEBT_SECONDS = 60.0
"""Deepest the token bucket may go into debt, in seconds of its rate."""


class Bucket:
    """A token bucket refilled at ``rate`` per second up to ``capacity``; it may go into debt.

    The debt is bounded: the level never falls below ``-max_debt``.
    """

    def __init__(
        self, rate: float, capacity: float, now: float, max_debt: float = math.inf
    ) -> None:
        self.rate = rate
        self.capacity = capacity
        self.max_debt = max_debt
        self.level = capacity
        self._at = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self._at) * self.rate)
        self._at = now

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until the bucket holds ``amount``."""
        self.refill(now)
        return max(0.0, (amount - self.level) / self.rate)

    def take(self, amount: float, now: float) -> None:
        self.refill(now)
        self.level = max(-self.max_debt, self.level - amount)


class Throttle:
    """Decides when a batch job's next request may start (see the module docstring).

    Drivers call `delay` (wait while it is positive), then `begin` as the request starts,
    then `finish` with the tokens it used, and `trouble` when the server pushed back.
    """

    def __init__(
        self,
        concurrency: int,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise UsageError(f"concurrency must be an int >= 1, not {concurrency!r}")
        for name, value in (
            ("requests_per_minute", requests_per_minute),
            ("tokens_per_minute", tokens_per_minute),
        ):
            if value is not None and not value > 0:
                raise UsageError(f"{name} must be positive, not {value!r}")
        self.clock = clock
        now = clock()
        self.limit = concurrency
        self.window = float(concurrency)
        self.in_flight = 0
        self.paused_until = now
        self._troubled_since: float | None = None
        self._strikes = 0
        self._requests = None
        if requests_per_minute is not None:
            per_second = requests_per_minute / 60.0
            self._requests = Bucket(per_second, max(1.0, per_second), now)
        self._tokens = None
        if tokens_per_minute is not None:
            per_second = tokens_per_minute / 60.0
            self._tokens = Bucket(
                per_second, per_second, now, max_debt=per_second * MAX_DEBT_SECONDS
            )
        self.token_cap = MAX_REQUEST_TOKENS
        """Most tokens one request counts for."""
        if tokens_per_minute is not None:
            self.token_cap = max(1, min(MAX_REQUEST_TOKENS, math.ceil(tokens_per_minute)))
        self._spent = 0
        self._finished = 0
        self.clamped = 0

    @property
    def estimate(self) -> float:
        """Mean tokens per finished request so far (0 before any finishes)."""
        return self._spent / self._finished if self._finished else 0.0

    def delay(self) -> float:
        """Seconds to wait before the next request may start; ``inf`` until one finishes."""
        if self.in_flight >= max(1, math.floor(self.window)):
            return math.inf
        now = self.clock()
        wait = max(0.0, self.paused_until - now)
        if self._requests is not None:
            wait = max(wait, self._requests.wait_for(1.0, now))
        if self._tokens is not None:
            wait = max(wait, self._tokens.wait_for(0.0, now))
        return wait

    def begin(self) -> float:
        """Count a request as started; returns the tokens reserved for it."""
        now = self.clock()
        self.in_flight += 1
        if self._requests is not None:
            self._requests.take(1.0, now)
        reserved = self.estimate
        if self._tokens is not None:
            self._tokens.take(reserved, now)
        return reserved

    def finish(self, reserved: float, tokens: int, *, ok: bool) -> None:
        """Count a request as ended, having used ``tokens``; ``ok`` when it succeeded.

        ``tokens`` is what the server reported, clamped to ``[0, cap]`` (see the module doc).
        """
        tokens = self.clamp(tokens)
        self.in_flight -= 1
        self._spent += tokens
        self._finished += 1
        if self._tokens is not None:
            self._tokens.take(tokens - reserved, self.clock())
        if ok:
            self._troubled_since = None
            self._strikes = 0
            self.window = min(float(self.limit), self.window + 1.0 / self.window)

    def clamp(self, tokens: object) -> int:
        """A reported token count made safe to count: an int in ``[0, cap]``.

        ``clamped`` counts the reports that were not already such a count.
        """
        if not isinstance(tokens, (int, float)) or tokens != tokens:  # not a number, or NaN
            self.clamped += 1
            return 0
        safe = int(min(max(0, tokens), self.token_cap))
        self.clamped += safe != tokens
        return safe

    def held(self) -> float:
        """Seconds before a request may start because of a pause or a token debt."""
        now = self.clock()
        wait = max(0.0, self.paused_until - now)
        if self._tokens is not None:
            wait = max(wait, self._tokens.wait_for(0.0, now))
        return wait

    def trouble(self, retry_after: float | None = None) -> float:
        """The server pushed back (429, dropped connection): pause and shrink the window.

        Returns the seconds until requests may start again. Trouble that arrives while a
        pause is already running only lengthens it to the server's ``Retry-After``.
        """
        now = self.clock()
        if self._troubled_since is None:
            self._troubled_since = now
        if now >= self.paused_until:
            self._strikes += 1
            self.window = max(1.0, self.window / 2)
            backoff = min(MAX_BACKOFF, 2.0 ** (self._strikes - 1))
            self.paused_until = now + (backoff if retry_after is None else 0.0)
        if retry_after is not None:
            wanted = now + min(max(0.0, retry_after), MAX_RETRY_AFTER)
            self.paused_until = max(self.paused_until, wanted)
        return self.paused_until - now

    def troubled_for(self) -> float:
        """Seconds since the first trouble that no success has followed (0 if none)."""
        if self._troubled_since is None:
            return 0.0
        return self.clock() - self._troubled_since
