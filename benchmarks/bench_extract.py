"""Extraction speed and correctness, as ratios against json_repair measured in the same run.

Input: a ~10 KB raw output whose ``<think>`` block holds schema-valid *draft* JSON (Lyon,
inline and fenced, among prose), followed by a short answer with the real object (Paris) in
a ```json fence. Each extractor is timed interleaved with the others (median of many runs):

* ``terse.extract(raw, City)``: split, search the answer only, validate.
* ``json_repair.loads(raw)``: the popular "just repair the text" approach, on the same text.

Also printed: whether each got the right object (json_repair returns every object it finds,
drafts included, as a list). Run: ``python benchmarks/bench_extract.py``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from _report import interleaved, result
from pydantic import BaseModel

from terse._extract.extract import extract

try:
    import json_repair
except ImportError as e:  # pragma: no cover - a dev dependency
    raise SystemExit("json_repair is needed for the baseline: pip install json-repair") from e


class City(BaseModel):
    city: str
    population: int
    capital: bool


RIGHT = City(city="Paris", population=2102650, capital=True)
DRAFT = '{"city": "Lyon", "population": 522250, "capital": false}'
WORDS = (
    "so the user wants a city object with fields city population and capital . "
    "let me check the numbers again , maybe the census from 2019 says otherwise ."
).split()


def make_output(size: int = 10_000, seed: int = 3) -> str:
    rnd = random.Random(seed)
    parts: list[str] = ["<think>\n"]
    n = 0
    while n < size - 400:
        if rnd.random() < 0.04:
            piece = rnd.choice([f"Draft: {DRAFT}\n", f"```json\n{DRAFT}\n```\n"])
        else:
            piece = rnd.choice(WORDS) + (" " if rnd.random() < 0.93 else "\n")
        parts.append(piece)
        n += len(piece)
    parts.append("\n</think>\n\nHere is the answer:\n\n")
    parts.append('```json\n{"city": "Paris", "population": 2102650, "capital": true}\n```\n')
    return "".join(parts)


def outcome(fn: Callable[[], Any]) -> str:
    try:
        got = fn()
    except Exception as e:  # a benchmark reports failures rather than stopping
        return f"raised {type(e).__name__}"
    if isinstance(got, list):
        cities = [g.get("city") for g in got if isinstance(g, dict)]
        return f"wrong: a list of {len(got)} values, cities {cities}"
    if isinstance(got, dict):
        got = City.model_validate(got)
    return "right" if got == RIGHT else f"wrong: {str(got)[:60]}"


def main() -> None:
    raw = make_output()
    fns: dict[str, Callable[[], object]] = {
        "terse.extract": lambda: extract(raw, City),
        "json_repair.loads": lambda: json_repair.loads(raw),
    }
    for fn in fns.values():  # warm caches (terse's TypeAdapter, imports)
        outcome(fn)
    med = interleaved(fns, rounds=200)
    base = med["json_repair.loads"]
    print(f"{len(raw):,} chars: {raw.count(DRAFT)} draft objects in <think>, answer in a fence")
    print(f"{'extractor':24s} {'µs/call':>10s} {'vs json_repair':>15s}  result")
    for name, fn in fns.items():
        print(f"{name:24s} {med[name] * 1e6:10.1f} {base / med[name]:14.1f}x  {outcome(fn)}")
    result(
        "extract_speedup_vs_json_repair",
        base / med["terse.extract"],
        baseline="json_repair.loads (which returns the drafts)",
    )


if __name__ == "__main__":
    main()
