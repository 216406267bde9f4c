"""Thinking budgets against a runaway on the fake server: overshoot and budget-hit-to-answer time.

For each dialect and budget, terse streams a `Runaway` (reasoning that never closes) from
``terse.testing.FakeServer(tokens_per_second=1000)`` with ``thinking_budget=N`` and reports:

- **overshoot**: reasoning tokens the *server* generated on the first request, minus N
  (from the fake's own request log; target <= 2);
- **hit -> answer**: seconds from the last reasoning piece to the first answer piece, as a
  ratio to the server's token time measured in the same call (the median gap between
  reasoning pieces; the fake's nominal 1 ms where terse releases the reasoning in one
  piece, as with close-only output): how many token-times the switch to answering costs.

Two paths per dialect: ``native`` (the server's own budget, where the dialect has one: the
fake vLLM started with a reasoning config, the fake SGLang with strict thinking) and
``cut`` (``Budget(native=False)``: terse counts, hangs up and concludes). Rounds are
interleaved; figures are medians. ``bench_llama_budget.py`` measures the same on a real
llama-server, with the helpers defined here.

Run: ``python benchmarks/bench_budget.py [--rounds 5]``
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from _report import result

import terse
from terse.testing import FakeServer, Runaway

BUDGETS = (16, 64, 128)
PATHS = ("native", "cut")
DIALECTS = ("llamacpp", "vllm", "sglang", "inline-close-only")
RATE = 1000.0  # tokens per second
ANSWER = "The answer is 42."
TARGET_OVERSHOOT = 2


@dataclass
class Sample:
    """One budgeted call, seen from the client."""

    reasoning: str = ""
    reasoning_times: list[float] = field(default_factory=list)
    first_answer: float | None = None
    method: str | None = None  # how terse got the answer ("native", or the conclude method)

    @property
    def hit_to_answer(self) -> float | None:
        """Seconds from the last reasoning piece to the first answer piece."""
        if self.first_answer is None or not self.reasoning_times:
            return None
        return self.first_answer - self.reasoning_times[-1]

    @property
    def token_time(self) -> float | None:
        """The median gap between reasoning pieces: the server's time per token."""
        gaps = [b - a for a, b in itertools.pairwise(self.reasoning_times)]
        return statistics.median(gaps) if gaps else None


def stream_conclusions(client: terse.Client) -> list[str]:
    """Send every streamed request with ``stream=true`` (works around a terse bug).

    terse reads the llamacpp-completion conclusion of a streamed call as SSE, but builds its
    body without ``stream``, so the server answers with one JSON body that terse drops. Once
    terse sends the flag itself this changes nothing. Returns the endpoints it had to fix.
    """
    fixed: list[str] = []
    original = client._transport._create_args  # type: ignore[attr-defined]

    def create_args(call: Any) -> tuple[Any, dict[str, Any]]:
        resource, kwargs = original(call)
        if kwargs["stream"] != call.stream:
            fixed.append(call.endpoint)
            kwargs["stream"] = call.stream
        return resource, kwargs

    client._transport._create_args = create_args  # type: ignore[attr-defined]  # bench-only shim
    return fixed


def stream_until_answer(client: terse.Client, prompt: str, budget: terse.Budget) -> Sample:
    """Stream one budgeted call and hang up at the first answer piece."""
    sample = Sample()
    with client.stream(prompt, thinking_budget=budget) as stream:
        for event in stream:
            now = time.perf_counter()
            if isinstance(event, terse.ReasoningDelta):
                sample.reasoning += event.text
                sample.reasoning_times.append(now)
            elif isinstance(event, terse.AnswerDelta) and event.text.strip():
                sample.first_answer = now
                break
    return sample


@dataclass
class Figures:
    """Medians over rounds for one row of the table."""

    overshoot: list[float] = field(default_factory=list)
    switch: list[float] = field(default_factory=list)  # hit -> answer, in token-times
    seconds: list[float] = field(default_factory=list)
    methods: set[str] = field(default_factory=set)
    failures: int = 0

    def add(self, overshoot: float, sample: Sample, nominal_tick: float | None = None) -> None:
        """Record one round; ``nominal_tick`` stands in when too few pieces show the rate."""
        self.overshoot.append(overshoot)
        hit, tick = sample.hit_to_answer, sample.token_time or nominal_tick
        if hit is None or not tick:
            self.failures += 1
            return
        self.seconds.append(hit)
        self.switch.append(hit / tick)
        if sample.method:
            self.methods.add(sample.method)

    def row(self) -> tuple[str, str, str]:
        over = f"{statistics.median(self.overshoot):+.0f}" if self.overshoot else "-"
        if self.seconds:
            ms = f"{statistics.median(self.seconds) * 1000:8.1f} ms"
            ticks = f"{statistics.median(self.switch):7.1f}x"
        else:
            ms, ticks = "   failed", "      -"
        return over, ms, ticks


