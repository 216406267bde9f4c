"""Counting a response's tokens as they stream, and saying when a thinking budget is reached.

A `BudgetGuard` belongs to one `terse._wire.assemble.Assembler`. It counts reasoning
tokens (by chunk on servers that send one token per chunk, else with the tokenizer), keeps
think tags out of the count a budget sees, counts undecided text provisionally (it may yet
turn out to be answer), and sets `cut` once the `Limit` in tokens or seconds is reached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .tokens import TokenCounter, count_tokens

__all__ = ["BudgetGuard", "Limit"]


@dataclass(frozen=True)
class Limit:
    """When to stop reading a stream because the thinking ran too long."""

    tokens: int | None = None
    seconds: float | None = None


class BudgetGuard:
    """Token counts of one response and the thinking-budget cut.

    Args:
        limit: When to set `cut`, or None (count only).
        clock: A monotonic clock; the seconds budget runs from construction.
        per_chunk: The server sends one token per stream chunk, so chunks are counted.
    """

    __slots__ = (
        "_clock",
        "_limit",
        "_provisional",
        "_start",
        "_tag_tokens",
        "_tags",
        "_thought",
        "answer_chunks",
        "counter",
        "cut",
    )

    def __init__(self, limit: Limit | None, clock: Callable[[], float], per_chunk: bool) -> None:
        self._limit = limit
        self._clock = clock
        self._start = clock()
        self.counter = TokenCounter("chunks" if per_chunk else "tiktoken")
        self._provisional = TokenCounter(self.counter.method)
        self._tags: list[str] = []  # thinking chunks that released nothing yet (a tag forming?)
        self._tag_tokens = 0  # counted tokens that were think tags, not reasoning
        self._thought = False  # a content chunk has been counted as reasoning
        self.answer_chunks = 0  # content chunks of the answer (token counts on chunk servers)
        self.cut = False
        """True once the thinking budget was reached: stop reading and close the stream."""

    @property
    def total(self) -> int:
        """Reasoning tokens counted so far (think tags included, as the server counts them)."""
        return self.counter.total

    def count(self, reasoning: str, provisional: bool = False, guarded: bool = True) -> None:
        """Count reasoning text; ``provisional`` text may still turn out to be answer.

        ``guarded=False`` marks a think tag: the server counts it, a budget does not.
        """
        if provisional:
            total = self._provisional.feed(reasoning) + self.counter.total
        else:
            before = self.counter.total
            total = self.counter.feed(reasoning)
            if not guarded:
                self._tag_tokens += total - before
        total -= self._tag_tokens
        limit = self._limit
        if limit is None or self.cut:
            return
        if (limit.tokens is not None and total >= limit.tokens) or (
            limit.seconds is not None and self._clock() - self._start >= limit.seconds
        ):
            self.cut = True

    def count_held(self, chunk: str) -> None:
        """Count undecided content provisionally, when there is a budget to check."""
        if self._limit is not None:
            self.count(chunk, provisional=True)

    def think(self, chunk: str, reasoning: bool) -> None:
        """Count a raw content chunk on the thinking side, delimiters included.

        ``reasoning`` says whether it released reasoning text, which settles any chunks
        held by `hold_tag` as reasoning (not as the opening tag).
        """
        self.settle_tags(reasoning=reasoning)
        self.count(chunk)
        self._thought = True

    def hold_tag(self, chunk: str) -> None:
        """Hold a chunk that released nothing but whitespace: a think tag may be forming.

        It counts toward the budget only if reasoning follows, so inline tags never make
        terse cut before a native budget that counts reasoning alone.
        """
        self._tags.append(chunk)

    def settle_tags(self, reasoning: bool) -> None:
        """Count the chunks held by `hold_tag`: reasoning after all, or a think tag."""
        if not self._tags:
            return
        tags, self._tags = self._tags, []
        guarded = reasoning and self._thought  # before any reasoning: the opening tag
        for chunk in tags:
            self.count(chunk, guarded=guarded)

    def resolved(self, held: list[str], reasoning: bool) -> None:
        """Undecided chunks were resolved: count them as reasoning, or as answer chunks."""
        self._provisional = TokenCounter(self.counter.method)
        if reasoning:
            for chunk in held:
                self.count(chunk)
        else:
            self.answer_chunks += len(held)

    def absorb(self, chunks: list[str]) -> None:
        """Count chunks as reasoning after the fact, with no budget check (at the end)."""
        for chunk in chunks:
            self.counter.feed(chunk)

    def answer_tokens(self, text: str, whole: bool) -> int:
        """The answer's tokens: its chunks when streamed by a chunk server, else counted."""
        if self.counter.method == "chunks" and not whole:
            return self.answer_chunks
        return count_tokens(text) if text else 0

    def check_time(self, answering: bool) -> bool:
        """Whether the seconds budget has run out while still thinking (sets `cut`)."""
        limit = self._limit
        if (
            limit is not None
            and limit.seconds is not None
            and not answering
            and not self.cut
            and self._clock() - self._start >= limit.seconds
        ):
            self.cut = True
        return self.cut

    def wake_at(self, answering: bool) -> float | None:
        """When the seconds budget runs out, on this guard's clock (None: no such bound)."""
        limit = self._limit
        if limit is None or limit.seconds is None or self.cut or answering:
            return None
        return self._start + limit.seconds
