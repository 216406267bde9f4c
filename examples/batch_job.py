"""A batch extraction job: a JSONL file of reviews in, one typed record per line out.

`terse.run_batch` reads the rows lazily, keeps a bounded number of requests in flight,
writes each answer as one complete line (a row that fails after its retries goes to the
errors file instead), and can be killed at any moment and run again: rows already written
are skipped, so every id ends up exactly once in the output or the errors file. This
script runs the job twice to show the second run skipping everything.

Run it as it is (it starts terse's local simulator, not a model), or against a real server:

    python examples/batch_job.py
    python examples/batch_job.py --base-url http://127.0.0.1:8080/v1 --model qwen3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

import terse
from terse.testing import FakeServer, Reply


class Review(BaseModel):
    sentiment: Literal["positive", "negative", "mixed"]
    product: str


REVIEWS = [
    {"id": 1, "text": "The kettle boils fast and looks great. Love it."},
    {"id": 2, "text": "My headphones broke after two days. Never again."},
    {"id": 3, "text": "The lamp is pretty but the switch feels cheap."},
    {"id": 4, "text": "Best running shoes I have owned."},
    {"id": 5, "text": "The blender is loud, slow and leaks."},
]
SCRIPTED = {
    "kettle": ("positive", "kettle"),
    "headphones": ("negative", "headphones"),
    "lamp": ("mixed", "lamp"),
    "running shoes": ("positive", "running shoes"),
    "blender": ("negative", "blender"),
}


def run_job(client: terse.Client, rows: Path, out: Path) -> terse.BatchReport:
    """One run of the job; call it again after a crash and it carries on where it stopped."""
    return terse.run_batch(
        rows,
        client=client,
        prompt="Classify this product review. Reply with JSON.\n\nReview: {text}",
        response_model=Review,
        out=out,
        concurrency=4,
        progress=False,  # True draws a live progress line on stderr
        thinking_budget=256,
        max_retries=2,
    )


def script(srv: FakeServer) -> None:
    """The simulator's replies: a short thought, then the record."""
    for key, (sentiment, product) in SCRIPTED.items():
        record = json.dumps({"sentiment": sentiment, "product": product})
        srv.route(key, Reply(reasoning=f"It is about the {product}.", answer=record))


@contextlib.contextmanager
def server(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """The base URL and model to use: the ones given, or a scripted local simulator."""
    if args.base_url:
        yield args.base_url, args.model
        return
    print("(no --base-url: using terse.testing.FakeServer, a local simulator, not a model)\n")
    with FakeServer(dialect="sglang") as srv:
        script(srv)
        yield srv.base_url, "simulated-reasoner"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="an OpenAI-compatible server (default: simulator)")
    parser.add_argument("--model", default="default", help="the model name to send")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory() as tmp,
        server(args) as (base_url, model),
        terse.Client(
            base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY"), model=model
        ) as client,
    ):
        rows, out = Path(tmp, "reviews.jsonl"), Path(tmp, "reviews.out.jsonl")
        rows.write_text("".join(json.dumps(r) + "\n" for r in REVIEWS))
        first = run_job(client, rows, out)
        print(
            f"first run:  {first.written} written, {first.failed} failed, {first.skipped} skipped"
        )
        for line in out.read_text().splitlines():
            record = json.loads(line)
            print(f"  id {record['id']}: {record['value']}")
        again = run_job(client, rows, out)  # as after a crash: nothing is asked twice
        print(f"second run: {again.written} written, {again.skipped} skipped")
        print(
            f"tokens: {first.usage.reasoning_tokens} reasoning, {first.usage.answer_tokens} answer"
        )
    return 0 if first.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
