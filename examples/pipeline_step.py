"""A data-pipeline step that returns typed values, never prose and never the model's drafts.

`triage(client, ticket)` turns a support ticket into a `Triage` object. A reasoning model
thinks first — and often drafts the JSON while thinking, sometimes a wrong draft — so the
step asks terse for a typed value, which is taken from the final answer only. The thinking
budget keeps one odd ticket from stalling the pipeline; ``max_retries`` bounds the re-asks.

Run it as it is (it starts terse's local simulator, not a model), or against a real server:

    python examples/pipeline_step.py
    python examples/pipeline_step.py --base-url http://127.0.0.1:8080/v1 --model qwen3
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, Field

import terse
from terse.testing import FakeServer, Reply


class Triage(BaseModel):
    category: Literal["billing", "bug", "feature"]
    urgency: int = Field(ge=1, le=5)
    summary: str


TICKETS = [
    "I was charged twice for my March invoice, please refund one of them.",
    "The export button crashes the app every time since yesterday's update!",
    "It would be lovely if dark mode followed the system setting.",
]


def triage(client: terse.Client, ticket: str) -> Triage:
    """One pipeline step: a ticket in, a validated `Triage` out (or an exception)."""
    answer = client.ask(
        f"Triage this support ticket. Reply with JSON only.\n\nTicket: {ticket}",
        response_model=Triage,
        thinking_budget=512,
        max_retries=2,
        temperature=0,
    )
    return answer.value


def script(srv: FakeServer) -> None:
    """What the simulator answers: reasoning with drafts, then the real JSON."""
    srv.route(
        "charged twice",
        Reply(
            reasoning='A refund. Draft: {"category": "bug", "urgency": 2, "summary": "x"}. '
            "No: a double charge is billing, and money makes it urgent.",
            answer='{"category": "billing", "urgency": 4, "summary": "Double charge in March"}',
        ),
    )
    srv.route(
        "export button",
        Reply(
            reasoning="A crash after an update: a bug, and it blocks work.",
            answer='```json\n{"category": "bug", "urgency": 5, "summary": "Export crashes"}\n```',
        ),
    )
    srv.route(
        "dark mode",
        Reply(
            reasoning="A wish, not a defect.",
            answer='Here it is: {"category": "feature", "urgency": 1, "summary": "Auto dark mode"}',
        ),
    )


@contextlib.contextmanager
def server(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """The base URL and model to use: the ones given, or a scripted local simulator."""
    if args.base_url:
        yield args.base_url, args.model
        return
    print("(no --base-url: using terse.testing.FakeServer, a local simulator, not a model)\n")
    with FakeServer(dialect="deepseek") as srv:
        script(srv)
        yield srv.base_url, "simulated-reasoner"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="an OpenAI-compatible server (default: simulator)")
    parser.add_argument("--model", default="default", help="the model name to send")
    args = parser.parse_args(argv)
    failures = 0
    with server(args) as (base_url, model):
        api_key = os.environ.get("OPENAI_API_KEY")
        with terse.Client(base_url=base_url, api_key=api_key, model=model) as client:
            for ticket in TICKETS:
                try:
                    result = triage(client, ticket)
                except terse.TerseError as exc:  # one bad row must not stop the pipeline
                    failures += 1
                    print(f"FAILED {ticket[:40]!r}: {type(exc).__name__}: {exc}")
                    continue
                print(f"{result.category:8s} urgency {result.urgency}  {result.summary}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
