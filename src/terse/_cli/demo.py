"""``terse demo``: every guarantee terse makes, shown working in one short report.

With no arguments the demo starts `terse.testing.FakeServer` — a local simulator that
replays scripted model outputs over real HTTP, not a model — and runs four checks
(`terse._cli.demo_fake`):

1. runaway thinking is cut at a budget and the model still answers;
2. reasoning never reaches the answer, whatever way the server sends it;
3. a typed value comes from the answer even when the reasoning holds a valid-looking draft;
4. an invalid answer is re-asked, within bounds, and every attempt's cost is counted.

With ``--base-url`` and ``--model`` the same prompts go to a real server instead
(`terse._cli.demo_real`), and the report says what actually happened, failures included.
The exit code is 0 only when every check held.

Only the standard library is imported at module level, so ``terse --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from .types import http_url, positive_float, positive_int

if TYPE_CHECKING:
    import terse

__all__ = [
    "BUDGET_PROMPT",
    "CAPITAL_PROMPT",
    "CHECKS",
    "CITY_PROMPT",
    "DESCRIPTION",
    "HELP",
    "MOONS_PROMPT",
    "Endpoint",
    "Result",
    "add_arguments",
    "run",
    "run_demo",
]

HELP = "show each guarantee working (simulator or real server)"
DESCRIPTION = (
    "Show terse's guarantees one by one: a thinking budget that holds, answers free of "
    "reasoning on several server dialects, typed values taken from the answer and never from "
    "a draft in the reasoning, and bounded, accounted retries. With no options it runs against "
    "terse.testing.FakeServer, a local simulator (not a model); with --base-url and --model "
    "it sends the same prompts to a real OpenAI-compatible server and reports what happened. "
    "Exits 0 when every check held, 1 otherwise."
)

# The same prompts go to the simulator and to a real server.
BUDGET_PROMPT = "How many prime numbers are there below 200? Answer with the number only."
CAPITAL_PROMPT = "What is the capital of France? Answer in one word."
CITY_PROMPT = (
    'What is the capital of France, and its population? Reply with JSON: {"city": ..., '
    '"population": ...}.'
)
MOONS_PROMPT = "How many moons does Mars have? Answer with the number only."


@dataclass(frozen=True)
class Endpoint:
    """A real server to run the demo against (the API key is never shown)."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 120.0
    budget: int = 256


@dataclass
class Result:
    """What one check showed: lines for the report, and whether its guarantee held."""

    held: bool = True
    lines: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        """Add a line to the report."""
        self.lines.append(line)

    def require(self, ok: bool, failure: str) -> None:
        """Record a condition of the guarantee; a failed one is reported and fails the check."""
        if not ok:
            self.held = False
            self.say(f"FAILED: {failure}")


# --- shared helpers -----------------------------------------------------------------------


def first_json(text: str) -> Any:
    """The first JSON object anywhere in ``text``: what a naive parser returns, or None."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            return decoder.raw_decode(text, start)[0]
        except ValueError:
            start = text.find("{", start + 1)
    return None


def city_model() -> type[Any]:
    """The pydantic model of the typed-extraction check (built lazily: pydantic is heavy)."""
    from pydantic import BaseModel

    class City(BaseModel):
        city: str
        population: int

    return City


def attempt_line(a: terse.Attempt) -> str:
    """One row of the retry table: number, purpose, outcome, tokens, and the error's headline."""
    row = f"attempt {a.number}  {a.purpose:8s} {a.outcome:8s} {a.usage.total_tokens:5d} tokens"
    if a.error is None:
        return row
    headline = str(a.error).splitlines()[0] if str(a.error) else ""
    return f"{row}  {type(a.error).__name__}: {short(headline)}"


def plural(n: int, noun: str) -> str:
    """``"1 request"``, ``"2 requests"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def short(text: str, limit: int = 60) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def usage_is_accounted(answer: terse.Answer[Any]) -> bool:
    """The answer's usage is exactly the sum over its attempts, failed ones included."""
    from terse import Usage

    total = Usage()
    for a in answer.attempts:
        total = total + a.usage
    return total.total_tokens == answer.usage.total_tokens


