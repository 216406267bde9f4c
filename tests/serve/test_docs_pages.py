"""The proxy's docs pages say what the proxy does: its options table, and the curl page run.

`tests/test_docs.py` runs every page's Python blocks; this file covers what it cannot:

- the options table of ``docs/guides/serve/index.md`` names every option of ``terse serve``,
  with its default as ``terse serve --help`` has it, and no option the command lacks;
- ``docs/guides/serve/curl.md`` runs as a reader would type it: its ``terse serve`` command
  starts the proxy (on a free port, in front of a scripted `FakeServer`), each of its ``bash``
  blocks runs in ``bash`` with ``curl`` against it, and the output the page shows after a
  block (``…`` for what is left out) is what ``curl`` printed.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from terse._cli import serve as cli_serve
from terse.testing import Call, FakeServer, Reply, Runaway

from ..test_docs import Block, blocks

DOCS = Path(__file__).resolve().parents[2] / "docs" / "guides" / "serve"
PAGE_URL = "http://127.0.0.1:8787"  # where the pages' commands find the proxy

# -- the options table ------------------------------------------------------------------------


def _options() -> list[argparse.Action]:
    parser = argparse.ArgumentParser()
    cli_serve.add_arguments(parser)
    return [a for a in parser._actions if a.option_strings and a.dest != "help"]


def _table_rows(text: str) -> dict[str, tuple[str, str]]:
    """The options table: ``--flag`` -> (its first cell, its default cell)."""
    section = text.split("## Options", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`--"):
            flag = cells[0].strip("`").split()[0]
            rows[flag] = (cells[0].strip("`"), cells[1])
    return rows


def _shown_default(action: argparse.Action) -> str:
    if action.required:
        return "(required)"
    if action.default is None:
        return "none"
    return f"`{action.default}`"


def test_the_options_table_names_every_option_of_terse_serve_with_its_default() -> None:
    rows = _table_rows((DOCS / "index.md").read_text())
    options = _options()
    assert len(options) >= 11
    for action in options:
        [flag] = action.option_strings
        assert flag in rows, f"{flag} is not in the options table of docs/guides/serve/index.md"
        cell, default = rows[flag]
        assert default == _shown_default(action), (flag, default)
        if action.choices:  # the choices are shown as --help shows them
            assert cell == f"{flag} {{{','.join(map(str, action.choices))}}}", cell
        elif action.metavar:
            assert cell == f"{flag} {action.metavar}", cell
    flags = {a.option_strings[0] for a in options}
    assert set(rows) == flags, f"the table names options terse serve lacks: {set(rows) - flags}"


def test_the_table_reader_fails_on_a_missing_or_wrong_row() -> None:
    text = (DOCS / "index.md").read_text()
    rows = _table_rows(text)
    assert rows["--port"] == ("--port PORT", "`8787`")
    assert "--deadline" not in _table_rows(text.replace("| `--deadline SECONDS` |", "| x |"))
    port = next(a for a in _options() if a.dest == "port")
    assert _shown_default(port) != _table_rows(text.replace("`8787`", "`8080`"))["--port"][1]


# -- the curl page ------------------------------------------------------------------------------


def shown_pattern(shown: str) -> re.Pattern[str]:
    """What an output block matches: ``…`` is anything; any whitespace in it is optional."""
    pieces = []
    for part in shown.split("…"):
        words = part.split()
        pieces.append(r"\s*".join(re.escape(w) for w in words))
    return re.compile(r"\s*" + r".*?".join(pieces) + r"\s*", re.DOTALL)


def test_shown_output_matching() -> None:
    shown = '{"id":"chatcmpl-…","content":"42",\n  "n":…}'
    assert shown_pattern(shown).fullmatch('{"id":"chatcmpl-ab12","content":"42","n":7}\n')
    assert not shown_pattern(shown).fullmatch('{"id":"chatcmpl-ab12","content":"43","n":7}')
    assert not shown_pattern("a\n…\nb").fullmatch("a\nx\nc")


def _json(out: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(out)
    return body


def _reasoning_tokens(body: dict[str, Any]) -> int:
    tokens: int = body["usage"]["completion_tokens_details"]["reasoning_tokens"]
    return tokens


def check_health(out: str) -> None:
    assert _json(out) == {"status": "ok"}


def check_question(out: str) -> None:
    body = _json(out)
    message = body["choices"][0]["message"]
    assert message["content"] == "42"
    assert "hmm" in message["reasoning_content"]
    assert 64 <= _reasoning_tokens(body) <= 100  # cut at the request's budget (64), concluded


def check_stream(out: str) -> None:
    data = [line[len("data: ") :] for line in out.splitlines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    kinds = ["answer" if d.get("content") else "reasoning" for d in deltas[1:-1]]
    first_answer = kinds.index("answer")
    assert first_answer > 0  # the reasoning came first
    assert set(kinds[first_answer:]) == {"answer"}  # then only the answer
    assert "".join(d.get("content") or "" for d in deltas) == "42"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert 64 <= _reasoning_tokens(chunks[-1]) <= 100


def check_tool_turn(out: str) -> None:
    body = _json(out)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert "Rome" in choice["message"]["reasoning_content"]  # the rehearsal, as text
    [call] = choice["message"]["tool_calls"]  # the real call, once
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}


def check_tool_result(out: str) -> None:
    body = _json(out)
    assert body["choices"][0]["message"]["content"] == "It is sunny in Paris."
    assert 1024 <= _reasoning_tokens(body) <= 1024 + 64  # the command line's budget held


def check_error(out: str) -> None:
    text, status = out.rstrip("\n").rsplit("\n", 1)
    assert status == "400"
    error = _json(text)["error"]
    assert error["param"] == "messages"
    assert error["type"] == "invalid_request_error"


@dataclass
class Step:
    """One bash block of the page: a text it has, what the simulator says, what curl gets."""

    has: str
    check: Callable[[str], None]
    scripts: list[Reply | Runaway] = field(default_factory=list)


STEPS = [
    Step("/health", check_health),
    Step('"thinking_budget": 64\n  }', check_question, [Runaway(answer="42")]),
    Step('"stream": true', check_stream, [Runaway(answer="42")]),
    Step(
        '"tools"',
        check_tool_turn,
        [
            Reply(
                reasoning="The user wants the weather; I will call the tool.",
                drafts=[Call("get_weather", {"city": "Rome"})],
                tool_calls=[Call("get_weather", {"city": "Paris"})],
            ),
            Runaway(answer="It is sunny in Paris."),
        ],
    ),
    Step('"role": "tool"', check_tool_result),
    Step('"messages": "What is 6 x 7?"', check_error),
]


@pytest.fixture
def page_proxy() -> Iterator[tuple[FakeServer, str, list[Block]]]:
    """The curl page's blocks, and the proxy its first block starts, over a FakeServer."""
    page = blocks((DOCS / "curl.md").read_text())
    start = next(b for b in page if b.lang == "bash" and not b.skipped)
    lines = [ln for ln in start.code.splitlines() if ln.strip()]
    argv = shlex.split(lines[0])
    assert argv[:2] == ["terse", "serve"], "the curl page starts with its terse serve command"
    printed = lines[1].removeprefix("# ")
    with FakeServer(dialect="inline") as up:
        shown_upstream = argv[argv.index("--upstream") + 1]
        argv[argv.index("--upstream") + 1] = up.base_url
        proc = subprocess.Popen(
            [sys.executable, "-m", "terse._cli.main", *argv[1:], "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            base_url = next(w for w in line.split() if w.startswith("http://127.0.0.1:"))
            # the line the page shows, but for the port and the upstream
            shown = printed.replace(PAGE_URL + "/v1", base_url).replace(shown_upstream, up.base_url)
            assert line == shown
            yield up, base_url.removesuffix("/v1"), page
        finally:
            proc.terminate()
            proc.wait(15)
            for pipe in (proc.stdout, proc.stderr):
                if pipe:
                    pipe.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_curl_page_runs_as_shown(page_proxy: tuple[FakeServer, str, list[Block]]) -> None:
    up, url, page = page_proxy
    runnable = [i for i, b in enumerate(page) if b.lang == "bash" and not b.skipped][1:]
    assert len(runnable) == len(STEPS), "each curl block of the page has a step here"
    for step, i in zip(STEPS, runnable, strict=True):
        block = page[i]
        assert step.has in block.code, (block.line, step.has)
        assert PAGE_URL in block.code
        if step.scripts:
            up.push(*step.scripts)
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + block.code.replace(PAGE_URL, url)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (block.line, done.stderr)
        step.check(done.stdout)
        after = page[i + 1] if i + 1 < len(page) else None
        if after is not None and after.lang == "text":
            assert shown_pattern(after.code).fullmatch(done.stdout), (
                f"curl.md:{after.line}: the output shown is not what curl printed:\n"
                + done.stdout[:2000]
            )
    up.wait_idle()
    chats = [q.body for q in up.requests if q.path.endswith("/chat/completions") and q.body]
    assert chats
    assert all("thinking_budget" not in body for body in chats)  # terse's own field
