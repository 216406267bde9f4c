"""Running terse against a real llama-server and accounting for every request it made.

`run` makes one ``terse.Client``/``AsyncClient`` call (``ask`` or ``stream``), records each
HTTP request terse sends (an httpx event hook on the openai client it wraps) and, through
``on_attempt``, what the server generated for each attempt (``/metrics`` once ``/slots`` says
the server is idle). Used by ``test_llama_terse.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import openai

import terse

TIMEOUT = 300.0  # seconds per request: ~10x a busy 2-core host's worst case for these lengths
MODEL = "smollm2"  # llama-server ignores the name; terse needs one


PROBE_RENDER = {"messages": [{"role": "user", "content": "hi"}]}
"""What terse's probe renders through /apply-template to see if the template opens thinking."""


def native(server: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    """GET (or POST ``body`` to) one of llama-server's own endpoints and decode the JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.root_url + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
        return json.loads(resp.read())


def n_tokens(server: Any, text: str) -> int:
    """How many tokens the server's own tokenizer makes of ``text``."""
    return len(native(server, "/tokenize", {"content": text, "add_special": False})["tokens"])


def rendered_prompt(server: Any, messages: list[dict[str, Any]]) -> str:
    prompt: str = native(server, "/apply-template", {"messages": messages})["prompt"]
    return prompt


@dataclass(frozen=True)
class Counters:
    """Server-wide token counters from ``/metrics``."""

    predicted: float
    prompt: float

    @classmethod
    def read(cls, server: Any) -> Counters:
        with urllib.request.urlopen(server.root_url + "/metrics", timeout=TIMEOUT) as resp:
            values = dict(
                line.split()[:2]
                for line in resp.read().decode().splitlines()
                if line.startswith("llamacpp:")
            )
        return cls(
            predicted=float(values["llamacpp:tokens_predicted_total"]),
            prompt=float(values["llamacpp:prompt_tokens_total"])
            + float(values["llamacpp:prompt_tokens_cached_total"]),
        )

    def __sub__(self, other: Counters) -> Counters:
        return Counters(self.predicted - other.predicted, self.prompt - other.prompt)


def wait_idle(server: Any, limit: float = 30.0) -> float:
    """Poll ``/slots`` until no slot is processing; return the seconds it took."""
    start = time.monotonic()
    while any(slot["is_processing"] for slot in native(server, "/slots")):
        if time.monotonic() - start > limit:
            raise AssertionError(f"a slot was still busy after {limit} s")
        time.sleep(0.01)
    return time.monotonic() - start


# --- running terse against a server -----------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One HTTP request terse sent, as it went out."""

    method: str
    path: str
    body: Any


@dataclass(frozen=True)
class Spent:
    """The server's own account of one terse attempt, read as soon as the attempt ended."""

    attempt: terse.Attempt
    tokens: Counters  # what the server generated and read for this attempt
    idle_after: float  # seconds from the attempt's end until the server's slots were free


@dataclass
class Run:
    """Everything one terse call did: its answer, stream events, requests and server costs."""

    answer: terse.Answer[Any]
    events: list[terse.StreamEvent] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    spent: list[Spent] = field(default_factory=list)
    total: Counters = Counters(0, 0)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        """Bodies sent to ``path``, leaving out the probe's one-message template render."""
        return [s.body for s in self.sent if s.path == path and s.body != PROBE_RENDER]

    @property
    def generation_paths(self) -> list[str]:
        """Paths requested, without the probe's requests."""
        probe = ("/props", "/server_info", "/version", "/v1/models")
        return [s.path for s in self.sent if s.path not in probe and s.body != PROBE_RENDER]

    def answer_text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, terse.AnswerDelta))

    def reasoning_text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, terse.ReasoningDelta))


def _record(sent: list[Sent], request: Any) -> None:
    body = json.loads(request.content) if request.content else None
    sent.append(Sent(request.method, request.url.path, body))


def run(
    server: Any, mode: str, prompt: Any, client: dict[str, Any] | None = None, **ask: Any
) -> Run:
    """Make one terse call in ``mode`` (``sync``/``async``, ``-stream`` or not) and account it.

    Each call gets a fresh client (a fresh connection pool), as the first call of a program
    would; ``on_attempt`` waits for the server to go idle and reads its counters, so every
    attempt's true cost is known before the next one starts.
    """
    sent: list[Sent] = []
    spent: list[Spent] = []
    start = last = Counters.read(server)

    def on_attempt(attempt: terse.Attempt) -> None:
        nonlocal last
        idle = wait_idle(server)
        now = Counters.read(server)
        spent.append(Spent(attempt, now - last, idle))
        last = now

    options: dict[str, Any] = {
        "model": MODEL,
        "temperature": 0,
        "timeout": TIMEOUT,
        "on_attempt": on_attempt,
        **(client or {}),
    }
    events: list[terse.StreamEvent] = []

    def sync_call() -> terse.Answer[Any]:
        hooks = {"request": [lambda request: _record(sent, request)]}
        api = openai.OpenAI(
            base_url=server.base_url,
            api_key="sk-local",
            http_client=openai.DefaultHttpxClient(event_hooks=hooks),
        )
        # terse never closes a client it was given (openai's semantics): the caller does.
        with api, terse.Client(api, **options) as tc:
            if not mode.endswith("stream"):
                return tc.ask(prompt, **ask)
            with tc.stream(prompt, **ask) as stream:
                events.extend(stream)
            return stream.get_answer()

    async def async_call() -> terse.Answer[Any]:
        async def record(request: Any) -> None:
            _record(sent, request)

        api = openai.AsyncOpenAI(
            base_url=server.base_url,
            api_key="sk-local",
            http_client=openai.DefaultAsyncHttpxClient(event_hooks={"request": [record]}),
        )
        async with api, terse.AsyncClient(api, **options) as tc:
            if not mode.endswith("stream"):
                return await tc.ask(prompt, **ask)
            async with tc.stream(prompt, **ask) as stream:
                events.extend([e async for e in stream])
            return await stream.get_answer()

    try:
        answer = sync_call() if mode.startswith("sync") else asyncio.run(async_call())
    except Exception as exc:
        if hasattr(exc, "add_note"):  # Python >= 3.11: say what happened on the way
            exc.add_note(_story(sent, spent))
        raise
    wait_idle(server)
    return Run(answer, events, sent, spent, Counters.read(server) - start)


def _story(sent: list[Sent], spent: list[Spent]) -> str:
    """The requests terse sent and the server's count for each attempt, for failure messages."""
    lines = [f"sent {s.method} {s.path} {_brief(s.body)}" for s in sent]
    lines += [
        f"attempt {s.attempt.number} {s.attempt.purpose}/{s.attempt.outcome}: server generated"
        f" {s.tokens.predicted:.0f}, error {s.attempt.error!r}"
        for s in spent
    ]
    return "\n".join(lines)


def _brief(body: Any) -> str:
    if not isinstance(body, dict):
        return repr(body)
    shown = {k: v for k, v in body.items() if k not in ("messages", "prompt")}
    if "prompt" in body:
        shown["prompt"] = "..." + body["prompt"][-80:]
    return json.dumps(shown)


def check_stream(r: Run) -> None:
    """A stream's answer pieces add up to its answer, and its reasoning pieces to its reasoning.

    (No check for ``</think>`` in the answer here: after a forced close SmolLM2 sometimes writes
    one of its own, which the server leaves in ``content``.)
    """
    if not r.events:
        return
    assert isinstance(r.events[-1], terse.Final)
    assert r.answer_text().strip() == r.answer.text
    assert r.reasoning_text() in r.answer.reasoning