def print_table(title: str, rows: dict[tuple[str, str, int], Figures], rounds: int) -> None:
    print(f"\n{title}")
    head = f"{'':22} {'budget':>6} {'overshoot':>9} {'hit->answer':>12} {'token-times':>11}  how"
    print(head)
    for (label, path, n), fig in rows.items():
        over, ms, ticks = fig.row()
        how = ",".join(sorted(fig.methods)) or "-"
        if fig.failures:
            how += f" ({fig.failures}/{rounds} without an answer piece)"
        print(f"{label + ' ' + path:22} {n:>6} {over:>9} {ms:>12} {ticks:>11}  {how}")
    print(
        f"(medians of {rounds} interleaved rounds; overshoot = server-side reasoning tokens on"
        " the first request minus the budget; token-times = hit->answer / median gap between"
        " reasoning pieces, measured in the same call)"
    )


def note_fixed(fixed: list[str]) -> None:
    """Say when `stream_conclusions` had to repair a request (the terse bug is still there)."""
    if fixed:
        print(
            f"note: terse sent {len(fixed)} streamed request(s) without stream=true"
            f" ({', '.join(sorted(set(fixed)))}); the bench set the flag (terse bug)"
        )


def report(prefix: str, rows: dict[tuple[str, str, int], Figures], baseline: str) -> None:
    """RESULT lines: the worst overshoot and the worst switch time, per path."""
    for path in PATHS:
        figs = [f for (_, p, _), f in rows.items() if p == path and f.overshoot]
        if not figs:
            continue
        worst = max(statistics.median(f.overshoot) for f in figs)
        result(
            f"{prefix}_{path}_overshoot",
            worst,
            unit="tokens",
            target=f"<={TARGET_OVERSHOOT}",
            baseline="the budget N",
        )
        switches = [statistics.median(f.switch) for f in figs if f.switch]
        if switches:
            result(f"{prefix}_{path}_hit_to_answer", max(switches), baseline=baseline)


# --- the fake server --------------------------------------------------------------------------


@contextmanager
def fake_server(dialect: str, path: str) -> Iterator[FakeServer]:
    """A fake that enforces its native budget when the ``native`` path is measured."""
    native = path == "native"
    with FakeServer(
        dialect=dialect,
        tokens_per_second=RATE,
        vllm_reasoning_config=native and dialect == "vllm",
        sglang_strict=native and dialect == "sglang",
    ) as srv:
        yield srv


def fake_round(dialect: str, path: str, n: int, fixed: list[str]) -> tuple[float, Sample]:
    with fake_server(dialect, path) as srv:
        srv.default = Runaway(answer=ANSWER)
        budget = terse.Budget(tokens=n, native=path == "native", answer_tokens=32)
        with terse.Client(base_url=srv.base_url, model="m", timeout=30.0) as client:
            shimmed = stream_conclusions(client)
            sample = stream_until_answer(client, "What is 6 x 7?", budget)
        fixed.extend(f"{dialect} {endpoint}" for endpoint in shimmed)
        srv.wait_idle(timeout=10.0)
        gens = [r for r in srv.requests if r.script is not None and not r.continuation]
        first = gens[0] if gens else None
        overshoot = (first.reasoning_tokens - n) if first is not None else float("nan")
        conts = [r for r in srv.requests if r.continuation]
        how = "native" if not conts else f"cut {conts[0].path}"
        sample.method = f"{client.dialect}: {how}"
    return overshoot, sample


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    sys.setswitchinterval(1e-4)  # client and fake share the GIL; let them alternate like processes
    rows: dict[tuple[str, str, int], Figures] = {
        (d, p, n): Figures() for d in DIALECTS for p in PATHS for n in BUDGETS
    }
    t0 = time.perf_counter()
    fixed: list[str] = []
    for dialect in DIALECTS:  # warm-up: imports, tokenizer tables, first connections
        fake_round(dialect, "cut", BUDGETS[0], [])
    for _ in range(args.rounds):
        for (dialect, path, n), fig in rows.items():
            fig.add(*fake_round(dialect, path, n, fixed), nominal_tick=1 / RATE)
    print_table(f"FakeServer at {RATE:.0f} tokens/s: Runaway cut at the budget", rows, args.rounds)
    note_fixed(fixed)
    report("fake", rows, baseline=f"fake token time ({RATE:.0f} tokens/s)")
    print(f"total {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
