"""Streaming to a user interface: the thinking in one pane, the answer in another.

`Client.stream` yields `ReasoningDelta` and `AnswerDelta` events as the tokens arrive,
a `NewAttempt` if the call starts over (a retry: what was shown is void), then one
`Final` with the whole `Answer`. A UI can show the thinking live (greyed out,
collapsible) and the answer separately, knowing no reasoning can ever appear in an
`AnswerDelta` — whichever way the server sends it, and however the chunks split a tag.
Here the two "panes" are prefixed lines in the terminal; the thinking budget keeps the
wait bounded.

Run it as it is (it starts terse's local simulator, not a model), or against a real server:

    python examples/stream_to_ui.py
    python examples/stream_to_ui.py --base-url http://127.0.0.1:8080/v1 --model qwen3
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TextIO

import terse
from terse.testing import FakeServer, Reply

QUESTION = "Why is the sky blue? Two sentences."


class TerminalUI:
    """Two panes on one terminal: thinking lines start with "  | ", the answer with "> "."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.pane: str | None = None

    def show(self, pane: str, text: str) -> None:
        prefix = {"thinking": "  | ", "answer": "> "}[pane]
        if pane != self.pane:
            self.out.write(("\n" if self.pane else "") + f"[{pane}]\n{prefix}")
            self.pane = pane
        self.out.write(text.replace("\n", "\n" + prefix))
        self.out.flush()


def stream_answer(client: terse.Client, question: str, ui: TerminalUI) -> terse.Answer[str]:
    """Send every piece to its pane as it arrives; return the final `Answer`."""
    with client.stream(question, thinking_budget=512) as stream:
        for event in stream:
            if isinstance(event, terse.ReasoningDelta):
                ui.show("thinking", event.text)
            elif isinstance(event, terse.AnswerDelta):
                ui.show("answer", event.text)
            elif isinstance(event, terse.NewAttempt):  # a retry: what was shown is void
                ui.show("answer", f"\n(attempt {event.number} after {event.reason}: starting over)")
                ui.pane = None
            elif isinstance(event, terse.Final):  # the whole answer, with usage and budget
                return event.answer
    raise RuntimeError("the stream ended without its final answer")


@contextlib.contextmanager
def server(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """The base URL and model to use: the ones given, or a scripted local simulator."""
    if args.base_url:
        yield args.base_url, args.model
        return
    print("(no --base-url: using terse.testing.FakeServer, a local simulator, not a model)\n")
    # llama.cpp's dialect, one token per chunk at a visible pace.
    with FakeServer(dialect="llamacpp", tokens_per_second=150) as srv:
        srv.default = Reply(
            reasoning="Sunlight holds every colour. Air molecules scatter short wavelengths\n"
            "far more than long ones (Rayleigh: about 1/wavelength^4), so blue wins.",
            answer="Air molecules scatter short (blue) wavelengths of sunlight much more than "
            "long ones.\nSo blue light reaches our eyes from every direction of the sky.",
        )
        yield srv.base_url, "simulated-reasoner"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="an OpenAI-compatible server (default: simulator)")
    parser.add_argument("--model", default="default", help="the model name to send")
    args = parser.parse_args(argv)
    with server(args) as (base_url, model):
        api_key = os.environ.get("OPENAI_API_KEY")
        with terse.Client(base_url=base_url, api_key=api_key, model=model) as client:
            answer = stream_answer(client, QUESTION, TerminalUI(sys.stdout))
    usage = answer.usage
    print(f"\n\n({usage.reasoning_tokens} thinking + {usage.answer_tokens} answer tokens)")
    return 0 if answer.text else 1


if __name__ == "__main__":
    raise SystemExit(main())
