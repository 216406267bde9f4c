"""Budgets on a real llama-server under both reasoning formats (issue 14, items 14/15/17/18).

``--reasoning-format deepseek`` (the default here) splits the thought into
``reasoning_content``; ``none`` leaves it, with the template's ``<think>`` and the server's
forced ``</think>``, in ``content``. terse must treat the same output the same way under
both: use the server's native budget, classify a cut thought alike, stream a concluded answer
as it is written, survive the server's stale keep-alives, and name ``Budget.answer_tokens``
when that is what ran out. Mechanics only, never what a 135M model says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

import terse

from ._llama_terse_run import MODEL, TIMEOUT, run
from .conftest import llama_server

pytestmark = pytest.mark.llama

N = 16
THINKER = "Explain in detail how a lighthouse works, then say in one sentence what it is for."
FORMATS = ["deepseek", "none"]


@pytest.fixture(scope="session")
def formatted(_llama_assets: tuple[Path, Path]) -> Iterator[Callable[[str], Any]]:
    """R1-style llama-servers (``--temp 0``) by reasoning format, started lazily."""
    servers: dict[str, Any] = {}
    with ExitStack() as stack:

        def get(fmt: str) -> Any:
            if fmt not in servers:
                args = ("--temp", "0", "--reasoning-format", fmt)
                try:
                    servers[fmt] = stack.enter_context(
                        llama_server.running_server("chatml-r1-style", extra_args=args)
                    )
                except llama_server.LlamaServerError as exc:
                    error = str(exc)
                else:
                    return servers[fmt]
                pytest.fail(error, pytrace=False)
            return servers[fmt]

        yield get


@pytest.mark.parametrize("mode", ["sync", "sync-stream", "async-stream"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_the_native_budget_closes_the_thought_under_either_format(
    formatted: Callable[[str], Any], fmt: str, mode: str
) -> None:
    server = formatted(fmt)

    r = run(server, mode, THINKER, thinking_budget=terse.Budget(tokens=N, answer_tokens=160))
    a = r.answer

    (body,) = r.bodies("/v1/chat/completions")  # one request: terse's guard never cut first
    assert body["reasoning_budget_tokens"] == N
    assert r.generation_paths == ["/v1/chat/completions"]
    assert a.budget is not None
    assert (a.budget.hit, a.budget.strategy) == (True, "native")
    assert a.text.strip()
    assert "<think>" not in a.text
    assert "<think>" not in a.reasoning
    (spent,) = r.spent
    assert spent.attempt.outcome == "ok"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_thought_cut_by_max_tokens_gets_the_same_verdict_under_either_format(
    formatted: Callable[[str], Any], fmt: str
) -> None:
    with pytest.raises(terse.ThinkingTruncated) as info:
        run(formatted(fmt), "sync", THINKER, max_tokens=N, client={"max_retries": 0})
    assert info.value.reasoning.strip()
    assert "<think>" not in info.value.reasoning
    assert len(info.value.attempts) == 1  # not retried


@pytest.mark.parametrize("mode", ["sync-stream", "async-stream"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_concluded_answer_streams_as_it_is_written(
    formatted: Callable[[str], Any], fmt: str, mode: str
) -> None:
    server = formatted(fmt)
    budget = terse.Budget(tokens=N, native=False, answer_tokens=160)

    r = run(server, mode, THINKER, thinking_budget=budget)

    assert r.answer.budget is not None
    assert r.answer.budget.method == "llamacpp-completion"
    (completion,) = r.bodies("/v1/completions")
    assert completion["stream"] is True
    pieces = [e.text for e in r.events if isinstance(e, terse.AnswerDelta)]
    conclusion = r.spent[-1].tokens.predicted
    # One piece per token or so, never one piece at the end (whitespace is held back).
    assert len(pieces) >= conclusion / 3 > 1, (len(pieces), conclusion)
    assert "".join(pieces).strip() == r.answer.text


@pytest.mark.parametrize("fmt", FORMATS)
def test_ten_budgeted_calls_in_a_row_survive_stale_keep_alives(
    formatted: Callable[[str], Any], fmt: str
) -> None:
    server = formatted(fmt)
    budget = terse.Budget(tokens=N, native=False, answer_tokens=32)
    seen: list[terse.Attempt] = []

    with terse.Client(
        base_url=server.base_url,
        model=MODEL,
        timeout=TIMEOUT,
        temperature=0,
        on_attempt=seen.append,
    ) as client:
        methods = []
        for i in range(10):
            if i % 2:
                with client.stream(THINKER, thinking_budget=budget) as stream:
                    answer = stream.get_answer()
            else:
                answer = client.ask(THINKER, thinking_budget=budget)
            assert answer.budget is not None
            methods.append(answer.budget.method)

    assert methods == ["llamacpp-completion"] * 10  # never the new-turn fallback
    templates = [a for a in seen if a.endpoint == "apply-template"]
    assert len(templates) == 10
    assert all(a.outcome == "ok" for a in templates), templates


@pytest.mark.parametrize("native_budget", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_an_answer_out_of_answer_tokens_names_budget_answer_tokens(
    formatted: Callable[[str], Any], fmt: str, native_budget: bool
) -> None:
    budget = terse.Budget(tokens=N, native=native_budget, answer_tokens=6)
    story = "Write a very long story about a lighthouse keeper."

    with pytest.raises(terse.AnswerTruncated) as info:
        run(formatted(fmt), "sync", story, thinking_budget=budget, client={"max_retries": 0})

    message = str(info.value)
    assert "raise Budget.answer_tokens" in message
    assert "max_tokens" not in message
    assert "no way to conclude" not in message
    generating = [a for a in info.value.attempts if a.endpoint != "apply-template"]
    assert len(generating) <= 2  # the thought and at most one conclusion: no re-thinking
    assert all(a.purpose in ("ask", "conclude") for a in generating)
