"""The machine-readable line every benchmark prints for `run_all.py`.

A benchmark prints its own readable table, then one ``RESULT`` line per headline
figure::

    RESULT metric=ask_vs_create value=1.004 unit=x target='<=1.05' baseline='openai create()'

``value`` is a ratio against a baseline measured in the same run (``unit=x``) or, where
the figure is a rate, the rate itself (``unit=GB/s``); ``target`` is ``<=N`` or ``>=N``,
or empty when there is none. Values are shell-quoted, so `parse` is `shlex.split`.
"""

from __future__ import annotations

import shlex
import statistics
import time
from collections.abc import Callable

__all__ = ["PREFIX", "parse", "result"]

PREFIX = "RESULT "


def result(metric: str, value: float, *, baseline: str, target: str = "", unit: str = "x") -> None:
    """Print one ``RESULT`` line (flushed, so a later crash cannot lose it)."""
    fields = {
        "metric": metric,
        "value": f"{value:.4g}",
        "unit": unit,
        "target": target,
        "baseline": baseline,
    }
    line = " ".join(f"{k}={shlex.quote(v)}" for k, v in fields.items())
    print(PREFIX + line, flush=True)


def parse(line: str) -> dict[str, str] | None:
    """The fields of a ``RESULT`` line, or None for any other line."""
    if not line.startswith(PREFIX):
        return None
    fields = dict(part.partition("=")[::2] for part in shlex.split(line[len(PREFIX) :]))
    return fields if "metric" in fields and "value" in fields else None


def interleaved(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds per function, the functions run in turn each round (side by side)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}
