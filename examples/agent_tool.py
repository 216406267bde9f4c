"""An agent tool backed by a reasoning model, which must hand the agent clean JSON.

Agent frameworks call tools with arguments and expect a JSON string back. A tool that asks
a reasoning model and passes its text along leaks the reasoning (``<think>…``) into the
agent's context — or, worse, a draft JSON object from inside the reasoning. This tool asks
terse for a typed `Order`, so what it returns is the model's final answer, validated; when
the model cannot produce one within the retries, the tool returns a JSON *error* the agent
can act on, instead of raising into the agent loop.

Run it as it is (it starts terse's local simulator, not a model), or against a real server:

    python examples/agent_tool.py
    python examples/agent_tool.py --base-url http://127.0.0.1:8080/v1 --model qwen3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import Iterator

from pydantic import BaseModel

import terse
from terse.testing import FakeServer, Reply


class Order(BaseModel):
    product: str
    quantity: int
    express: bool


TOOL_SPEC = {
    "name": "read_order",
    "description": "Read a customer's email and return the order it asks for, as JSON.",
    "parameters": {"type": "object", "properties": {"email": {"type": "string"}}},
}


def read_order(client: terse.Client, email: str) -> str:
    """The tool: an email in, a JSON string out — an `Order`, or ``{"error": ...}``."""
    try:
        answer = client.ask(
            f"Which order does this email place? Reply with JSON.\n\n{email}",
            response_model=Order,
            thinking_budget=256,
            max_retries=1,
        )
    except terse.TerseError as exc:
        return json.dumps({"error": type(exc).__name__, "detail": str(exc).splitlines()[0]})
    return answer.value.model_dump_json()


EMAILS = [
    "Hi! Please send 3 boxes of green tea, and quickly please, it's for Friday.",
    "Hello, I would like to order... actually, let me think about it and call you.",
]


def script(srv: FakeServer) -> None:
    """The simulator's replies: close-only thinking (the template opened it) with a draft."""
    srv.route(
        "green tea",
        Reply(
            reasoning='Order: {"product": "tea", "quantity": 1, "express": false}? '
            "No: 3 boxes, and 'quickly' means express.",
            answer='{"product": "green tea", "quantity": 3, "express": true}',
        ),
    )
    srv.route("let me think", Reply(reasoning="No order is placed.", answer="There is no order."))


@contextlib.contextmanager
def server(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """The base URL and model to use: the ones given, or a scripted local simulator."""
    if args.base_url:
        yield args.base_url, args.model
        return
    print("(no --base-url: using terse.testing.FakeServer, a local simulator, not a model)\n")
    with FakeServer(dialect="inline-close-only") as srv:
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
            print(f"tool {TOOL_SPEC['name']}: {TOOL_SPEC['description']}")
            for email in EMAILS:
                result = read_order(client, email)
                json.loads(result)  # whatever happened, the agent receives valid JSON
                print(f"\nemail: {email}\ntool returned: {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
