"""Beyond one machine: a terse extraction job on Ray Data.

When a job outgrows one machine, run it on the distributed engine you already have rather
than on something new: Ray Data reads the rows, hands batches to a pool of actors, and
writes the output; terse does what it does on one machine, inside each actor.

    ray.data.read_json(IN) -> map_batches(Extract, compute=ActorPoolStrategy(size=N)) -> write_json(OUT)

Each `Extract` actor holds one `terse.Client` (its connection pool lives as long as the
actor) and asks about the rows of a batch a few at a time. Every input row gives exactly
one output record: ``{"id", "value", "error", "attempts", "reasoning_tokens",
"answer_tokens"}``, with ``value`` the typed record as JSON, or ``error`` saying why there
is none. Ray re-runs the batches of a worker that dies; the output is Ray's to write.

Needs Ray: ``pip install 'terse[ray]'`` (which installs ``ray[data]``). Run it as it is (it starts terse's local simulator, not
a model, and a local Ray), or against a real server and your own rows:

    python examples/ray_batch.py
    python examples/ray_batch.py --base-url http://127.0.0.1:8080/v1 --model qwen3 \\
        --in reviews.jsonl --out reviews_out/
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

import terse
from terse.testing import FakeServer, Reply

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray must not phone home from here

PROMPT = "Classify this product review. Reply with JSON.\n\nReview: {text}"


class Review(BaseModel):
    sentiment: Literal["positive", "negative", "mixed"]
    product: str


class Extract:
    """A Ray Data callable class: one terse client per actor, one record per input row."""

    def __init__(self, base_url: str, model: str, threads: int = 4, **ask: Any) -> None:
        api_key = os.environ.get("OPENAI_API_KEY")
        self.client = terse.Client(base_url=base_url, api_key=api_key, model=model)
        self.pool = ThreadPoolExecutor(threads)
        self.ask = ask

    def __call__(self, batch: Any) -> dict[str, list[Any]]:
        """A pyarrow batch of rows in, the same rows' records out (as columns)."""
        records = list(self.pool.map(self.one, batch.to_pylist()))
        return {key: [r[key] for r in records] for key in records[0]} if records else {}

    def one(self, row: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {"id": row["id"], "value": None, "error": None}
        try:
            answer = self.client.ask(PROMPT.format_map(row), response_model=Review, **self.ask)
        except terse.TerseError as exc:  # the row fails, visibly; the batch goes on
            attempts = getattr(exc, "attempts", [])
            usage = sum((a.usage for a in attempts), terse.Usage())
            record["error"] = f"{type(exc).__name__}: {exc}"
        else:
            attempts, usage = list(answer.attempts), answer.usage
            record["value"] = answer.value.model_dump_json()
        record["attempts"] = len(attempts)
        record["reasoning_tokens"] = usage.reasoning_tokens
        record["answer_tokens"] = usage.answer_tokens
        return record


def pipeline(source: str, out: str, base_url: str, model: str, actors: int = 2) -> None:
    """Read ``source`` (JSONL), extract every row on ``actors`` actors, write JSON to ``out``."""
    import ray

    ds = ray.data.read_json(source)
    results = ds.map_batches(
        Extract,
        fn_constructor_kwargs={"base_url": base_url, "model": model, "max_retries": 1},
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=0.25,  # actors mostly wait on HTTP; leave CPUs for reading and writing
        batch_size=8,
        batch_format="pyarrow",
        udf_modifying_row_count=False,
    )
    results.write_json(out)


def read_output(out: str) -> list[dict[str, Any]]:
    """Every record Ray wrote (one JSON object per line, in any number of files)."""
    return [
        json.loads(line)
        for path in sorted(Path(out).glob("*.json"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]


SAMPLE = [
    ("The kettle boils fast and looks great.", "positive", "kettle"),
    ("My headphones broke after two days.", "negative", "headphones"),
    ("The lamp is pretty but the switch feels cheap.", "mixed", "lamp"),
    ("Best running shoes I have owned.", "positive", "running shoes"),
]


@contextlib.contextmanager
def server(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """The base URL and model to use: the ones given, or a scripted local simulator."""
    if args.base_url:
        yield args.base_url, args.model
        return
    print("(no --base-url: using terse.testing.FakeServer, a local simulator, not a model)\n")
    with FakeServer(dialect="vllm") as srv:
        for text, sentiment, product in SAMPLE:
            answer = json.dumps({"sentiment": sentiment, "product": product})
            srv.route(text, Reply(reasoning=f"About the {product}.", answer=answer))
        srv.default = Reply(reasoning="Hard to say.", answer="no idea")  # fails, visibly
        yield srv.base_url, "simulated-reasoner"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="an OpenAI-compatible server (default: simulator)")
    parser.add_argument("--model", default="default", help="the model name to send")
    parser.add_argument(
        "--in", dest="source", help="JSONL rows with id and text (default: a sample)"
    )
    parser.add_argument("--out", help="output directory (default: a temporary one)")
    parser.add_argument("--actors", type=int, default=2, help="Ray actors, each with a client")
    args = parser.parse_args(argv)
    try:
        import ray
    except ImportError:
        print(
            "this example needs Ray, which is not installed: pip install 'terse[ray]'",
            file=sys.stderr,
        )
        return 2

    with tempfile.TemporaryDirectory() as tmp, server(args) as (base_url, model):
        source = args.source or str(Path(tmp, "reviews.jsonl"))
        if not args.source:
            rows = [{"id": i, "text": text} for i, (text, _, _) in enumerate(SAMPLE)]
            rows.append({"id": len(rows), "text": "Meh."})
            Path(source).write_text("".join(json.dumps(r) + "\n" for r in rows))
        out = args.out or str(Path(tmp, "out"))
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
        try:
            pipeline(source, out, base_url, model, actors=args.actors)
        finally:
            ray.shutdown()
        records = read_output(out)
    for record in sorted(records, key=lambda r: str(r["id"])):
        print(f"  id {record['id']}: {record['value'] or record['error'].splitlines()[0]}")
    failed = sum(r["error"] is not None for r in records)
    print(f"{len(records)} records, {failed} failed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
