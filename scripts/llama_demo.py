#!/usr/bin/env python3
"""Watch terse tame a real reasoning runaway on llama-server, with a real (tiny) model.

With no arguments it builds (or finds in the cache) ``llama-server``, starts it on 127.0.0.1
with SmolLM2-135M and the R1-style template, whose assistant turn opens ``<think>`` and which
the model never closes by itself, and shows three things:

1. a clean answer: the server's native budget closes the thought, terse returns the answer
   with the reasoning beside it;
2. a runaway cut by terse itself at a token budget, then concluded through
   ``/apply-template`` + ``/v1/completions`` (tokens before and after the cut);
3. streaming: reasoning and answer pieces as they arrive, never mixed.

``--base-url``/``--model`` point it at a server that is already running instead. From Python:
``run(base_url, model)`` prints the same report (stdlib and terse only).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TextIO

import terse

__all__ = ["main", "run"]

QUESTION = "Explain in detail how a lighthouse works, then say in one sentence what it is for."
TIMEOUT = 300.0  # seconds per request: a busy 2-core machine generates only a few tokens/s
WIDTH = 88


def _short(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _predicted(root_url: str) -> float | None:
    """llama-server's count of generated tokens (``/metrics``), or None where it has none."""
    try:
        with urllib.request.urlopen(root_url + "/metrics", timeout=10.0) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith("llamacpp:tokens_predicted_total "):
                    return float(line.split()[1])
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return None


def _idle(root_url: str, limit: float = 30.0) -> None:
    """Wait until no slot is generating, so ``/metrics`` is final (best effort)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(root_url + "/slots", timeout=10.0) as resp:
                if not any(slot.get("is_processing") for slot in json.loads(resp.read())):
                    return
        except (urllib.error.URLError, OSError, ValueError):
            return
        time.sleep(0.02)


class _Listener:
    """The client's ``on_attempt``: forwards each finished request to the current step, if any."""

    def __init__(self) -> None:
        self.callback: Callable[[terse.Attempt], None] | None = None

    def __call__(self, attempt: terse.Attempt) -> None:
        if self.callback is not None:
            self.callback(attempt)


