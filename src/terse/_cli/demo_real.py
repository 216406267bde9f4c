"""The ``terse demo`` checks against a real server: the same prompts, reported honestly.

A real model is not scripted, so these checks say what happened rather than what was
planned: a model that never thinks past the budget, or whose answer never validates, is
reported as such. Every call after the first carries the thinking budget, because a real
reasoning model without one may think until the context is full. One `terse.Client`
serves every check, so what it learns about the server (its dialect, whether a native
budget works) is learned once, as in a long-running program.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from .demo import (
    BUDGET_PROMPT,
    CAPITAL_PROMPT,
    CITY_PROMPT,
    MOONS_PROMPT,
    Endpoint,
    Result,
    attempt_line,
    city_model,
    first_json,
    plural,
    short,
    usage_is_accounted,
)

if TYPE_CHECKING:
    import terse

__all__ = ["REAL_CHECKS", "Session", "leak", "preflight", "run_real"]


@dataclass
class Session:
    """The endpoint, one client for every check, and the attempts it has made so far."""

    endpoint: Endpoint
    client: terse.Client
    attempts: list[terse.Attempt] = field(default_factory=list)

    @classmethod
    def open(cls, ep: Endpoint) -> Session:
        import terse

        attempts: list[terse.Attempt] = []
        client = terse.Client(
            base_url=ep.base_url,
            api_key=ep.api_key,
            model=ep.model,
            timeout=ep.timeout,
            thinking_budget=ep.budget,
            on_attempt=attempts.append,
        )
        return cls(ep, client, attempts)


def _quote(text: str, limit: int = 50) -> str:
    return repr(short(text, limit))


def preflight(ep: Endpoint) -> str | None:
    """Check that the server answers at all: a description of the problem, or None."""
    import openai

    raw = openai.OpenAI(
        base_url=ep.base_url,
        api_key=ep.api_key or "no-key",
        max_retries=0,
        timeout=min(ep.timeout, 15.0),
    )
    try:
        raw.models.list()
    except openai.APIConnectionError as exc:
        return f"could not reach {ep.base_url} ({exc})"
    except openai.AuthenticationError:
        return "the server refused the API key (HTTP 401); name its variable with --api-key-env"
    except openai.APIStatusError:
        pass  # some servers have no /models; the checks themselves will tell
    finally:
        raw.close()
    return None


def run_real(
    ep: Endpoint, out: TextIO, run_checks: Callable[[Callable[[str], Result]], list[bool]]
) -> list[bool] | None:
    """Run the demo's checks against the server at ``ep``, writing what happened to ``out``.

    ``run_checks`` is the demo's loop over its checks: it calls the function it is given
    with each check's name (a key of `REAL_CHECKS`) and returns which of them held.
    Returns None, having said why on ``out``, when the server cannot be reached.
    """
    problem = preflight(ep)
    if problem:
        out.write(f"cannot run the demo: {problem}\n")
        return None
    session = Session.open(ep)
    with session.client:
        _describe(session, out)
        return run_checks(lambda name: REAL_CHECKS[name](session))


def _describe(session: Session, out: TextIO) -> None:
    """Probe the server and say what it is."""
    info = session.client.probe()
    budget = {True: "yes", False: "no", None: "unknown"}[info.native_budget]
    out.write(
        f"server: {info.label} (dialect {info.dialect!r}, native thinking budget: {budget})\n"
        "a real model: what follows is what it did, not a script\n"
    )


def real_budget(session: Session) -> Result:
    """Ask capped at 4x the budget with no budget, then again with the budget."""
    import terse

    ep, client, r = session.endpoint, session.client, Result()
    cap = 4 * ep.budget
    try:
        free = client.ask(BUDGET_PROMPT, thinking_budget=None, max_tokens=cap, max_retries=0)
        r.say(
            f"no budget, max_tokens={cap}: thought {free.usage.reasoning_tokens} tokens, "
            f"then answered {_quote(free.text)}"
        )
    except terse.ThinkingTruncated as exc:
        thought = session.attempts[-1].usage.reasoning_tokens if session.attempts else 0
        ended = "max_tokens cut it" if exc.finish_reason == "length" else "it stopped"
        r.say(
            f"no budget, max_tokens={cap}: thought {thought} tokens until {ended}, "
            "still thinking: no answer (ThinkingTruncated)"
        )
    except terse.TerseError as exc:
        r.say(f"no budget, max_tokens={cap}: {type(exc).__name__}: {short(str(exc))}")
    try:
        answer = client.ask(BUDGET_PROMPT)
    except terse.TerseError as exc:
        r.require(False, f"with thinking_budget={ep.budget}: {type(exc).__name__}: {exc}")
        return r
    report = answer.budget
    hit = report is not None and report.hit
    thought = report.reasoning_tokens if report is not None and hit else 0
    thought = thought or answer.attempts[-1].usage.reasoning_tokens
    allowance = max(8, ep.budget // 20)  # tokens already in flight when a client cut lands
    how = "the model stopped thinking before the budget"
    if report is not None and hit:
        how = "the server's own budget closed the thinking"
        if report.strategy != "native":
            how = f"terse cut the thinking and the model concluded ({report.method})"
    r.say(f"thinking_budget={ep.budget}: thought {thought} tokens; {how}")
    r.say(
        f"  -> answer {_quote(answer.text)} ({plural(len(answer.attempts), 'request')}, "
        f"{answer.usage.total_tokens} tokens in all)"
    )
    r.require(
        thought <= ep.budget + allowance,
        f"{thought} reasoning tokens is more than the budget plus {allowance} in flight",
    )
    r.require(bool(answer.text.strip()), "no answer after the budget")
    return r


def leak(answer: terse.Answer[Any]) -> str | None:
    """Evidence of reasoning inside the answer text, or None when it is clean."""
    from .._wire.formats import FORMATS

    for fmt in FORMATS:
        if fmt.word_delimiters:
            continue  # plain words such as "analysis" prove nothing in prose
        for tag in (*fmt.opens, *fmt.closes):
            if tag in answer.text:
                return f"the answer contains {tag!r}"
    lines = [line.strip() for line in answer.reasoning.splitlines() if len(line.strip()) >= 24]
    for line in lines:
        if line in answer.text:
            return f"the answer repeats the reasoning line {_quote(line)}"
    return None


def real_strip(session: Session) -> Result:
    """Ask and stream one short question; neither answer may hold reasoning."""
    import terse

    client, r = session.client, Result()
    for mode in ("ask", "stream"):
        try:
            if mode == "ask":
                answer = client.ask(CAPITAL_PROMPT)
            else:
                with client.stream(CAPITAL_PROMPT) as stream:
                    answer = stream.get_answer()
        except terse.TerseError as exc:
            r.require(False, f"{mode}: {type(exc).__name__}: {exc}")
            continue
        kept = f"{len(answer.reasoning):,} chars of reasoning kept apart"
        if not answer.reasoning:
            kept = "the server sent no reasoning for this prompt"
        r.say(f"{mode + '()':9s} dialect {answer.dialect}: answer {_quote(answer.text)}; {kept}")
        problem = leak(answer)
        r.require(problem is None, f"{mode}: {problem}")
        r.require(bool(answer.text.strip()), f"{mode}: empty answer")
    return r


def real_extract(session: Session) -> Result:
    """Ask for a City; the value must come from the answer (never salvaged from reasoning)."""
    import terse

    city = city_model()
    r = Result()
    try:
        answer = session.client.ask(CITY_PROMPT, response_model=city, max_retries=2)
    except terse.TerseError as exc:
        r.require(False, f"no valid City: {type(exc).__name__}: {short(str(exc), 120)}")
        return r
    draft = first_json(answer.reasoning)
    r.say("JSON draft in the reasoning: " + ("none" if draft is None else json.dumps(draft)))
    r.say(f"ask(..., response_model=City).value: {answer.value!r}")
    r.say(f"  ({plural(len(answer.attempts), 'request')}, {answer.usage.total_tokens} tokens)")
    r.require(not answer.salvaged, "the value was salvaged from the reasoning")
    return r


def real_retry(session: Session) -> Result:
    """Ask for an int with two retries allowed; report every attempt and what it cost."""
    import terse

    r = Result()
    try:
        answer = session.client.ask(MOONS_PROMPT, response_model=int, max_retries=2)
    except terse.RetriesExhausted as exc:
        for a in exc.attempts:
            r.say(attempt_line(a))
        r.require(False, f"no valid int in {plural(len(exc.attempts), 'request')} ({exc.reason})")
        return r
    except terse.TerseError as exc:
        r.require(False, f"{type(exc).__name__}: {exc}")
        return r
    for a in answer.attempts:
        r.say(attempt_line(a))
    retried = sum(a.purpose in ("reask", "retry") for a in answer.attempts)
    note = "no retry was needed" if retried == 0 else plural(retried, "retry")
    r.say(f"value {answer.value!r}; {note}; {answer.usage.total_tokens} tokens in all")
    r.require(usage_is_accounted(answer), "usage does not sum the attempts")
    return r


REAL_CHECKS: dict[str, Callable[[Session], Result]] = {
    "budget": real_budget,
    "strip": real_strip,
    "extract": real_extract,
    "retry": real_retry,
}
"""The real-server version of each check in `terse._cli.demo.CHECKS`, by name."""
