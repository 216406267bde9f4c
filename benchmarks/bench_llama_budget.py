"""Thinking budgets on a real llama-server: overshoot and budget-hit-to-answer time.

SmolLM2-135M under the R1-style template never closes its think block: a real runaway. For
budgets of 16, 64 and 128 tokens terse streams it with ``thinking_budget=N`` along two paths,
under both reasoning formats (``--reasoning-format deepseek``: the thought in
``reasoning_content``; ``none``: the thought and its tags in ``content``), and hangs up at the
first answer piece:

- ``native``: llama-server's ``reasoning_budget_tokens`` forces ``</think>`` itself.
  Overshoot = the server tokenizer's count of the reasoning text minus N (re-tokenizing a
  text may differ from the generated tokens by one).
- ``cut``: ``Budget(native=False)``: terse counts, hangs up and concludes through
  ``/apply-template`` + ``/v1/completions``. Overshoot = tokens the server generated for the
  cut request (``/metrics``, read once its slot is idle) minus N.

hit -> answer is the time from the last reasoning piece to the first answer piece (for a cut:
hang-up, ``/apply-template``, the conclusion's prompt and its first token), also as a ratio to
the server's token time in the same call (the median gap between reasoning pieces). "how"
names the path and the first request's outcome (``ok`` on the native path: the server closed
the thought itself; ``budget``: terse's guard cut it and the call concluded).
The server starts with ``--temp 0`` (greedy), so every round sees the same text. Rounds are
interleaved; figures are medians. Needs the cached build (``scripts/llama_server.py build``).

Run: ``TERSE_LLAMA=1 python benchmarks/bench_llama_budget.py [--rounds 5]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

from bench_budget import (
    BUDGETS,
    PATHS,
    Figures,
    note_fixed,
    print_table,
    report,
    stream_conclusions,
    stream_until_answer,
)

import terse

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "llama_server.py"
STORY = "Write a very long story about a lighthouse keeper."
FORMATS = ("deepseek", "none")
TIMEOUT = 300.0


def load_script() -> ModuleType:
    """Import scripts/llama_server.py by path (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("terse_llama_server_script", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def native(root: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        root + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
        return json.loads(resp.read())


def predicted_total(root: str) -> float:
    with urllib.request.urlopen(root + "/metrics", timeout=TIMEOUT) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("llamacpp:tokens_predicted_total "):
                return float(line.split()[1])
    raise RuntimeError("llama-server has no /metrics (start it with --metrics)")


def wait_idle(root: str, limit: float = 60.0) -> None:
    end = time.monotonic() + limit
    while any(slot["is_processing"] for slot in native(root, "/slots")):
        if time.monotonic() > end:
            raise RuntimeError(f"llama-server still busy after {limit:.0f} s")
        time.sleep(0.01)


def llama_round(server: Any, path: str, n: int, fixed: list[str]) -> tuple[float, Any]:
    """One budgeted call; returns (overshoot in tokens, the client-side sample)."""
    root = server.root_url
    wait_idle(root)
    cut_tokens: list[float] = []
    first: list[str] = []
    start = predicted_total(root)

    def on_attempt(attempt: terse.Attempt) -> None:
        if attempt.number == 1:  # the request that met the budget
            first.append(attempt.outcome)
            wait_idle(root)
            cut_tokens.append(predicted_total(root) - start)

    budget = terse.Budget(tokens=n, native=path == "native", answer_tokens=64)
    with terse.Client(
        base_url=server.base_url, model="smollm2", timeout=TIMEOUT, on_attempt=on_attempt
    ) as client:
        shimmed = stream_conclusions(client)
        sample = stream_until_answer(client, STORY, budget)
    fixed.extend(shimmed)
    wait_idle(root)
    if path == "native":
        reasoning = native(root, "/tokenize", {"content": sample.reasoning, "add_special": False})
        overshoot = len(reasoning["tokens"]) - n
        sample.method = "reasoning_budget_tokens"
    else:
        overshoot = (cut_tokens[0] if cut_tokens else float("nan")) - n
        sample.method = "apply-template + /v1/completions"
    # The first request's outcome: "ok" when the server closed the thought (one request),
    # "budget" when terse's own guard cut it (then it concludes: two more requests).
    # (No record: the call was left at its first answer piece, still in the first request.)
    sample.method += f" (first request: {first[0] if first else 'answered, no cut'})"
    return overshoot, sample


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    script = load_script()
    fixed: list[str] = []
    t0 = time.perf_counter()
    for fmt in FORMATS:
        rows = {(f"llama {fmt}", p, n): Figures() for p in PATHS for n in BUDGETS}
        extra = ("--temp", "0", "--reasoning-format", fmt)
        with script.running_server("chatml-r1-style", extra_args=extra) as server:
            for path in PATHS:  # warm-up: first connections, prompt cache, tokenizer tables
                llama_round(server, path, BUDGETS[0], [])
            for _ in range(args.rounds):
                for (_, path, n), fig in rows.items():
                    fig.add(*llama_round(server, path, n, fixed))
        print_table(
            f"llama-server (SmolLM2-135M, R1-style template, --reasoning-format {fmt}): runaway",
            rows,
            args.rounds,
        )
        report(f"llama_{fmt}", rows, baseline="llama-server token time (median gap between pieces)")
    note_fixed(fixed)
    print(f"total {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
