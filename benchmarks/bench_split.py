"""Splitter speed, as ratios against baselines measured in the same run.

Whole text: MB/s of `terse.split` on a 1 MB output with one long think block, against a
naive ``re.sub(r"<think>.*?</think>", "", text, flags=re.S)``.
Streaming: ns per chunk of `Splitter.feed` with 1-4-character chunks, against the cost of
calling an empty method the same way (the floor for any per-chunk API).

Run: ``python benchmarks/bench_split.py``. Targets: whole text >= 1 GB/s; streaming within
3x the empty-call floor.
"""

from __future__ import annotations

import random
import re

from _report import interleaved, result

from terse import Splitter, split

WORDS = "Let me think about this carefully . The user wants a number , so 42 maybe".split()


def make_text(size: int = 1_000_000, seed: int = 1) -> str:
    rnd = random.Random(seed)
    body: list[str] = []
    n = 0
    while n < size:
        w = rnd.choice(WORDS) + (" " if rnd.random() < 0.9 else "\n")
        body.append(w)
        n += len(w)
    return "<think>\n" + "".join(body) + "\n</think>\n\nThe answer is 42."


def chunk(text: str, seed: int = 2) -> list[str]:
    rnd = random.Random(seed)
    out, i = [], 0
    while i < len(text):
        n = rnd.randint(1, 4)
        out.append(text[i : i + n])
        i += n
    return out


class _Empty:
    def feed(self, chunk: str) -> None:
        return None


def main() -> None:
    text = make_text()
    naive = re.compile(r"<think>.*?</think>", re.S)
    assert split(text).answer == "The answer is 42."
    whole = interleaved(
        {
            "terse.split": lambda: split(text),
            "re.sub baseline": lambda: naive.sub("", text),
        },
        rounds=15,
    )
    mb = len(text.encode()) / 1e6
    print(f"whole text, {mb:.2f} MB, one think block (median of 15, interleaved)")
    for name, t in whole.items():
        print(f"  {name:18s} {mb / t / 1000:8.2f} GB/s")
    speedup = whole["re.sub baseline"] / whole["terse.split"]
    print(f"  ratio: terse.split is {speedup:.1f}x the baseline")
    result("split_vs_regex", speedup, baseline="re.sub(<think>.*?</think>)", target=">=1")
    result(
        "split_throughput", mb / whole["terse.split"] / 1000, baseline="", target=">=1", unit="GB/s"
    )

    chunks = chunk(text[:400_000])

    def run_splitter() -> None:
        feed = Splitter().feed
        for c in chunks:
            feed(c)

    def run_empty() -> None:
        feed = _Empty().feed
        for c in chunks:
            feed(c)

    stream = interleaved({"Splitter.feed": run_splitter, "empty method": run_empty}, rounds=15)
    print(f"\nstreaming, {len(chunks)} chunks of 1-4 chars (median of 15, interleaved)")
    for name, t in stream.items():
        print(f"  {name:18s} {t / len(chunks) * 1e9:8.1f} ns/chunk")
    ratio = stream["Splitter.feed"] / stream["empty method"]
    print(f"  ratio: Splitter.feed costs {ratio:.2f}x an empty method call (target <= 3x)")
    result("stream_split_vs_empty_call", ratio, baseline="empty method call", target="<=3")


if __name__ == "__main__":
    main()