class _Report:
    """Writes the demo's lines to ``out``."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def title(self, text: str) -> None:
        print(f"\n== {text}", file=self.out, flush=True)

    def line(self, label: str, text: str) -> None:
        body = textwrap.fill(
            text, WIDTH, initial_indent=f"  {label:<11}", subsequent_indent=" " * 13
        )
        print(body, file=self.out, flush=True)

    def failed(self, exc: terse.TerseError) -> None:
        self.line("failed", f"{type(exc).__name__}: {exc}")
        reasoning = getattr(exc, "reasoning", "")
        if reasoning:
            self.line("reasoning", _short(reasoning))


def _clean_answer(client: terse.Client, say: _Report, listener: _Listener) -> bool:
    say.title("1. A clean answer (native budget of 32 tokens: the server closes the thought)")
    started = time.perf_counter()
    try:
        answer = client.ask(QUESTION, thinking_budget=terse.Budget(tokens=32, answer_tokens=96))
    except terse.TerseError as exc:
        say.failed(exc)
        return False
    say.line("question", QUESTION)
    say.line("reasoning", _short(answer.reasoning))
    say.line("answer", answer.text)
    say.line(
        "cost",
        f"{answer.usage.completion_tokens} tokens generated in {len(answer.attempts)} request(s),"
        f" {time.perf_counter() - started:.1f} s; finish_reason={answer.finish_reason}",
    )
    return True


def _runaway_cut(client: terse.Client, say: _Report, listener: _Listener) -> bool:
    budget = terse.Budget(tokens=16, native=False, answer_tokens=96)
    say.title("2. A runaway cut by terse at 16 tokens, then concluded")
    root = client.root_url
    cut_tokens: list[float] = []
    before = _predicted(root)

    def on_attempt(attempt: terse.Attempt) -> None:
        if attempt.number == 1 and before is not None:
            _idle(root)
            now = _predicted(root)
            if now is not None:
                cut_tokens.append(now - before)

    listener.callback = on_attempt
    try:
        answer = client.ask(QUESTION, thinking_budget=budget)
    except terse.TerseError as exc:
        say.failed(exc)
        return False
    finally:
        listener.callback = None
    report = answer.budget
    assert report is not None
    first, *rest = answer.attempts
    server = f", server generated {cut_tokens[0]:.0f}" if cut_tokens else ""
    say.line("before cut", f"{report.reasoning_tokens} reasoning tokens counted by terse{server}")
    say.line(
        "how",
        f"{report.strategy} via {report.method}: "
        + ", ".join(f"{a.purpose} {a.endpoint}" for a in answer.attempts),
    )
    say.line("after cut", f"{sum(a.usage.completion_tokens for a in rest)} tokens of answer")
    say.line("reasoning", _short(answer.reasoning))
    say.line("answer", answer.text)
    return first.outcome == "budget"


def _streaming(client: terse.Client, say: _Report, listener: _Listener) -> bool:
    say.title("3. Streaming (native budget of 16 tokens), printed as the pieces arrive")
    counts = {"reasoning": 0, "answer": 0}
    current = ""
    budget = terse.Budget(tokens=16, answer_tokens=96)
    try:
        with client.stream(QUESTION, thinking_budget=budget) as stream:
            for event in stream:
                if isinstance(event, terse.Final):
                    continue
                kind = "reasoning" if isinstance(event, terse.ReasoningDelta) else "answer"
                text = event.text
                if kind != current:  # a new section: its label, then its pieces on one line
                    print(("\n" if current else "") + f"  {kind:<11}", end="", file=say.out)
                    current, text = kind, text.lstrip()
                counts[kind] += 1
                print(text.replace("\n", " "), end="", file=say.out, flush=True)
            answer = stream.get_answer()
    except terse.TerseError as exc:
        print(file=say.out)
        say.failed(exc)
        return False
    print(file=say.out)
    say.line(
        "pieces",
        f"{counts['reasoning']} reasoning and {counts['answer']} answer"
        f" pieces; final answer {len(answer.text)} characters",
    )
    return bool(answer.text)


def run(base_url: str, model: str, out: TextIO = sys.stdout) -> bool:
    """Run the demo against llama-server at ``base_url`` (``…/v1``); print a short report.

    Returns True when every step ended with an answer. A tiny model is not scripted: a step
    it does not manage is reported as such, with terse's error, and the demo goes on.
    """
    say = _Report(out)
    listener = _Listener()
    with terse.Client(
        base_url=base_url, model=model, temperature=0, timeout=TIMEOUT, on_attempt=listener
    ) as client:
        info = client.probe()
        say.title(f"terse {terse.__version__} against {info.label} at {base_url}")
        say.line("server", f"dialect {info.dialect}, build {info.version}")
        say.line(
            "template",
            f"opens <think> itself: {info.template_opens_thinking};"
            f" native budget: {info.native_budget}",
        )
        steps = (_clean_answer, _runaway_cut, _streaming)
        results = [step(client, say, listener) for step in steps]
    print(file=out)
    return all(results)


def _load_server_script() -> ModuleType:
    """Import scripts/llama_server.py by path (scripts/ is not a package)."""
    path = Path(__file__).resolve().with_name("llama_server.py")
    spec = importlib.util.spec_from_file_location("terse_llama_server_script", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    """Start a server (or use ``--base-url``) and run the demo; exit 1 if a step had no answer."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--base-url", help="use this running server (…/v1) instead of starting one")
    parser.add_argument("--model", default="smollm2", help="model name to send (default: smollm2)")
    args = parser.parse_args(argv)
    if args.base_url:
        return 0 if run(args.base_url, args.model) else 1
    script = _load_server_script()
    print("[llama_demo] starting llama-server (first run builds it: 5-12 minutes)", flush=True)
    try:
        script.ensure_binary(log=sys.stderr)
        script.ensure_model(log=sys.stderr)
        # --temp 0: greedy, so the demo reads the same on every run.
        with script.running_server("chatml-r1-style", extra_args=("--temp", "0")) as server:
            ok = run(server.base_url, args.model)
    except script.LlamaServerError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
