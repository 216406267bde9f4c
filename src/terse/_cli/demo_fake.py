"""The ``terse demo`` checks against `terse.testing.FakeServer`, the local simulator.

Each check scripts the simulator to misbehave the way real reasoning models do — think
forever, hide a valid-looking draft in the reasoning, answer in prose when a number was
asked for — and shows what terse makes of it. The scripts are the point of the demo:
read them beside the report.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .demo import (
    BUDGET_PROMPT,
    CAPITAL_PROMPT,
    CITY_PROMPT,
    MOONS_PROMPT,
    Result,
    attempt_line,
    city_model,
    first_json,
    plural,
    usage_is_accounted,
)

if TYPE_CHECKING:
    import terse
    from terse.testing import FakeServer

__all__ = ["FAKE_CHECKS", "STRIP_DIALECTS"]

FAKE_BUDGET = 64
FAKE_RATE = 200  # tokens/s: slow enough that the cut lands between two simulated tokens
BASELINE_CAP = 1000
SLACK = 2  # tokens a server may generate after the budget while the cut reaches it
SECRET = "ZEBRA-7"  # a marker that only ever appears in the simulated reasoning
DECOY = {"city": "Lyon", "population": 522250}
CAPITAL_REASONING = f"The user wants a capital. Note to self: {SECRET}. France, so Paris."
CITY_REASONING = (
    f"The user wants JSON. First draft: {json.dumps(DECOY)}. No wait, Lyon is not the "
    "capital. The capital is Paris, about 2.1 million people."
)
CITY_ANSWER = '```json\n{"city": "Paris", "population": 2102650}\n```'
MOONS_REASONING = f"Mars has Phobos and Deimos. {SECRET}. That makes two."
MOONS_INVALID = "Mars has two moons, Phobos and Deimos."
STRIP_DIALECTS = ("vllm", "llamacpp", "deepseek", "inline-close-only", "inline-harmony")


@contextmanager
def _fake(dialect: str, **options: Any) -> Iterator[FakeServer]:
    from terse.testing import FakeServer

    with FakeServer(dialect=dialect, **options) as srv:
        yield srv


def _client(srv: FakeServer) -> terse.Client:
    import terse

    return terse.Client(base_url=srv.base_url, model="demo", timeout=10.0)


def _generations(srv: FakeServer) -> list[Any]:
    srv.wait_idle()
    return [r for r in srv.requests if r.script is not None or r.continuation]


# --- the checks, against the simulator ------------------------------------------------------


def fake_budget() -> Result:
    """A Runaway script thinks forever; without a budget only max_tokens stops it."""
    import terse
    from terse.testing import Runaway

    r = Result()
    with _fake("llamacpp") as srv, _client(srv) as client:
        srv.push(Runaway(answer="46"))
        try:
            client.ask(BUDGET_PROMPT, max_tokens=BASELINE_CAP, max_retries=0)
            r.require(False, "a runaway without a budget produced an answer")
        except terse.ThinkingTruncated:
            thought = _generations(srv)[0].reasoning_tokens
            r.say(
                f"{'no budget':19s} thought {thought:,} tokens, cut by max_tokens={BASELINE_CAP}: "
                "no answer (ThinkingTruncated)"
            )
    # llama.cpp enforces the budget itself; SGLang without --enable-strict-thinking ignores
    # it, so terse counts the streamed tokens, cuts the stream and has the model conclude.
    for dialect in ("llamacpp", "sglang"):
        with _fake(dialect, tokens_per_second=FAKE_RATE) as srv, _client(srv) as client:
            srv.push(Runaway(answer="46"))
            answer = client.ask(BUDGET_PROMPT, thinking_budget=FAKE_BUDGET)
            gens = _generations(srv)
        report = answer.budget
        thought = gens[0].reasoning_tokens
        how = "the server's own budget closed the thinking"
        if report is not None and report.strategy == "conclude":
            how = f"terse cut the stream, the model concluded ({report.method})"
        r.say(f"{f'budget {FAKE_BUDGET}, {dialect}':19s} thought {thought} tokens; {how}")
        r.say(
            f"{'':19s} -> answer {answer.text!r} ({plural(len(gens), 'request')}, "
            f"{answer.usage.total_tokens} tokens in all)"
        )
        r.require(thought <= FAKE_BUDGET + SLACK, f"{thought} reasoning tokens > budget")
        r.require(answer.text == "46", f"expected the answer '46', got {answer.text!r}")
    return r


def _wire(name: str) -> str:
    """How the simulated server sends reasoning, in a few words."""
    from terse.testing import DIALECTS

    d = DIALECTS[name]
    if d.reasoning_keys:
        return f"reasoning in the {d.reasoning_keys[0]} field"
    assert d.inline is not None
    opening, closing = d.inline
    if not opening:
        return f"inline, close tag only: {closing.strip()}"
    if "channel" in opening:
        return "inline gpt-oss harmony channels"
    return f"inline {opening.strip()}...{closing.strip()}"


def fake_strip() -> Result:
    """Each dialect sends the same reasoning and answer its own way; both calls stay clean."""
    from terse.testing import Reply

    r = Result()
    for dialect in STRIP_DIALECTS:
        with _fake(dialect) as srv, _client(srv) as client:
            srv.default = Reply(reasoning=CAPITAL_REASONING, answer="Paris")
            asked = client.ask(CAPITAL_PROMPT)
            with client.stream(CAPITAL_PROMPT) as stream:
                streamed = stream.get_answer()
        r.say(f"{dialect:18s} {_wire(dialect):44s} -> {asked.text!r}")
        for answer in (asked, streamed):
            r.require(answer.text == "Paris", f"{dialect}: answer {answer.text!r}")
            r.require(SECRET in answer.reasoning, f"{dialect}: reasoning lost")
    r.say("each by ask() and by stream(): the reasoning stayed in Answer.reasoning")
    return r


def fake_extract() -> Result:
    """The reasoning drafts a schema-valid Lyon object; the answer holds the real one."""
    from terse.testing import Reply

    city = city_model()
    r = Result()
    with _fake("inline") as srv, _client(srv) as client:
        srv.push(Reply(reasoning=CITY_REASONING, answer=CITY_ANSWER))
        answer = client.ask(CITY_PROMPT, response_model=city)
    raw = f"<think>\n{CITY_REASONING}\n</think>\n\n{CITY_ANSWER}"
    naive = first_json(raw)
    r.say(f"draft in the reasoning (schema-valid): {json.dumps(DECOY)}")
    r.say(f"naive parser (first JSON in output):   {json.dumps(naive)}")
    r.say(f"ask(..., response_model=City).value:   {answer.value!r}")
    r.require(naive == DECOY, "the naive parser was expected to return the draft")
    r.require(answer.value == city(city="Paris", population=2102650), "terse did not return Paris")
    return r


def fake_retry() -> Result:
    """The first answer names no number; the re-ask carries the answer and the error only."""
    from terse.testing import Reply

    r = Result()
    with _fake("deepseek") as srv, _client(srv) as client:
        srv.push(
            Reply(reasoning=MOONS_REASONING, answer=MOONS_INVALID),
            Reply(reasoning="Just the number.", answer="2"),
        )
        answer = client.ask(MOONS_PROMPT, response_model=int, max_retries=2)
        gens = _generations(srv)
    for a in answer.attempts:
        r.say(attempt_line(a))
    reask = json.dumps(gens[-1].body)
    r.say(
        f"value {answer.value!r} after {len(answer.attempts)} requests, "
        f"{answer.usage.total_tokens} tokens in all (usage sums every attempt)"
    )
    r.say("the re-ask sent back the failed answer and the error, never the reasoning")
    r.require(answer.value == 2, f"expected 2, got {answer.value!r}")
    r.require(SECRET not in reask, "the reasoning was sent back to the model")
    r.require(MOONS_INVALID in reask, "the failed answer was not shown to the model")
    r.require(usage_is_accounted(answer), "usage does not sum the attempts")
    return r


FAKE_CHECKS: dict[str, Callable[[], Result]] = {
    "budget": fake_budget,
    "strip": fake_strip,
    "extract": fake_extract,
    "retry": fake_retry,
}
"""The simulator version of each check in `terse._cli.demo.CHECKS`, by name."""
