"""Cut close-only reasoning is ThinkingTruncated; model-written think tags never reach the answer.

Both through `Client`/`AsyncClient` against the fake server, whole and streamed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import terse
from terse.testing import FakeServer, Reply

MODES = ["sync", "async", "sync-stream", "async-stream"]
LONG = "Okay, the user asks for the capital of France. Let me recall the regions first. " * 8

Asker = Callable[..., terse.Answer[Any]]


def with_client(mode: str, srv: FakeServer, body: Callable[[Asker], None], **opts: Any) -> None:
    """Run ``body(ask)`` with one client (so what it learns carries over between calls)."""
    options: dict[str, Any] = {"model": "m", "timeout": 10.0, **opts}
    stream = mode.endswith("stream")
    if mode.startswith("sync"):
        with terse.Client(base_url=srv.base_url, **options) as client:

            def ask(prompt: str = "capital?", **kw: Any) -> terse.Answer[Any]:
                if not stream:
                    return client.ask(prompt, **kw)
                with client.stream(prompt, **kw) as events:
                    return collect(list(events))

            body(ask)
        return

    async def go() -> None:
        async with terse.AsyncClient(base_url=srv.base_url, **options) as client:
            loop = asyncio.get_running_loop()

            async def aask(prompt: str, kw: dict[str, Any]) -> terse.Answer[Any]:
                if not stream:
                    return await client.ask(prompt, **kw)
                async with client.stream(prompt, **kw) as events:
                    return collect([e async for e in events])

            def ask(prompt: str = "capital?", **kw: Any) -> terse.Answer[Any]:
                # body() is synchronous: run each call on this loop from a worker thread.
                return asyncio.run_coroutine_threadsafe(aask(prompt, kw), loop).result(30)

            await loop.run_in_executor(None, body, ask)

    asyncio.run(go())


def collect(events: list[terse.StreamEvent]) -> terse.Answer[Any]:
    final = events[-1]
    assert isinstance(final, terse.Final)
    pieces = "".join(e.text for e in events if isinstance(e, terse.AnswerDelta))
    assert pieces.strip() == final.answer.text
    if "```" not in pieces:  # a tag shown inside a code fence is content
        for tag in ("<think>", "</think>", "<|return|>", "<|end|>"):
            assert tag not in pieces
    return final.answer


# --- item: close-only reasoning cut by max_tokens ---------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_cut_close_only_reasoning_after_seeing_close_only_output(mode: str) -> None:
    with FakeServer(dialect="inline-close-only") as srv:
        srv.push(Reply(reasoning="France: Paris.", answer="Paris"))
        srv.push(Reply(reasoning=LONG, answer="Paris"))

        def body(ask: Asker) -> None:
            assert ask().text == "Paris"  # the client sees this server's close-only output
            with pytest.raises(terse.ThinkingTruncated) as info:
                ask(max_tokens=12, max_retries=0)
            err = info.value
            assert not isinstance(err, terse.AnswerTruncated)
            assert err.finish_reason == "length"
            assert err.reasoning.startswith("Okay, the user asks")
            assert err.text == ""

        with_client(mode, srv, body)


@pytest.mark.parametrize("mode", MODES)
def test_cut_reasoning_with_thinking_open_true_is_thinking_truncated(mode: str) -> None:
    with FakeServer(dialect="inline-close-only") as srv:
        srv.push(Reply(reasoning=LONG, answer="Paris"))

        def body(ask: Asker) -> None:
            with pytest.raises(terse.ThinkingTruncated) as info:
                ask(max_tokens=12, max_retries=0)
            assert info.value.reasoning.startswith("Okay, the user asks")
            assert info.value.text == ""

        with_client(mode, srv, body, thinking_open=True)


@pytest.mark.parametrize("mode", ["sync", "sync-stream"])
def test_cut_untagged_text_on_an_unknown_server_says_how_to_fix_it(mode: str) -> None:
    # Never seen close-only output and not told: the text may be a plain answer, so it
    # stays a cut answer, and the error says what to pass if it was reasoning.
    with FakeServer(dialect="inline-close-only") as srv:
        srv.push(Reply(reasoning=LONG, answer="Paris"))

        def body(ask: Asker) -> None:
            with pytest.raises(terse.AnswerTruncated, match="thinking_open=True"):
                ask(max_tokens=12, max_retries=0)

        with_client(mode, srv, body)


@pytest.mark.parametrize("mode", ["sync", "sync-stream"])
def test_a_cut_plain_answer_on_a_server_with_tagged_reasoning_stays_answer_truncated(
    mode: str,
) -> None:
    # Reasoning that opens with its own tag is not close-only: nothing is learned, and an
    # untagged cut answer (thinking switched off by the caller) is still a cut answer.
    with FakeServer(dialect="inline") as srv:
        srv.push(Reply(reasoning="France: Paris.", answer="Paris"))
        srv.push(Reply(answer="Paris is the capital and the largest city of France. " * 4))

        def body(ask: Asker) -> None:
            assert ask().text == "Paris"
            with pytest.raises(terse.AnswerTruncated):
                ask(max_tokens=12, max_retries=0)

        with_client(mode, srv, body)


# --- item: model-written think tags and harmony terminators never reach the answer ------------

LEAKS = [
    # (dialect, answer as the model writes it): vllm/llamacpp put the reasoning in a field
    # (llama.cpp --reasoning-format deepseek), "inline" leaves it in content (format none).
    ("vllm", "</think>\n\nParis is the capital."),
    ("llamacpp", "</think>Paris is the capital."),
    ("llamacpp", "Paris is the capital.\n</think>"),
    ("deepseek", "Paris is the capital.</think>"),
    ("inline", "</think>\n\nParis is the capital."),
    ("inline", "Paris is the capital.\n\n</think>\n"),
    ("inline-close-only", "</think>\nParis is the capital."),
    ("inline-harmony", "Paris is the capital.<|return|>"),
    ("inline-harmony", "Paris is the capital.<|end|>"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("dialect", "written"), LEAKS)
def test_a_leaked_tag_never_reaches_text_or_deltas(mode: str, dialect: str, written: str) -> None:
    with FakeServer(dialect=dialect) as srv:
        srv.push(Reply(reasoning="France: Paris.", answer=written, chunk=2))

        def body(ask: Asker) -> None:
            answer = ask()
            assert answer.text == "Paris is the capital."
            assert answer.reasoning.strip() == "France: Paris."

        with_client(mode, srv, body)


@pytest.mark.parametrize("mode", ["sync", "async-stream"])
def test_a_tag_inside_a_code_fence_is_content(mode: str) -> None:
    written = "Close the block like this:\n```\n</think>\n```"
    with FakeServer(dialect="vllm") as srv:
        srv.push(Reply(reasoning="Show the tag.", answer=written))

        def body(ask: Asker) -> None:
            assert ask().text == written

        with_client(mode, srv, body)


# What SmolLM2 wrote on llama.cpp after the native budget closed its thinking: the answer
# goes on past a </think> of its own at the end of a line.
AFTER_FORCED_CLOSE = "A lighthouse stands at the edge of the ocean</think>\n\nIt guides ships."


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dialect", ["llamacpp", "vllm", "inline"])
def test_a_tag_that_ends_a_line_of_the_answer_is_dropped(mode: str, dialect: str) -> None:
    with FakeServer(dialect=dialect) as srv:
        srv.push(Reply(reasoning="A lighthouse.", answer=AFTER_FORCED_CLOSE, chunk=3))

        def body(ask: Asker) -> None:
            answer = ask()
            assert answer.text == "A lighthouse stands at the edge of the ocean\n\nIt guides ships."

        with_client(mode, srv, body)


def test_a_tag_that_ends_a_line_inside_a_fence_stays() -> None:
    written = "The template closes with:\n```\n{{ reasoning }}</think>\n```"
    with FakeServer(dialect="vllm") as srv:
        srv.push(Reply(reasoning="Show it.", answer=written, chunk=2))

        def body(ask: Asker) -> None:
            assert ask().text == written

        with_client("sync-stream", srv, body)
