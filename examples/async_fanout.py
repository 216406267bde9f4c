"""Async fan-out: many questions at once with `AsyncClient`, at most N in flight.

`asyncio.gather` starts every question; an `asyncio.Semaphore` keeps the number of
requests in flight bounded so the server is not flooded. Each call has its own thinking
budget and retries; a failure is caught per question, so one bad answer does not cancel
the others. Each `Answer` counts the tokens of all its attempts, so the total is honest.

Run it as it is (it starts terse's local simulator, not a model), or against a real server:

    python examples/async_fanout.py
    python examples/async_fanout.py --base-url http://127.0.0.1:8080/v1 --model qwen3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import terse
from terse.testing import FakeServer, Reply

CAPITALS = {
    "France": "Paris",
    "Japan": "Tokyo",
    "Kenya": "Nairobi",
    "Peru": "Lima",
    "Canada": "Ottawa",
    "Egypt": "Cairo",
    "Norway": "Oslo",
    "Chile": "Santiago",
}
IN_FLIGHT = 3


async def capital(
    client: terse.AsyncClient, limit: asyncio.Semaphore, country: str
) -> tuple[str, int]:
    """One question, sent when a slot is free: (answer or failure, tokens spent)."""
    async with limit:
        try:
            answer = await client.ask(
                f"What is the capital of {country}? Answer with the city name only.",
                thinking_budget=256,
                max_retries=2,
            )
        except terse.RetriesExhausted as exc:
            return f"failed: {exc.last_error!r}", sum(a.usage.total_tokens for a in exc.attempts)
        except terse.TerseError as exc:
            return f"failed: {type(exc).__name__}", 0
    return answer.text, answer.usage.total_tokens


@contextlib.asynccontextmanager
async def server(args: argparse.Namespace) -> AsyncIterator[tuple[str, str]]:
    """The base URL and model to use: the ones given, or a scripted local simulator."""
    if args.base_url:
        yield args.base_url, args.model
        return
    print("(no --base-url: using terse.testing.FakeServer, a local simulator, not a model)\n")
    async with FakeServer(dialect="sglang", tokens_per_second=400) as srv:
        for country, city in CAPITALS.items():
            srv.route(country, Reply(reasoning=f"{country}... its capital is {city}.", answer=city))
        yield srv.base_url, "simulated-reasoner"


async def main_async(args: argparse.Namespace) -> int:
    limit = asyncio.Semaphore(IN_FLIGHT)
    async with server(args) as (base_url, model):
        api_key = os.environ.get("OPENAI_API_KEY")
        async with terse.AsyncClient(base_url=base_url, api_key=api_key, model=model) as client:
            loop = asyncio.get_running_loop()
            started = loop.time()
            results = await asyncio.gather(*(capital(client, limit, c) for c in CAPITALS))
            elapsed = loop.time() - started
    for country, (answer, _) in zip(CAPITALS, results, strict=True):
        print(f"{country:8s} {answer}")
    tokens = sum(spent for _, spent in results)
    print(
        f"\n{len(results)} questions, at most {IN_FLIGHT} in flight: {elapsed:.2f} s, {tokens} tokens"
    )
    return 1 if any(answer.startswith("failed") for answer, _ in results) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="an OpenAI-compatible server (default: simulator)")
    parser.add_argument("--model", default="default", help="the model name to send")
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
