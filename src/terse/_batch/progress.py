"""What a batch job reports: running counts, the live progress line, the final summary.

All of it is plain text on stderr, with no dependency: on a terminal the progress line
rewrites itself in place a few times a second; in a log (not a terminal) a full line is
printed every ten seconds, so CI logs stay short.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .._results import Usage

__all__ = ["BatchReport", "Tally", "Ticker", "progress_line"]


@dataclass
class Tally:
    """Running counts of a batch job (mutable; the job updates it as rows finish)."""

    total: int | None = None
    written: int = 0
    failed: int = 0
    skipped: int = 0
    failed_before: int = 0
    duplicates: int = 0
    rate_limited: int = 0
    requeued: int = 0
    requests: int = 0
    budget_hits: int = 0
    usage: Usage = field(default_factory=Usage)
    repaired: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def settled(self) -> int:
        """Input rows dealt with so far: written, failed, skipped or duplicate."""
        return self.written + self.failed + self.skipped + self.duplicates


@dataclass(frozen=True)
class BatchReport:
    """What a finished batch job did.

    Every input row was written to the output or the errors file — by this run or an
    earlier one — unless the job raised.

    Attributes:
        written: Rows answered and written to ``out`` by this run.
        failed: Rows written to ``errors`` by this run.
        skipped: Rows skipped because an earlier run already recorded their id.
        failed_before: Of those, rows an earlier run wrote to the errors file.
        duplicates: Rows skipped because an earlier row of this input had the same id.
        rate_limited: 429 responses absorbed by pausing the job (never a failed row).
        requeued: Rows put back after a connection failure or 5xx (tried again later).
        requests: HTTP requests made for the rows that finished.
        usage: Tokens spent, summed over every request of every finished row.
        budget_hits: Rows whose thinking budget was reached.
        elapsed: Seconds the job ran.
        out: The output file.
        errors: The errors file.
        repaired: Bytes of torn last lines cut from the files when the job opened them.
    """

    written: int
    failed: int
    skipped: int
    failed_before: int
    duplicates: int
    rate_limited: int
    requeued: int
    requests: int
    usage: Usage
    budget_hits: int
    elapsed: float
    out: Path
    errors: Path
    repaired: int = 0

    @property
    def ok(self) -> bool:
        """True when no input row is in the errors file, from this run or an earlier one."""
        return self.failed == 0 and self.failed_before == 0

    @classmethod
    def from_tally(cls, tally: Tally, out: Path, errors: Path, now: float) -> BatchReport:
        """Freeze the running counts into a report."""
        return cls(
            written=tally.written,
            failed=tally.failed,
            skipped=tally.skipped,
            failed_before=tally.failed_before,
            duplicates=tally.duplicates,
            rate_limited=tally.rate_limited,
            requeued=tally.requeued,
            requests=tally.requests,
            usage=tally.usage,
            budget_hits=tally.budget_hits,
            elapsed=now - tally.started,
            out=out,
            errors=errors,
            repaired=tally.repaired,
        )

    def summary(self) -> str:
        """A small plain-text table of the counts, for the end of a job."""
        done = self.written + self.failed
        rate = f"{done / self.elapsed:,.1f} rows/s" if self.elapsed > 0 and done else ""
        rows: list[tuple[str, str, str]] = [
            ("written", f"{self.written:,}", str(self.out)),
            ("failed", f"{self.failed:,}", str(self.errors) if self.failed else ""),
            ("skipped (done before)", f"{self.skipped:,}", ""),
            ("of which failed", f"{self.failed_before:,}", "use retry_errors to retry"),
            ("duplicate ids", f"{self.duplicates:,}", ""),
            ("requests", f"{self.requests:,}", ""),
            ("429s absorbed", f"{self.rate_limited:,}", "paused, not failed"),
            ("requeued", f"{self.requeued:,}", "after connection trouble"),
            ("prompt tokens", f"{self.usage.prompt_tokens:,}", ""),
            ("reasoning tokens", f"{self.usage.reasoning_tokens:,}", ""),
            ("answer tokens", f"{self.usage.answer_tokens:,}", ""),
            ("budget hits", f"{self.budget_hits:,}", ""),
            ("elapsed", duration(self.elapsed), rate),
        ]
        if self.repaired:
            rows.append(("torn tail removed", f"{self.repaired:,} bytes", "from a killed run"))
        width = max(len(label) for label, _, _ in rows)
        number = max(len(value) for _, value, _ in rows)
        lines = ["terse batch summary"]
        for label, value, note in rows:
            lines.append(f"  {label:<{width}}  {value:>{number}}  {note}".rstrip())
        return "\n".join(lines)


def compact(n: float) -> str:
    """``950``, ``12.3k``, ``4.5M``: a count short enough for a progress line."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            return f"{n / limit:.1f}{suffix}"
    return f"{n:.0f}"


def duration(seconds: float) -> str:
    """``8.2s``, ``3m05s``, ``2h07m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def progress_line(tally: Tally, now: float, *, in_flight: int = 0, paused: float = 0.0) -> str:
    """One line: rows, rate, ETA, tokens (reasoning vs answer), budget hits, failures."""
    elapsed = max(now - tally.started, 1e-9)
    worked = tally.written + tally.failed
    rate = worked / elapsed
    if tally.total:
        head = f"{tally.settled:,}/{tally.total:,} rows ({100 * tally.settled / tally.total:.0f}%)"
    else:
        head = f"{tally.settled:,} rows"
    parts = [head, f"{rate:,.1f} rows/s"]
    if tally.total and rate > 0:
        left = max(0, tally.total - tally.settled)
        parts.append(f"ETA {duration(left / rate)}")
    usage = tally.usage
    parts.append(
        f"tokens {compact(usage.reasoning_tokens)} reasoning / {compact(usage.answer_tokens)} answer"
    )
    parts.append(f"budget hits {tally.budget_hits:,}")
    parts.append(f"failed {tally.failed:,}")
    if tally.rate_limited:
        parts.append(f"429s {tally.rate_limited:,}")
    parts.append(f"in flight {in_flight}")
    if paused > 0:
        parts.append(f"paused {duration(paused)}")
    return "terse: " + " · ".join(parts)


class Ticker:
    """Writes the progress line to a stream: in place on a terminal, now and then in a log."""

    def __init__(self, stream: TextIO, *, interval: float | None = None) -> None:
        self.stream = stream
        try:
            self.tty = stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.interval = interval if interval is not None else (0.25 if self.tty else 10.0)
        self._last = -float("inf")
        self._width = 0

    def due(self, now: float) -> bool:
        """Whether a line should be written at ``now``."""
        return now - self._last >= self.interval

    def show(self, line: str, now: float) -> None:
        """Write ``line`` (replacing the previous one on a terminal)."""
        self._last = now
        if self.tty:
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def end(self, text: str) -> None:
        """Finish the progress line and write ``text`` (the summary) below it."""
        if self.tty and self._width:
            self.stream.write("\n")
        self.stream.write(text + "\n")
        self.stream.flush()
