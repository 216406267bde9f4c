"""``terse demo``: every guarantee shown on the simulator; honest reports on a "real" server."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

import terse
from terse._cli.demo import (
    BUDGET_PROMPT,
    CAPITAL_PROMPT,
    MOONS_PROMPT,
    Endpoint,
    first_json,
    run_demo,
)
from terse._cli.demo_fake import STRIP_DIALECTS
from terse._cli.demo_real import leak
from terse.testing import FakeServer, Reply, Runaway


def demo(endpoint: Endpoint | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = run_demo(out, endpoint)
    return code, out.getvalue()


def test_the_simulator_demo_shows_every_guarantee_holding() -> None:
    code, text = demo()
    assert code == 0, text
    assert "local simulator" in text
    assert "not a model" in text
    assert "4/4 checks held" in text
    assert text.count("\n   held\n") == 4
    assert "no answer (ThinkingTruncated)" in text  # the runaway without a budget
    assert "the server's own budget closed the thinking" in text  # llama.cpp, native
    assert "terse cut the stream, the model concluded (chat-prefill)" in text  # SGLang
    for dialect in STRIP_DIALECTS:
        assert f"{dialect} " in text
    assert "ZEBRA-7" not in text  # the reasoning marker never reaches a printed answer
    assert 'naive parser (first JSON in output):   {"city": "Lyon"' in text
    assert "City(city='Paris', population=2102650)" in text
    assert "attempt 2  reask    ok" in text


def test_terse_demo_runs_from_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "terse._cli.main", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},  # the report is plain ASCII
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every guarantee held" in done.stdout
    assert done.stderr == ""


@pytest.fixture
def scripted() -> Iterator[FakeServer]:
    """A stand-in for a real server: answers each demo prompt like a well-behaved model."""
    with FakeServer(dialect="llamacpp", tokens_per_second=500) as srv:
        srv.route("prime numbers", Runaway(answer="46"))
        srv.route(CAPITAL_PROMPT, Reply(reasoning="France; its capital is Paris.", answer="Paris"))
        srv.route(
            "population",
            Reply(
                reasoning='Draft: {"city": "Lyon", "population": 1}',
                answer='{"city": "Paris", "population": 2102650}',
            ),
        )
        srv.route("moons", Reply(reasoning="Phobos and Deimos.", answer="2"))
        yield srv


def endpoint(srv: FakeServer, **kw: object) -> Endpoint:
    return Endpoint(base_url=srv.base_url, model="m", timeout=10.0, budget=64, **kw)  # type: ignore[arg-type]


def test_a_real_server_gets_the_same_prompts_and_an_honest_report(scripted: FakeServer) -> None:
    code, text = demo(endpoint(scripted))
    assert code == 0, text
    assert "server: llama.cpp llama-server" in text
    assert "not a script" in text
    assert "thinking_budget=64: thought 64 tokens; the server's own budget" in text
    assert "ask()     dialect llamacpp: answer 'Paris'" in text
    assert "stream()  dialect llamacpp: answer 'Paris'" in text
    assert 'JSON draft in the reasoning: {"city": "Lyon"' in text
    assert "no retry was needed" in text
    prompts = {str(r.body) for r in scripted.requests if r.body}
    for prompt in (BUDGET_PROMPT, CAPITAL_PROMPT, MOONS_PROMPT):
        assert any(prompt in p for p in prompts), prompt
    assert any("population" in p for p in prompts)  # CITY_PROMPT, as JSON in the body


def test_failures_on_a_real_server_are_reported_and_exit_1() -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.route("prime numbers", Runaway(answer="46"))
        srv.route(CAPITAL_PROMPT, Reply(reasoning="Hmm.", answer="Paris"))
        srv.route("population", Reply(reasoning="Hmm.", answer="I do not know."))
        srv.route("moons", Reply(reasoning="Hmm.", answer="Several, I think."))
        code, text = demo(endpoint(srv))
    assert code == 1
    assert "2/4 checks held: 2 did not hold" in text
    assert "FAILED: no valid City" in text
    assert "FAILED: no valid int in 3 requests" in text
    assert text.count("attempt ") >= 3  # every attempt of the failed retry is shown


def test_an_unreachable_server_is_reported_without_running_checks() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the demo connects
    code, text = demo(Endpoint(base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout=5.0))
    assert code == 1
    assert "cannot run the demo: could not reach" in text
    assert "1. " not in text


def test_the_api_key_is_sent_but_never_printed(
    scripted: FakeServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEMO_KEY", "sk-DEMO-SECRET-99")
    from terse._cli.main import main

    code = main(["demo", "--base-url", scripted.base_url, "--model", "m", "--budget", "64"])
    out, err = capsys.readouterr()
    assert code == 0, out
    assert "DEMO-SECRET" not in out + err
    code = main(
        [
            *("demo", "--base-url", scripted.base_url, "--model", "m"),
            *("--api-key-env", "DEMO_KEY", "--budget", "64"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, out
    assert "DEMO-SECRET" not in out + err
    sent = [r.headers.get("authorization", "") for r in scripted.requests]
    assert "Bearer sk-DEMO-SECRET-99" in sent


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--model", "m"], "--base-url and --model go together"),
        (["demo", "--base-url", "http://127.0.0.1:1/v1"], "--base-url and --model go together"),
    ],
)
def test_mismatched_options_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from terse._cli.main import main

    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--budget", "0"], "must be at least 1"),
        (["demo", "--budget", "lots"], "expected a whole number"),
        (["demo", "--timeout", "-1"], "must be a positive number"),
        (["demo", "--timeout", "soon"], "expected a number"),
        (["demo", "--base-url", "localhost:8080", "--model", "m"], "expected a URL such as"),
        (["demo", "--frobnicate"], "unrecognized arguments"),
    ],
)
def test_bad_option_values_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from terse._cli.main import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def _answer(text: str, reasoning: str = "") -> terse.Answer[str]:
    return terse.Answer(
        value=text,
        text=text,
        reasoning=reasoning,
        finish_reason="stop",
        usage=terse.Usage(),
        attempts=(),
        dialect="vllm",
    )


@pytest.mark.parametrize(
    ("text", "reasoning", "clean"),
    [
        ("Paris", "The user wants the capital of France, which is Paris.", True),
        ("Paris", "", True),
        ("</think>\n\nParis", "", False),
        ("<|channel|>final<|message|>Paris", "", False),
        ("[THINK]hm[/THINK]Paris", "", False),
        ("The analysis says Paris", "", True),  # a plain word is not a delimiter
        (
            "I think the capital of France is Paris.",
            "I think the capital of France is Paris.",
            False,
        ),
    ],
)
def test_leak_finds_reasoning_in_an_answer(text: str, reasoning: str, clean: bool) -> None:
    assert (leak(_answer(text, reasoning)) is None) is clean


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('x {"a": 1} y {"b": 2}', {"a": 1}),
        ('{broken {"a": [1, 2]}', {"a": [1, 2]}),
        ("no json here", None),
        ("{ never closed", None),
    ],
)
def test_first_json_is_the_naive_parser(text: str, expected: object) -> None:
    assert first_json(text) == expected
