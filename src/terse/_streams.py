"""The objects `Client.stream` and `AsyncClient.stream` return."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Generic, TypeVar

from ._exceptions import UsageError
from ._results import (
    Answer,
    AnswerDelta,
    Final,
    StreamEvent,
)

__all__ = ["AnswerStream", "AsyncAnswerStream"]

T = TypeVar("T")


def _final_answer(events: Iterator[StreamEvent]) -> Answer[Any]:
    for event in events:
        if isinstance(event, Final):
            return event.answer
    raise AssertionError("the flow ended without an answer")  # pragma: no cover


class AnswerStream(Generic[T]):
    """What `Client.stream` returns: a context manager and iterator of events.

    Iterating yields `ReasoningDelta` and `AnswerDelta` pieces as they arrive (no
    reasoning ever appears in an `AnswerDelta`), then one `Final` holding the `Answer`.
    Leaving the ``with`` block early closes the HTTP stream, which stops generation on
    servers that notice disconnects.
    """

    def __init__(self, events: Iterator[StreamEvent]) -> None:
        self._events = events
        self._answer: Answer[T] | None = None

    def __enter__(self) -> AnswerStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[StreamEvent]:
        for event in self._events:
            if isinstance(event, Final):
                self._answer = event.answer
            yield event

    def answer_text(self) -> Iterator[str]:
        """Iterate over the answer text pieces only."""
        for event in self:
            if isinstance(event, AnswerDelta):
                yield event.text

    def get_answer(self) -> Answer[T]:
        """Read the rest of the stream and return the final `Answer`."""
        for _ in self:
            pass
        if self._answer is None:
            raise UsageError("the stream was closed before its answer arrived")
        return self._answer

    def close(self) -> None:
        """Stop reading and close the HTTP stream."""
        close = getattr(self._events, "close", None)
        if close is not None:
            close()


class AsyncAnswerStream(Generic[T]):
    """What `AsyncClient.stream` returns: the async twin of `AnswerStream`."""

    def __init__(self, events: AsyncIterator[StreamEvent]) -> None:
        self._events = events
        self._answer: Answer[T] | None = None

    async def __aenter__(self) -> AsyncAnswerStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def __aiter__(self) -> AsyncIterator[StreamEvent]:
        async for event in self._events:
            if isinstance(event, Final):
                self._answer = event.answer
            yield event

    async def answer_text(self) -> AsyncIterator[str]:
        """Iterate over the answer text pieces only."""
        async for event in self:
            if isinstance(event, AnswerDelta):
                yield event.text

    async def get_answer(self) -> Answer[T]:
        """Read the rest of the stream and return the final `Answer`."""
        async for _ in self:
            pass
        if self._answer is None:
            raise UsageError("the stream was closed before its answer arrived")
        return self._answer

    async def aclose(self) -> None:
        """Stop reading and close the HTTP stream."""
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()
