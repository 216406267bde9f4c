"""An agent loop with a reasoning model: real tool calls only, never a rehearsal.

The model thinks before it acts, and while it thinks it drafts calls it then decides
against. This agent runs two tools with `terse.Client.run_tools`. Each turn, terse returns
only the calls the model really made: drafts inside the reasoning are never run. The
arguments are validated against each function's signature. Each result goes back to the
model as a tool message, and the loop ends when the model answers in text. A tool that
raises is reported to the model as an error, and the loop goes on. Turns, time and tokens
are bounded.

Run it as it is (it starts terse's local simulator, not a model), or against a real server
with a tool parser or one that writes calls inline:

    python examples/agent_loop.py
    python examples/agent_loop.py --base-url http://127.0.0.1:8080/v1 --model qwen3
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator

import terse
from terse.testing import Call, FakeServer, Reply

STOCK = {"green tea": 12, "black tea": 0}


def check_stock(product: str) -> dict[str, object]:
    """How many units of a product are in stock.

    Args:
        product: The product's name, lower case.
    """
    if product not in STOCK:
        raise ValueError(f"unknown product: {product}")
    return {"product": product, "in_stock": STOCK[product]}


def place_order(product: str, quantity: int) -> str:
    """Place an order and return its number.

    Args:
        product: The product's name, lower case.
        quantity: How many units.
    """
    if quantity > STOCK.get(product, 0):
        raise ValueError(f"only {STOCK.get(product, 0)} {product} in stock")
    STOCK[product] -= quantity
    return f"order #1042: {quantity} x {product}"


def script(srv: FakeServer) -> None:
    """The simulator's turns: a draft in the reasoning, a failing call, then the real ones."""
    srv.push(
        Reply(  # drafts an order while thinking, then decides to check the stock first
            reasoning="I could order right away, but first check the stock.",
            drafts=[Call("place_order", {"product": "green tea", "quantity": 3})],
            tool_calls=[Call("check_stock", {"product": "matcha"})],
        ),
        Reply(  # the tool raised (unknown product): the model reads the error and corrects
            reasoning="matcha is unknown; the customer said green tea.",
            tool_calls=[Call("check_stock", {"product": "green tea"})],
        ),
        Reply(
            reasoning="12 in stock, enough for 3.",
            tool_calls=[Call("place_order", {"product": "green tea", "quantity": "3"})],
        ),
        Reply(reasoning="Done.", answer="Ordered 3 green tea: order #1042."),
    )


@contextlib.contextmanager
def server(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """The base URL and model to use: the ones given, or a scripted local simulator."""
    if args.base_url:
        yield args.base_url, args.model
        return
    print("(no --base-url: using terse.testing.FakeServer, a local simulator, not a model)\n")
    with FakeServer(dialect="inline") as srv:  # calls written inline, as with no tool parser
        script(srv)
        yield srv.base_url, "simulated-reasoner"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="an OpenAI-compatible server (default: simulator)")
    parser.add_argument("--model", default="default", help="the model name to send")
    args = parser.parse_args(argv)
    with server(args) as (base_url, model):
        api_key = os.environ.get("OPENAI_API_KEY")
        with terse.Client(base_url=base_url, api_key=api_key, model=model) as client:
            answer = client.run_tools(
                "A customer wants 3 boxes of matcha green tea. Check the stock and order.",
                tools=[check_stock, place_order],
                max_steps=6,
                deadline=120,
                thinking_budget=512,
            )
    for n, step in enumerate(answer.steps, 1):
        for result in step.results:
            args_text = ", ".join(f"{k}={v!r}" for k, v in result.call.arguments.items())
            print(f"step {n}: {result.call.name}({args_text}) -> {result.content}")
    print(f"\nanswer: {answer.text}")
    print(f"turns: {len(answer.attempts)}, tokens: {answer.usage.total_tokens}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