Check = tuple[str, str]
"""A check: its title, and its name in `terse._cli.demo_fake.FAKE_CHECKS` and `terse._cli.demo_real.REAL_CHECKS`."""

CHECKS: tuple[Check, ...] = (
    ("Runaway thinking is cut at a budget, and the model still answers", "budget"),
    ("Reasoning never reaches the answer, whatever the server sends", "strip"),
    ("Typed values come from the answer, never from a draft in the reasoning", "extract"),
    ("An invalid answer is re-asked, bounded, and every attempt is paid for", "retry"),
)


# --- running and reporting ------------------------------------------------------------------


@contextmanager
def _quick_thread_switching() -> Iterator[None]:
    """Let the client and the in-process simulator take turns as two processes would.

    The simulator runs in a thread of this process; with CPython's default 5 ms switch
    interval either thread can hold the GIL long enough to blur a token count.
    """
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def run_demo(out: TextIO, endpoint: Endpoint | None = None) -> int:
    """Run every check, write the report to ``out``; 0 when all held, else 1."""
    started = time.perf_counter()
    if endpoint is None:
        out.write(
            "terse demo: against terse.testing.FakeServer, a local simulator that replays\n"
            "scripted model outputs over real HTTP (it is not a model). Use --base-url and\n"
            "--model to run the same checks against a real server.\n"
        )
        from .demo_fake import FAKE_CHECKS

        with _quick_thread_switching():
            held = _run_checks(out, lambda name: FAKE_CHECKS[name]())
    else:
        from .demo_real import run_real

        out.write(f"terse demo: against {endpoint.base_url} (model {endpoint.model!r})\n")
        real = run_real(endpoint, out, lambda perform: _run_checks(out, perform))
        if real is None:
            return 1
        held = real
    seconds = time.perf_counter() - started
    verdict = "every guarantee held" if all(held) else f"{held.count(False)} did not hold"
    out.write(f"\n{sum(held)}/{len(held)} checks held: {verdict} ({seconds:.1f} s)\n")
    return 0 if all(held) else 1


def _run_checks(out: TextIO, perform: Callable[[str], Result]) -> list[bool]:
    held: list[bool] = []
    for number, (title, name) in enumerate(CHECKS, 1):
        out.write(f"\n{number}. {title}\n")
        out.flush()  # a real server may take a while: show what is being checked
        result = perform(name)
        for line in result.lines:
            out.write(f"   {line}\n")
        out.write(f"   {'held' if result.held else 'DID NOT HOLD'}\n")
        out.flush()
        held.append(result.held)
    return held


# --- the command line -------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``terse demo``."""
    p.add_argument(
        "--base-url",
        type=http_url,
        metavar="URL",
        help="a real OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 "
        "(default: the local simulator)",
    )
    p.add_argument("--model", metavar="M", help="model name to send (with --base-url)")
    p.add_argument(
        "--api-key-env",
        metavar="VAR",
        default="OPENAI_API_KEY",
        help="environment variable holding the API key (default: OPENAI_API_KEY)",
    )
    p.add_argument(
        "--budget",
        type=positive_int,
        default=256,
        metavar="N",
        help="thinking budget in tokens for the real-server run (default: 256)",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=120.0,
        metavar="S",
        help="seconds per request on a real server (default: 120)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``terse demo`` with parsed arguments; returns the exit code."""
    if (args.base_url is None) != (args.model is None):
        print(
            "terse demo: --base-url and --model go together (give both, or neither)",
            file=sys.stderr,
        )
        return 2
    endpoint = None
    if args.base_url is not None:
        endpoint = Endpoint(
            base_url=args.base_url,
            model=args.model,
            api_key=os.environ.get(args.api_key_env) or None,
            timeout=args.timeout,
            budget=args.budget,
        )
    return run_demo(sys.stdout, endpoint)
