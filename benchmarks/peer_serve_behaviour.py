"""What comes back through `terse serve` and through LiteLLM's proxy, same scripted upstream.

Not a speed benchmark: the same `terse.testing.FakeServer` cases, sent through both
proxies, stream and not, and a table of what the client gets:

(a) runaway thinking (reasoning that never closes, 1,000 tokens/s) on a vLLM without a
    native budget, with a thinking budget of 64 tokens asked for in each proxy's own way
    and ``max_tokens`` 2000: does the answer arrive, how many reasoning tokens the
    upstream generated for the call; (a') the same on a vLLM that enforces its native
    ``thinking_token_budget`` (its reasoning config is set);
(b) inline ``<think>…</think>`` in ``content`` (a server without a reasoning parser; and
    the close-only form, whose ``<think>`` the chat template already wrote): does
    ``message.content`` leak the thought;
(c) a tool call rehearsed in the reasoning (a draft, ``Rome``) plus the real inline Hermes
    call (``Paris``), ``tools`` in the request: which calls come back.

LiteLLM is asked through two of its model prefixes: ``openai/`` (any OpenAI-compatible
server) and ``hosted_vllm/`` (its vLLM provider, which maps ``thinking``). Its budget
knobs are tried as a user would: ``reasoning_effort``, ``thinking={"type": "enabled",
"budget_tokens": 64}`` (LiteLLM's unified knob) and terse's own ``thinking_budget``. The
column *upstream got* lists the budget-ish fields that reached the upstream.

Needs LiteLLM in a venv of its own (`_litellm.py`)::

    python benchmarks/peer_serve_behaviour.py --litellm /work/litellm-venv/bin/litellm
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import _litellm
import httpx

from terse.testing import Call, FakeServer, Reply, Runaway

USER = [{"role": "user", "content": "What's the weather in Paris?"}]
SECRET = "ZEBRA-7"  # appears only in the reasoning
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
BUDGET_FIELDS = ("thinking_budget", "thinking", "reasoning_effort", "thinking_token_budget")


@dataclass
class Case:
    name: str
    dialect: str
    script: Reply | Runaway
    body: dict[str, Any] = field(default_factory=dict)  # common to every request
    # each ask: (proxy, label, LiteLLM provider prefix, what it adds to the body)
    asks: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    native: bool = False  # the upstream enforces vLLM's thinking_token_budget


@dataclass
class Outcome:
    status: int
    content: str = ""
    reasoning: str = ""
    calls: list[str] = field(default_factory=list)
    finish: str | None = None
    error: str = ""


def budget_asks() -> list[tuple[str, str, str, dict[str, Any]]]:
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 64}}
    return [
        ("terse", "terse serve", "", {"thinking_budget": 64}),
        ("litellm", "LiteLLM openai/", "openai", {"reasoning_effort": "low"}),
        ("litellm", "LiteLLM openai/", "openai", thinking),
        ("litellm", "LiteLLM openai/", "openai", {"thinking_budget": 64}),
        ("litellm", "LiteLLM openai/", "openai", {"thinking_token_budget": 64}),
        ("litellm", "LiteLLM hosted_vllm/", "hosted_vllm", thinking),
    ]


def plain_asks() -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        ("terse", "terse serve", "", {}),
        ("litellm", "LiteLLM openai/", "openai", {}),
        ("litellm", "LiteLLM hosted_vllm/", "hosted_vllm", {}),
    ]


RUNAWAY = Runaway(answer="42", tokens_per_second=1000)  # a fast server, not an instant one

CASES = [
    Case("(a) runaway, budget 64", "vllm", RUNAWAY, {"max_tokens": 2000}, budget_asks()),
    Case(
        "(a') same, server has a native budget",
        "vllm",
        RUNAWAY,
        {"max_tokens": 2000},
        budget_asks(),
        native=True,
    ),
    Case(
        "(b) inline <think>",
        "inline",
        Reply(reasoning=f"The user asks about Paris. Note: {SECRET}.", answer="Sunny in Paris."),
        {},
        plain_asks(),
    ),
    Case(
        "(b) close-only </think>",
        "inline-close-only",
        Reply(reasoning=f"The user asks about Paris. Note: {SECRET}.", answer="Sunny in Paris."),
        {},
        plain_asks(),
    ),
    Case(
        "(c) draft + inline call",
        "inline",
        Reply(
            reasoning="I need the weather.",
            drafts=[Call("get_weather", {"city": "Rome"})],
            tool_calls=[Call("get_weather", {"city": "Paris"})],
        ),
        {"tools": TOOLS},
        plain_asks(),
    ),
]


# -- the proxies --------------------------------------------------------------------------------


@contextmanager
def terse_serve(upstream: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "terse._cli.main", "serve", "--upstream", upstream),
            *("--port", "0", "--model", "m", "--log-level", "error"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        yield next(w for w in line.split() if w.startswith("http://"))
    finally:
        proc.terminate()
        proc.wait(10)


# -- one request, read as an OpenAI client would ------------------------------------------------


def _call_text(call: dict[str, Any]) -> str:
    fn = call.get("function") or {}
    return f"{fn.get('name')}({fn.get('arguments')})"


def send(url: str, key: str, body: dict[str, Any]) -> Outcome:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(timeout=120) as http:
        if not body.get("stream"):
            r = http.post(f"{url}/chat/completions", json=body, headers=headers)
            data = r.json()
            if r.status_code != 200:
                return Outcome(r.status_code, error=str(data.get("error", data))[:150])
            choice = data["choices"][0]
            msg = choice["message"]
            return Outcome(
                200,
                msg.get("content") or "",
                msg.get("reasoning_content") or msg.get("reasoning") or "",
                [_call_text(c) for c in msg.get("tool_calls") or []],
                choice.get("finish_reason"),
            )
        out = Outcome(0)
        calls: dict[int, dict[str, str]] = {}
        with http.stream("POST", f"{url}/chat/completions", json=body, headers=headers) as r:
            out.status = r.status_code
            if r.status_code != 200:
                out.error = r.read().decode(errors="replace")[:150]
                return out
            for line in r.iter_lines():
                if not line.startswith("data:") or line.strip() == "data: [DONE]":
                    continue
                chunk = json.loads(line[5:])
                if "error" in chunk:
                    out.error = str(chunk["error"])[:150]
                    continue
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    out.content += delta.get("content") or ""
                    out.reasoning += delta.get("reasoning_content") or delta.get("reasoning") or ""
                    for tc in delta.get("tool_calls") or []:
                        slot = calls.setdefault(tc.get("index", 0), {"name": "", "arguments": ""})
                        fn = tc.get("function") or {}
                        slot["name"] += fn.get("name") or ""
                        slot["arguments"] += fn.get("arguments") or ""
                    out.finish = choice.get("finish_reason") or out.finish
        out.calls = [f"{c['name']}({c['arguments']})" for _, c in sorted(calls.items())]
        return out


# -- the table ----------------------------------------------------------------------------------


def name(case: Case) -> str:
    return case.dialect + ("-native" if case.native else "")


def verdict(case: Case, o: Outcome) -> str:
    if o.status != 200:
        return "refused"
    if case.name.startswith("(a"):
        return "answered" if "42" in o.content else "no answer"
    if case.name.startswith("(b)"):
        leaked = SECRET in o.content or "think>" in o.content
        return "LEAKS the thought" if leaked else "clean"
    calls = [c.replace(" ", "") for c in o.calls]
    said = "right call only" if calls == ['get_weather({"city":"Paris"})'] else "wrong calls"
    if not calls:
        said = "no call"
    flags = [
        flag
        for flag, hit in (
            ("call markup", "<tool_call>" in o.content),
            ("draft (Rome)", "Rome" in o.content),
            ("thought", "think>" in o.content),
        )
        if hit
    ]
    return said + (f"; content holds {', '.join(flags)}" if flags else "")


def short(text: str, n: int = 38) -> str:
    text = text.replace("\n", "\\n")
    return repr(text if len(text) <= n else text[: n - 1] + "…")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--litellm", metavar="PATH", default=None, help=f"or ${_litellm.ENV}")
    args = ap.parse_args()
    exe = _litellm.executable(args.litellm)
    if exe is None:
        raise SystemExit(f"needs LiteLLM: --litellm PATH or ${_litellm.ENV} (see _litellm.py)")
    print(f"LiteLLM {_litellm.version(exe)}; terse serve from this checkout\n")
    rows: list[list[str]] = []
    with ExitStack() as stack:
        ups = {  # one upstream per (dialect, native budget), named like 'vllm-native'
            name(c): stack.enter_context(FakeServer(c.dialect, vllm_reasoning_config=c.native))
            for c in CASES
        }
        models: dict[str, tuple[str, str]] = {}
        for u, up in ups.items():  # one model name per (provider prefix, upstream)
            for prefix in ("openai", "hosted_vllm"):
                models[f"{prefix}-{u}"] = (f"{prefix}/m", up.base_url)
        peer = stack.enter_context(_litellm.start(exe, models))
        terse_urls = {u: stack.enter_context(terse_serve(up.base_url)) for u, up in ups.items()}
        for case in CASES:
            up = ups[name(case)]
            for kind, label, prefix, extra in case.asks:
                for stream in (False, True):
                    before = len(up.requests)
                    up.default = case.script
                    body: dict[str, Any] = {"messages": USER, **case.body, **extra}
                    if stream:
                        body |= {"stream": True, "stream_options": {"include_usage": True}}
                    if kind == "terse":
                        body["model"] = "m"
                        o = send(terse_urls[name(case)], "x", body)
                    else:
                        body["model"] = f"{prefix}-{name(case)}"
                        o = send(peer.url, peer.key, body)
                    up.wait_idle(10)
                    seen = [q for q in up.requests[before:] if q.path.endswith("/chat/completions")]
                    got = sorted({k for q in seen for k in (q.body or {}) if k in BUDGET_FIELDS})
                    asked = ", ".join(f"{k}={json.dumps(v)}" for k, v in extra.items()) or "-"
                    rows.append(
                        [
                            case.name,
                            label,
                            "stream" if stream else "whole",
                            asked,
                            str(o.status),
                            str(o.finish),
                            short(o.content),
                            " ".join(o.calls) or "-",
                            f"{len(o.reasoning)} chars" if o.reasoning else "-",
                            str(sum(q.reasoning_tokens for q in seen)),
                            ", ".join(got) or "-",
                            verdict(case, o),
                        ]
                    )
                    if o.error:
                        rows[-1][6] = "error: " + short(o.error, 60)
    head = [
        "case",
        "proxy",
        "mode",
        "asked",
        "status",
        "finish",
        "message.content",
        "tool_calls",
        "reasoning back",
        "reasoning tokens upstream",
        "upstream got",
        "verdict",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")


if __name__ == "__main__":
    main()
