"""The ``terse`` command line: strip, split, serve-fake, --version, --help."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from terse._cli.main import COMMANDS, build_parser, main

RAW = "<think>\nThe user asks for France's capital.\n</think>\n\nParis"


def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_strip_prints_only_the_answer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, capsys, ["strip"], RAW) == (0, "Paris\n", "")


def test_strip_of_unclosed_thinking_says_there_is_no_answer_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(monkeypatch, capsys, ["strip"], "<think>\nstill going")
    assert (code, out) == (1, "")
    assert err == (
        "terse strip: no answer: the reasoning never closed "
        "(the output was cut while the model was thinking)\n"
    )


@pytest.mark.parametrize("text", ["<think>done</think>\n\n", "", "  \n"])
def test_strip_of_an_output_with_nothing_after_its_reasoning_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    code, out, err = run(monkeypatch, capsys, ["strip"], text)
    assert (code, out) == (1, "")
    assert err.startswith("terse strip: no answer: the output is empty")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            RAW,
            {
                "reasoning": "\nThe user asks for France's capital.\n",
                "answer": "Paris",
                "closed": True,
                "format": "think",
            },
        ),
        (
            "Hmm, close-only.</think>\n\nParis",
            {"reasoning": "Hmm, close-only.", "answer": "Paris", "closed": True, "format": "think"},
        ),
        (
            "<think>\nnever closes",
            {"reasoning": "\nnever closes", "answer": "", "closed": False, "format": "think"},
        ),
        (
            "[THINK]Mistral thinks.[/THINK]Paris",
            {
                "reasoning": "Mistral thinks.",
                "answer": "Paris",
                "closed": True,
                "format": "magistral",
            },
        ),
        (
            "just an answer",
            {"reasoning": "", "answer": "just an answer", "closed": True, "format": None},
        ),
    ],
)
def test_split_json_prints_reasoning_answer_closed_and_format(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    expected: dict[str, object],
) -> None:
    code, out, _ = run(monkeypatch, capsys, ["split", "--json"], text)
    assert code == 0
    assert json.loads(out) == expected


def test_split_without_json_labels_both_parts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(monkeypatch, capsys, ["split"], "<think>\nnever closes")
    assert out.startswith("--- reasoning (never closed)\n")
    assert out.endswith("--- answer\n\n")


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("terse ")


@pytest.mark.parametrize("argv", [["--help"], *[[c.name, "--help"] for c in COMMANDS]])
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert "usage: terse" in capsys.readouterr().out


def test_top_level_help_lists_every_command() -> None:
    text = build_parser().format_help()
    assert all(c.name in text and c.help in text for c in COMMANDS)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required"),
        (["frobnicate"], "invalid choice"),
        (["serve-fake"], "--dialect"),
        (["serve-fake", "--dialect", "gpt5"], "invalid choice"),
        (["serve-fake", "--dialect", "vllm", "--port", "x"], "invalid int"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_serve_fake_rejects_a_non_positive_rate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve-fake", "--dialect", "vllm", "--tokens-per-second", "0"]) == 2
    assert "must be positive" in capsys.readouterr().err


def test_module_entry_point_runs_strip() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "terse._cli.main", "strip"],
        input=RAW,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "Paris\n")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery to a child needs POSIX")
def test_serve_fake_serves_until_ctrl_c() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "terse._cli.main",
            "serve-fake",
            "--dialect",
            "llamacpp",
            "--runaway",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the server prints its URL once it listens
        assert "local simulator" in line
        base_url = line.rsplit(" ", 1)[1].strip()
        r = httpx.post(
            base_url + "/chat/completions", json={"messages": [], "max_tokens": 3}, timeout=5
        )
        assert r.json()["choices"][0]["finish_reason"] == "length"
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["probe", "notaurl"], "expected a URL such as http://"),
        (["probe", "ftp://host/v1"], "expected a URL such as http://"),
        (["probe", "http://127.0.0.1:1/v1", "--timeout", "0"], "must be a positive number"),
        (["serve-fake", "--dialect", "vllm", "--port", "99999"], "a port is 0 to 65535"),
        (["demo", "--budget", "-5"], "must be at least 1"),
    ],
)
def test_bad_option_values_name_the_option_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_probe_of_an_unreachable_server_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    assert main(["probe", url, "--timeout", "5"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "could not reach" in err


def test_serve_fake_on_a_taken_port_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert main(["serve-fake", "--dialect", "vllm", "--port", port]) == 1
    assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err


def test_probe_reports_a_fake_llamacpp_server(capsys: pytest.CaptureFixture[str]) -> None:
    from terse.testing import FakeServer

    with FakeServer(dialect="llamacpp") as srv:
        assert main(["probe", srv.base_url, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["dialect"] == "llamacpp"
    assert found["native_thinking_budget"] is True
