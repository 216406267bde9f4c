"""The objects `Client.stream` and `AsyncClient.stream` return."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Generic, TypeVar

from .._exceptions import UsageError
from .._results import (
    Answer,
    AnswerDelta,
    Final,
    NewAttempt,
    ReasoningDelta,
    StreamEvent,
)

__all__ = ["AnswerStream", "AsyncAnswerStream"]

T = TypeVar("T")


def _final_answer(events: Iterator[StreamEvent]) -> Answer[Any]:
    for event in events:
        if isinstance(event, Final):
            return event.answer
    raise AssertionError("the flow ended without an answer")  # pragma: no cover


class _Shown:
    """The text streamed so far in the current attempt (void after a `NewAttempt`)."""

    def __init__(self) -> None:
        self.attempt = 1
        self._reasoning: list[str] = []
        self._text: list[str] = []
        self.answer_yielded = False

    def see(self, event: StreamEvent) -> None:
        if isinstance(event, AnswerDelta):
            self._text.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self._reasoning.append(event.text)
        elif isinstance(event, NewAttempt):
            self.attempt = event.number
            self._reasoning, self._text = [], []

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)


def _restarted(event: NewAttempt) -> UsageError:
    return UsageError(
        f"the answer started over (attempt {event.number}, after {event.reason}), so the "
        "pieces answer_text() already gave are void; iterate the events and handle "
        "terse.NewAttempt (see docs/guides/streaming.md), or use get_answer()"
    )


class AnswerStream(Generic[T]):
    """What `Client.stream` returns: a context manager and iterator of events.

    Iterating yields `ReasoningDelta` and `AnswerDelta` pieces as they arrive (no
    reasoning ever appears in an `AnswerDelta`), `ToolCallDelta` pieces of tool calls as
    they form (with ``tools=``), a `NewAttempt` whenever the call starts over (what was
    shown before it is void), then one `Final` holding the `Answer`.
    ``text`` and ``reasoning`` hold what the current attempt has streamed so far.
    Leaving the ``with`` block early closes the HTTP stream, which stops generation on
    servers that notice disconnects.
    """

    def __init__(self, events: Iterator[StreamEvent]) -> None:
        self._events = events
        self._answer: Answer[T] | None = None
        self._shown = _Shown()

    @property
    def text(self) -> str:
        """The answer streamed so far by the current attempt (reset by `NewAttempt`)."""
        return self._shown.text

    @property
    def reasoning(self) -> str:
        """The reasoning streamed so far by the current attempt (reset by `NewAttempt`)."""
        return self._shown.reasoning

    @property
    def attempt(self) -> int:
        """The number of the attempt streaming now (1, then 2 after a `NewAttempt`, …)."""
        return self._shown.attempt

    def __enter__(self) -> AnswerStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[StreamEvent]:
        for event in self._events:
            self._shown.see(event)
            if isinstance(event, Final):
                self._answer = event.answer
            yield event

    def answer_text(self) -> Iterator[str]:
        """Iterate over the answer text pieces only.

        A string iterator cannot take pieces back: if the call starts over after some
        answer pieces were given, this raises `UsageError` rather than let the joined
        pieces read as one wrong answer. Handle `NewAttempt` events for streams that
        may retry (a ``response_model``, flaky servers).
        """
        given = False
        for event in self:
            if isinstance(event, AnswerDelta):
                given = True
                yield event.text
            elif isinstance(event, NewAttempt) and given:
                raise _restarted(event)

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
        self._shown = _Shown()

    @property
    def text(self) -> str:
        """The answer streamed so far by the current attempt (reset by `NewAttempt`)."""
        return self._shown.text

    @property
    def reasoning(self) -> str:
        """The reasoning streamed so far by the current attempt (reset by `NewAttempt`)."""
        return self._shown.reasoning

    @property
    def attempt(self) -> int:
        """The number of the attempt streaming now (1, then 2 after a `NewAttempt`, …)."""
        return self._shown.attempt

    async def __aenter__(self) -> AsyncAnswerStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def __aiter__(self) -> AsyncIterator[StreamEvent]:
        async for event in self._events:
            self._shown.see(event)
            if isinstance(event, Final):
                self._answer = event.answer
            yield event

    async def answer_text(self) -> AsyncIterator[str]:
        """Iterate over the answer text pieces only (see `AnswerStream.answer_text`)."""
        given = False
        async for event in self:
            if isinstance(event, AnswerDelta):
                given = True
                yield event.text
            elif isinstance(event, NewAttempt) and given:
                raise _restarted(event)

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
