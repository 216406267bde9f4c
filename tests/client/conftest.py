"""Client tests run the fake server in a thread of the same process as the client."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _fast_thread_switching() -> Iterator[None]:
    """Let the client thread and the fake server thread take turns as two processes would.

    With CPython's default 5 ms switch interval a thread that holds the GIL can starve the
    other for several milliseconds, which a real server in its own process never does;
    budget overshoot measured across that would be an artefact of the test.
    """
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(old)
