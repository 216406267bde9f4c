"""Finding 6 of issue 13 (tokens): counting never runs super-linear work on unbounded text."""

from __future__ import annotations

import time

import pytest

from terse._wire.tokens import EXACT_MAX, _count_blocks, count_tokens, load_encoding


@pytest.mark.parametrize("size", [1 << 20, 64 << 20])
def test_a_run_with_no_break_is_counted_in_linear_time(size: int) -> None:
    start = time.monotonic()
    n = count_tokens("a" * size)
    elapsed = time.monotonic() - start
    assert n > 0
    assert elapsed < 10, elapsed  # whole-text BPE of 1 MiB of "a" alone took ~1.2 s; 64 MiB, hours


def test_large_texts_are_estimated_above_exact_max() -> None:
    text = "word " * (EXACT_MAX // 5 + 10)
    assert count_tokens(text) == (len(text) + 3) // 4


def test_blocks_cut_at_safe_points_count_exactly() -> None:
    enc = load_encoding()
    if enc is None:
        pytest.skip("tiktoken unavailable offline")
    text = ("The quick brown fox, jumps over 12 lazy dogs. " * 4000)[:150_000]
    assert _count_blocks(enc, text) == len(enc.encode_ordinary(text))
