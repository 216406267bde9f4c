"""The text of one response as it arrives, in order and within `Limits`.

An `Accumulator` keeps the reasoning and answer pieces a response released, as runs of one
kind in arrival order (so the finished response is a tuple of typed parts), and the
content held undecided (text with no think tag yet, which may be close-only reasoning).
Past `Limits.reasoning` or `Limits.answer` characters it reports `ResponseTooLarge`, with
what was kept so far, to the callback it was given.
"""

from __future__ import annotations

from collections.abc import Callable

from .._exceptions import ResponseTooLarge, TerseError
from .._results import Part, ReasoningPart, TextPart
from .sse import Limits

__all__ = ["Accumulator"]

_JOIN_AT = 4096  # join small pieces past this many: a str per token costs ~60 bytes


class Accumulator:
    """Reasoning, answer and undecided text of one response.

    Args:
        limits: The sizes past which the response is refused.
        fail: Called with the `ResponseTooLarge` when a size is passed.
    """

    __slots__ = (
        "_fail",
        "_fixed",
        "_kinds",
        "_limits",
        "_run",
        "_runs",
        "a_size",
        "r_size",
        "u_size",
        "undecided",
    )

    def __init__(self, limits: Limits, fail: Callable[[TerseError], None]) -> None:
        self._limits = limits
        self._fail = fail
        self._runs: list[list[str]] = []  # runs of pieces of one kind, in arrival order
        self._kinds: list[bool] = []  # for each run: True for answer, False for reasoning
        self._run: list[str] | None = None  # the last run
        self._fixed = 0  # leading items of the last run that are joined blocks
        self.r_size = 0  # characters of reasoning kept
        self.a_size = 0  # characters of answer kept
        self.undecided: list[str] = []  # content held undecided, kept in case a budget cuts it
        self.u_size = 0

    def _append(self, text: str, answer: bool) -> None:
        run = self._run
        if run is None or self._kinds[-1] is not answer:
            run = self._run = []
            self._runs.append(run)
            self._kinds.append(answer)
            self._fixed = 0
        run.append(text)
        if len(run) > _JOIN_AT:
            run[self._fixed :] = ["".join(run[self._fixed :])]
            self._fixed += 1

    def keep_reasoning(self, text: str, check: bool = True) -> None:
        """Keep reasoning text (``check``: refuse it past `Limits.reasoning`)."""
        self._append(text, False)
        self.r_size += len(text)
        if check and self.r_size + self.u_size > self._limits.reasoning:
            self.too_large("reasoning")

    def keep_answer(self, text: str, check: bool = True) -> None:
        """Keep answer text (``check``: refuse it past `Limits.answer`)."""
        self._append(text, True)
        self.a_size += len(text)
        if check and self.a_size > self._limits.answer:
            self.too_large("answer")

    def hold(self, content: str) -> None:
        """Hold undecided content; it counts toward `Limits.reasoning` while held."""
        self.undecided.append(content)
        self.u_size += len(content)
        if self.u_size + self.r_size > self._limits.reasoning:
            self.too_large("reasoning")

    def release(self) -> list[str]:
        """Stop holding the undecided content; return it."""
        held, self.undecided = self.undecided, []
        self.u_size = 0
        return held

    @property
    def answering(self) -> bool:
        """Whether any answer text was kept."""
        return self.a_size > 0

    def reasoning(self) -> str:
        """The reasoning kept so far."""
        return "".join(["".join(r) for r, a in zip(self._runs, self._kinds, strict=True) if not a])

    def answer(self) -> str:
        """The answer kept so far, unstripped."""
        return "".join(["".join(r) for r, a in zip(self._runs, self._kinds, strict=True) if a])

    def parts(self) -> tuple[list[Part], str, str]:
        """The response as parts, with its reasoning and its answer (stripped) joined.

        The answer is stripped as one text: leading whitespace from its first pieces,
        trailing whitespace from its last. Empty parts are left out, and runs of one kind
        that meet once they are gone become one part.
        """
        texts = ["".join(run) for run in self._runs]
        kinds = self._kinds
        answer_at = [i for i, a in enumerate(kinds) if a]
        for i in answer_at:
            texts[i] = texts[i].lstrip()
            if texts[i]:
                break
        for i in reversed(answer_at):
            texts[i] = texts[i].rstrip()
            if texts[i]:
                break
        groups: list[tuple[bool, list[str]]] = []
        for text, is_answer in zip(texts, kinds, strict=True):
            if not text:
                continue
            if groups and groups[-1][0] is is_answer:
                groups[-1][1].append(text)
            else:
                groups.append((is_answer, [text]))
        parts: list[Part] = []
        reasoning: list[str] = []
        answer: list[str] = []
        for is_answer, pieces in groups:
            text = "".join(pieces)
            if is_answer:
                answer.append(text)
                parts.append(TextPart(text))
            else:
                reasoning.append(text)
                parts.append(ReasoningPart(text))
        return parts, "".join(reasoning), "".join(answer)

    def too_large(self, which: str) -> None:
        """Report `ResponseTooLarge` for ``which`` (``"reasoning"`` or ``"answer"``)."""
        size = self._limits.reasoning if which == "reasoning" else self._limits.answer
        self._fail(
            ResponseTooLarge(
                f"the model's {which} passed {size} characters (Limits.{which}); terse stopped "
                "reading",
                limit=which,
                max=size,
                text=self.answer()[: self._limits.answer],
                reasoning=(self.reasoning() + "".join(self.undecided))[: self._limits.reasoning],
            )
        )

    def with_partial(self, error: TerseError) -> TerseError:
        """``error``, given the text kept so far when it is `ResponseTooLarge`."""
        if isinstance(error, ResponseTooLarge):
            error.text = self.answer()
            error.reasoning = self.reasoning() + "".join(self.undecided)
        return error
